//! Float native histogram chunks (encoding 3).
//!
//! Same header and layout as the integer chunks ([`crate::histogram_meta`]); per sample:
//!
//! | field | first sample | second and later samples |
//! |---|---|---|
//! | timestamp | varbit int | delta of delta, varbit int |
//! | count | 64 raw bits | Gorilla XOR |
//! | zero count | 64 raw bits | Gorilla XOR |
//! | sum | 64 raw bits | Gorilla XOR |
//! | each positive bucket (absolute) | 64 raw bits | Gorilla XOR, own window per bucket |
//! | each negative bucket (absolute) | 64 raw bits | Gorilla XOR, own window per bucket |
//!
//! A stale marker (sum = staleness NaN) stores no buckets.

use std::borrow::Cow;

use crate::bstream::{BitReader, BitWriter};
use crate::error::ChunkError;
use crate::histogram::{AppendOutcome, Appendability, GaugeAppendability};
use crate::histogram_meta::{
    adjust_for_inserts, count_spans, counter_reset_hint, custom_bounds_match,
    expand_spans_and_buckets, expand_spans_both_ways, insert_buckets, is_stale_nan, read_header,
    read_layout, write_layout, xor_read, ChunkLayout, CounterResetHeader, Insert, XorField,
    COUNTER_RESET_HEADER_MASK, FLAGS_POS, HISTOGRAM_HEADER_SIZE, NO_WINDOW,
};
use crate::model::{CounterResetHint, FloatHistogram, Span, CUSTOM_BUCKETS_SCHEMA};
use crate::varbit::{put_varbit_int, read_varbit_int};

/// Iterates over the samples of a float histogram chunk, allocation-free after the first
/// sample.
///
/// ```
/// use chunkenc::float_histogram::{FloatHistogramAppender, FloatHistogramIterator};
/// use chunkenc::{FloatHistogram, Span};
///
/// let mut app = FloatHistogramAppender::new();
/// let h = FloatHistogram {
///     count: 2.5,
///     sum: 4.5,
///     positive_spans: vec![Span { offset: 0, length: 2 }],
///     positive_buckets: vec![1.0, 1.5],
///     ..Default::default()
/// };
/// app.append_float_histogram(None, 1000, &h, false).unwrap();
/// let mut it = FloatHistogramIterator::new(app.bytes()).unwrap();
/// assert!(it.next().unwrap());
/// assert_eq!(it.at_float_histogram().1.positive_buckets, vec![1.0, 1.5]);
/// ```
#[derive(Debug, Clone)]
pub struct FloatHistogramIterator<'a> {
    reader: BitReader<'a>,
    num_total: u16,
    num_read: u16,
    header: CounterResetHeader,
    error: Option<ChunkError>,
    t: i64,
    t_delta: i64,
    cnt: XorField,
    zcnt: XorField,
    sum: XorField,
    /// XOR windows of the buckets; their values live in `h`.
    p_leading: Vec<u8>,
    p_trailing: Vec<u8>,
    n_leading: Vec<u8>,
    n_trailing: Vec<u8>,
    h: FloatHistogram,
    stale: FloatHistogram,
}

impl<'a> FloatHistogramIterator<'a> {
    /// An iterator over `chunk`, the chunk's data (header included, encoding byte excluded).
    pub fn new(chunk: &'a [u8]) -> Result<Self, ChunkError> {
        let (num_total, header) = read_header(chunk)?;
        Ok(FloatHistogramIterator {
            reader: BitReader::new(&chunk[HISTOGRAM_HEADER_SIZE..]),
            num_total,
            num_read: 0,
            header,
            error: None,
            t: i64::MIN,
            t_delta: 0,
            cnt: XorField::new(0.0),
            zcnt: XorField::new(0.0),
            sum: XorField::new(0.0),
            p_leading: Vec::new(),
            p_trailing: Vec::new(),
            n_leading: Vec::new(),
            n_trailing: Vec::new(),
            h: FloatHistogram::default(),
            stale: FloatHistogram::default(),
        })
    }

    /// Restarts on another chunk, keeping the buffers.
    pub fn reset(&mut self, chunk: &'a [u8]) -> Result<(), ChunkError> {
        let (num_total, header) = read_header(chunk)?;
        self.reader = BitReader::new(&chunk[HISTOGRAM_HEADER_SIZE..]);
        self.num_total = num_total;
        self.num_read = 0;
        self.header = header;
        self.error = None;
        self.t = i64::MIN;
        self.t_delta = 0;
        Ok(())
    }

    /// Number of samples the chunk header announces.
    pub fn num_samples(&self) -> usize {
        self.num_total as usize
    }

    /// The chunk's counter-reset header.
    pub fn counter_reset_header(&self) -> CounterResetHeader {
        self.header
    }

    /// Advances to the next sample. `Ok(false)` at the end of the chunk; an error if the chunk
    /// is corrupt (and again on every later call). Not `Iterator::next`: decoding can fail,
    /// and the sample is lent out by reference.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<bool, ChunkError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.num_read == self.num_total {
            return Ok(false);
        }
        let res = if self.num_read == 0 {
            self.read_first()
        } else {
            self.read_next()
        };
        match res {
            Ok(()) => {
                self.num_read += 1;
                self.h.counter_reset_hint = counter_reset_hint(self.header, self.num_read);
                Ok(true)
            }
            Err(e) => {
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Advances to the first sample at or after `t` (staying put if the current one
    /// qualifies). `Ok(false)` if there is none.
    pub fn seek(&mut self, t: i64) -> Result<bool, ChunkError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        while self.num_read == 0 || t > self.t {
            if !self.next()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Timestamp of the current sample.
    #[inline]
    pub fn at_t(&self) -> i64 {
        self.t
    }

    /// The current sample. A stale marker is a histogram whose only set field is the sum.
    #[inline]
    pub fn at_float_histogram(&self) -> (i64, &FloatHistogram) {
        if is_stale_nan(self.sum.value) {
            (self.t, &self.stale)
        } else {
            (self.t, &self.h)
        }
    }

    fn read_first(&mut self) -> Result<(), ChunkError> {
        let mut layout = ChunkLayout {
            positive_spans: std::mem::take(&mut self.h.positive_spans),
            negative_spans: std::mem::take(&mut self.h.negative_spans),
            custom_values: std::mem::take(&mut self.h.custom_values),
            ..ChunkLayout::default()
        };
        let res = read_layout(&mut self.reader, &mut layout);
        self.h.schema = layout.schema;
        self.h.zero_threshold = layout.zero_threshold;
        self.h.positive_spans = layout.positive_spans;
        self.h.negative_spans = layout.negative_spans;
        self.h.custom_values = layout.custom_values;
        res?;
        let np = count_spans(&self.h.positive_spans);
        let nn = count_spans(&self.h.negative_spans);
        // Every bucket of the first sample takes 64 bits.
        if np.saturating_add(nn) > self.reader.remaining() / 64 {
            return Err(ChunkError::Corrupt("bucket count exceeds chunk size"));
        }
        let r = &mut self.reader;
        self.t = read_varbit_int(r)?;
        self.cnt = XorField::new(f64::from_bits(r.read_bits(64)?));
        self.zcnt = XorField::new(f64::from_bits(r.read_bits(64)?));
        self.sum = XorField::new(f64::from_bits(r.read_bits(64)?));
        read_raw_floats(r, &mut self.h.positive_buckets, np)?;
        read_raw_floats(r, &mut self.h.negative_buckets, nn)?;
        for (v, n) in [(&mut self.p_leading, np), (&mut self.n_leading, nn)] {
            v.clear();
            v.resize(n, NO_WINDOW);
        }
        for (v, n) in [(&mut self.p_trailing, np), (&mut self.n_trailing, nn)] {
            v.clear();
            v.resize(n, 0);
        }
        self.t_delta = 0;
        self.publish_counts();
        Ok(())
    }

    fn read_next(&mut self) -> Result<(), ChunkError> {
        let r = &mut self.reader;
        self.t_delta = self.t_delta.wrapping_add(read_varbit_int(r)?);
        self.t = self.t.wrapping_add(self.t_delta);
        self.cnt.read(r)?;
        self.zcnt.read(r)?;
        self.sum.read(r)?;
        self.h.count = self.cnt.value;
        self.h.zero_count = self.zcnt.value;
        self.h.sum = self.sum.value;
        self.stale.sum = self.sum.value;
        if is_stale_nan(self.sum.value) {
            return Ok(());
        }
        read_xor_buckets(
            r,
            &mut self.h.positive_buckets,
            &mut self.p_leading,
            &mut self.p_trailing,
        )?;
        read_xor_buckets(
            r,
            &mut self.h.negative_buckets,
            &mut self.n_leading,
            &mut self.n_trailing,
        )?;
        Ok(())
    }

    fn publish_counts(&mut self) {
        self.h.count = self.cnt.value;
        self.h.zero_count = self.zcnt.value;
        self.h.sum = self.sum.value;
        self.stale.sum = self.sum.value;
    }
}

fn read_raw_floats(r: &mut BitReader<'_>, out: &mut Vec<f64>, n: usize) -> Result<(), ChunkError> {
    out.clear();
    for _ in 0..n {
        out.push(f64::from_bits(r.read_bits(64)?));
    }
    Ok(())
}

#[inline]
fn read_xor_buckets(
    r: &mut BitReader<'_>,
    values: &mut [f64],
    leading: &mut [u8],
    trailing: &mut [u8],
) -> Result<(), ChunkError> {
    for ((v, l), t) in values
        .iter_mut()
        .zip(leading.iter_mut())
        .zip(trailing.iter_mut())
    {
        xor_read(r, v, l, t)?;
    }
    Ok(())
}

/// Appends float histograms to a chunk, cutting or recoding as Prometheus' head does.
#[derive(Debug, Clone)]
pub struct FloatHistogramAppender {
    w: BitWriter,
    schema: i32,
    zero_threshold: f64,
    p_spans: Vec<Span>,
    n_spans: Vec<Span>,
    custom_values: Vec<f64>,
    t: i64,
    t_delta: i64,
    cnt: XorField,
    zcnt: XorField,
    sum: XorField,
    p_buckets: Vec<XorField>,
    n_buckets: Vec<XorField>,
}

impl Default for FloatHistogramAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl FloatHistogramAppender {
    /// An appender on a new, empty chunk.
    pub fn new() -> Self {
        let mut w = BitWriter::with_capacity(128);
        w.write_bits(0, 24);
        FloatHistogramAppender {
            w,
            schema: 0,
            zero_threshold: 0.0,
            p_spans: Vec::new(),
            n_spans: Vec::new(),
            custom_values: Vec::new(),
            t: i64::MIN,
            t_delta: 0,
            cnt: XorField::new(0.0),
            zcnt: XorField::new(0.0),
            sum: XorField::new(0.0),
            p_buckets: Vec::new(),
            n_buckets: Vec::new(),
        }
    }

    /// An appender that continues the chunk `chunk` (its data, header included), exactly as
    /// if its samples had been appended by this appender.
    pub fn from_bytes(mut chunk: Vec<u8>) -> Result<Self, ChunkError> {
        let mut app = FloatHistogramAppender::new();
        let (num, _) = read_header(&chunk)?;
        if num == 0 {
            chunk.truncate(HISTOGRAM_HEADER_SIZE);
            app.w = BitWriter::resume(chunk, HISTOGRAM_HEADER_SIZE * 8);
            return Ok(app);
        }
        let mut it = FloatHistogramIterator::new(&chunk)?;
        while it.next()? {}
        let bit_len = HISTOGRAM_HEADER_SIZE * 8 + it.reader.position();
        let h = std::mem::take(&mut it.h);
        app.schema = h.schema;
        app.zero_threshold = h.zero_threshold;
        app.t = it.t;
        app.t_delta = it.t_delta;
        app.cnt = it.cnt;
        app.zcnt = it.zcnt;
        app.sum = it.sum;
        app.p_buckets = zip_fields(&h.positive_buckets, &it.p_leading, &it.p_trailing);
        app.n_buckets = zip_fields(&h.negative_buckets, &it.n_leading, &it.n_trailing);
        app.p_spans = h.positive_spans;
        app.n_spans = h.negative_spans;
        app.custom_values = h.custom_values;
        drop(it);
        app.w = BitWriter::resume(chunk, bit_len);
        Ok(app)
    }

    /// The chunk data written so far (header included).
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// Gives up the chunk data.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// Number of samples in the chunk.
    #[inline]
    pub fn num_samples(&self) -> usize {
        self.header_count() as usize
    }

    #[inline]
    fn header_count(&self) -> u16 {
        let b = self.w.bytes();
        u16::from_be_bytes([b[0], b[1]])
    }

    fn set_num_samples(&mut self, n: u16) {
        self.w.bytes_mut()[..2].copy_from_slice(&n.to_be_bytes());
    }

    /// The chunk's counter-reset header.
    pub fn counter_reset_header(&self) -> CounterResetHeader {
        CounterResetHeader::from_flags(self.w.bytes()[FLAGS_POS])
    }

    /// Sets the chunk's counter-reset header.
    pub fn set_counter_reset_header(&mut self, header: CounterResetHeader) {
        let b = &mut self.w.bytes_mut()[FLAGS_POS];
        *b = (*b & !COUNTER_RESET_HEADER_MASK) | header as u8;
    }

    /// Timestamp of the last sample appended (`i64::MIN` for an empty chunk).
    pub fn last_timestamp(&self) -> i64 {
        self.t
    }

    /// Decides whether a counter (non-gauge) float histogram fits this chunk, by the same
    /// rules as [`crate::histogram::HistogramAppender::appendable`]. `counter_reset` is
    /// `CounterReset` when a counter reset was detected and `Unknown` otherwise (Prometheus
    /// keeps only a flag for float histograms).
    pub fn appendable(&self, h: &FloatHistogram) -> Appendability {
        let mut a = Appendability::default();
        let reset = |mut a: Appendability| {
            a.counter_reset = CounterResetHeader::CounterReset;
            a
        };
        if self.num_samples() > 0 && self.counter_reset_header() == CounterResetHeader::Gauge {
            return a;
        }
        if h.counter_reset_hint == CounterResetHint::CounterReset {
            return reset(a);
        }
        if is_stale_nan(h.sum) {
            a.ok = true;
            return a;
        }
        if is_stale_nan(self.sum.value) {
            return a;
        }
        if h.count < self.cnt.value {
            return reset(a);
        }
        if h.schema != self.schema || h.zero_threshold != self.zero_threshold {
            return a;
        }
        if h.schema == CUSTOM_BUCKETS_SCHEMA
            && !custom_bounds_match(&h.custom_values, &self.custom_values)
        {
            return reset(a);
        }
        if h.zero_count < self.zcnt.value {
            return reset(a);
        }
        let Some((pf, pb)) = expand_spans_and_buckets(
            &self.p_spans,
            &h.positive_spans,
            self.p_buckets.iter().map(|b| b.value),
            h.positive_buckets.iter().copied(),
        ) else {
            return reset(a);
        };
        let Some((nf, nb)) = expand_spans_and_buckets(
            &self.n_spans,
            &h.negative_spans,
            self.n_buckets.iter().map(|b| b.value),
            h.negative_buckets.iter().copied(),
        ) else {
            return reset(a);
        };
        a.positive_inserts = pf;
        a.backward_positive_inserts = pb;
        a.negative_inserts = nf;
        a.backward_negative_inserts = nb;
        a.ok = true;
        a
    }

    /// Decides whether a gauge float histogram fits this chunk, by the same rules as
    /// [`crate::histogram::HistogramAppender::appendable_gauge`].
    pub fn appendable_gauge(&self, h: &FloatHistogram) -> GaugeAppendability {
        let mut g = GaugeAppendability::default();
        if self.num_samples() > 0 && self.counter_reset_header() != CounterResetHeader::Gauge {
            return g;
        }
        if is_stale_nan(h.sum) {
            g.ok = true;
            return g;
        }
        if is_stale_nan(self.sum.value)
            || h.schema != self.schema
            || h.zero_threshold != self.zero_threshold
            || (h.schema == CUSTOM_BUCKETS_SCHEMA
                && !custom_bounds_match(&h.custom_values, &self.custom_values))
        {
            return g;
        }
        (
            g.positive_inserts,
            g.backward_positive_inserts,
            g.positive_spans,
        ) = expand_spans_both_ways(&self.p_spans, &h.positive_spans);
        (
            g.negative_inserts,
            g.backward_negative_inserts,
            g.negative_spans,
        ) = expand_spans_both_ways(&self.n_spans, &h.negative_spans);
        g.ok = true;
        g
    }

    /// Appends `h` at `t`, following Prometheus' rules (see
    /// [`crate::histogram::HistogramAppender::append_histogram`]). For float histograms a
    /// chunk cut for a reason other than a counter reset gets the `Unknown` header, and the
    /// first sample after `prev` gets `CounterReset` or `NotCounterReset`.
    pub fn append_float_histogram(
        &mut self,
        prev: Option<&FloatHistogramAppender>,
        t: i64,
        h: &FloatHistogram,
        append_only: bool,
    ) -> Result<AppendOutcome<FloatHistogramAppender>, ChunkError> {
        validate(h)?;
        let num = self.header_count();
        if num == u16::MAX {
            return Err(ChunkError::Full(num as usize));
        }
        if num == 0 {
            self.append_raw(t, h);
            if h.counter_reset_hint == CounterResetHint::Gauge {
                self.set_counter_reset_header(CounterResetHeader::Gauge);
            } else if h.counter_reset_hint == CounterResetHint::CounterReset {
                self.set_counter_reset_header(CounterResetHeader::CounterReset);
            } else if let Some(p) = prev {
                let header = if p.appendable(h).counter_reset == CounterResetHeader::CounterReset {
                    CounterResetHeader::CounterReset
                } else {
                    CounterResetHeader::NotCounterReset
                };
                self.set_counter_reset_header(header);
            }
            return Ok(AppendOutcome::Appended);
        }

        if h.counter_reset_hint != CounterResetHint::Gauge {
            let a = self.appendable(h);
            let counter_reset = a.counter_reset == CounterResetHeader::CounterReset;
            if !a.ok || counter_reset {
                if append_only {
                    return Err(ChunkError::NotAppendable(if counter_reset {
                        "float histogram counter reset"
                    } else {
                        "float histogram schema change"
                    }));
                }
                return Ok(self.cut(t, h, a.counter_reset));
            }
            let mut h = Cow::Borrowed(h);
            if !a.backward_positive_inserts.is_empty() || !a.backward_negative_inserts.is_empty() {
                let hm = h.to_mut();
                if a.positive_inserts.is_empty() && a.negative_inserts.is_empty() {
                    hm.positive_spans = self.p_spans.clone();
                    hm.negative_spans = self.n_spans.clone();
                } else {
                    hm.positive_spans =
                        adjust_for_inserts(&hm.positive_spans, &a.backward_positive_inserts);
                    hm.negative_spans =
                        adjust_for_inserts(&hm.negative_spans, &a.backward_negative_inserts);
                }
                expand_histogram(
                    hm,
                    &a.backward_positive_inserts,
                    &a.backward_negative_inserts,
                );
            }
            if !a.positive_inserts.is_empty() || !a.negative_inserts.is_empty() {
                if append_only {
                    return Err(ChunkError::NotAppendable("float histogram layout change"));
                }
                self.recode(
                    &a.positive_inserts,
                    &a.negative_inserts,
                    &h.positive_spans,
                    &h.negative_spans,
                )?;
                self.append_raw(t, &h);
                return Ok(AppendOutcome::Recoded);
            }
            self.append_raw(t, &h);
            return Ok(AppendOutcome::Appended);
        }

        let g = self.appendable_gauge(h);
        if !g.ok {
            if append_only {
                return Err(ChunkError::NotAppendable(
                    "float gauge histogram schema change",
                ));
            }
            return Ok(self.cut(t, h, CounterResetHeader::Gauge));
        }
        let mut h = Cow::Borrowed(h);
        if !g.backward_positive_inserts.is_empty() || !g.backward_negative_inserts.is_empty() {
            if append_only {
                return Err(ChunkError::NotAppendable(
                    "float gauge histogram layout change",
                ));
            }
            let hm = h.to_mut();
            hm.positive_spans = g.positive_spans;
            hm.negative_spans = g.negative_spans;
            expand_histogram(
                hm,
                &g.backward_positive_inserts,
                &g.backward_negative_inserts,
            );
        }
        if !g.positive_inserts.is_empty() || !g.negative_inserts.is_empty() {
            if append_only {
                return Err(ChunkError::NotAppendable(
                    "float gauge histogram layout change",
                ));
            }
            self.recode(
                &g.positive_inserts,
                &g.negative_inserts,
                &h.positive_spans,
                &h.negative_spans,
            )?;
            self.append_raw(t, &h);
            return Ok(AppendOutcome::Recoded);
        }
        self.append_raw(t, &h);
        Ok(AppendOutcome::Appended)
    }

    fn cut(
        &self,
        t: i64,
        h: &FloatHistogram,
        header: CounterResetHeader,
    ) -> AppendOutcome<FloatHistogramAppender> {
        let mut next = FloatHistogramAppender::new();
        next.set_counter_reset_header(header);
        next.append_raw(t, h);
        AppendOutcome::NewChunk(Box::new(next))
    }

    /// Re-encodes the chunk with empty buckets added per the inserts under the new spans;
    /// keeps the counter-reset header.
    fn recode(
        &mut self,
        p_inserts: &[Insert],
        n_inserts: &[Insert],
        p_spans: &[Span],
        n_spans: &[Span],
    ) -> Result<(), ChunkError> {
        // Decode from our own bytes (left intact if that fails) into a fresh appender.
        let mut fresh = FloatHistogramAppender::new();
        let mut it = FloatHistogramIterator::new(self.w.bytes())?;
        let mut scratch = FloatHistogram::default();
        while it.next()? {
            let (t, h) = it.at_float_histogram();
            scratch.clone_from(h);
            scratch.positive_spans.clear();
            scratch.positive_spans.extend_from_slice(p_spans);
            scratch.negative_spans.clear();
            scratch.negative_spans.extend_from_slice(n_spans);
            if !p_inserts.is_empty() {
                insert_buckets(
                    &h.positive_buckets,
                    &mut scratch.positive_buckets,
                    p_inserts,
                    false,
                );
            }
            if !n_inserts.is_empty() {
                insert_buckets(
                    &h.negative_buckets,
                    &mut scratch.negative_buckets,
                    n_inserts,
                    false,
                );
            }
            fresh.append_raw(t, &scratch);
        }
        fresh.set_counter_reset_header(self.counter_reset_header());
        *self = fresh;
        Ok(())
    }

    /// Encodes one sample, without any appendability checks.
    fn append_raw(&mut self, t: i64, h: &FloatHistogram) {
        let num = self.header_count();
        let stale = is_stale_nan(h.sum);
        let (count, zero_count, pos, neg): (f64, f64, &[f64], &[f64]) = if stale {
            (0.0, 0.0, &[], &[])
        } else {
            (
                h.count,
                h.zero_count,
                &h.positive_buckets,
                &h.negative_buckets,
            )
        };
        let w = &mut self.w;
        let mut t_delta = 0i64;
        if num == 0 {
            if stale {
                write_layout(w, 0, 0.0, &[], &[], &[]);
                self.schema = 0;
                self.zero_threshold = 0.0;
                self.p_spans.clear();
                self.n_spans.clear();
                self.custom_values.clear();
            } else {
                write_layout(
                    w,
                    h.schema,
                    h.zero_threshold,
                    &h.positive_spans,
                    &h.negative_spans,
                    &h.custom_values,
                );
                self.schema = h.schema;
                self.zero_threshold = h.zero_threshold;
                fill(&mut self.p_spans, &h.positive_spans);
                fill(&mut self.n_spans, &h.negative_spans);
                fill(&mut self.custom_values, &h.custom_values);
            }
            self.p_buckets.clear();
            self.p_buckets.extend(pos.iter().map(|&v| XorField::new(v)));
            self.n_buckets.clear();
            self.n_buckets.extend(neg.iter().map(|&v| XorField::new(v)));
            put_varbit_int(w, t);
            w.write_bits(count.to_bits(), 64);
            w.write_bits(zero_count.to_bits(), 64);
            w.write_bits(h.sum.to_bits(), 64);
            self.cnt = XorField::new(count);
            self.zcnt = XorField::new(zero_count);
            self.sum = XorField::new(h.sum);
            for &b in pos.iter().chain(neg) {
                w.write_bits(b.to_bits(), 64);
            }
        } else {
            t_delta = t.wrapping_sub(self.t);
            put_varbit_int(w, t_delta.wrapping_sub(self.t_delta));
            self.cnt.write(w, count);
            self.zcnt.write(w, zero_count);
            self.sum.write(w, h.sum);
            for (field, &v) in self.p_buckets.iter_mut().zip(pos) {
                field.write(w, v);
            }
            for (field, &v) in self.n_buckets.iter_mut().zip(neg) {
                field.write(w, v);
            }
        }
        self.t = t;
        self.t_delta = t_delta;
        self.set_num_samples(num + 1);
    }
}

fn fill<T: Copy>(dst: &mut Vec<T>, src: &[T]) {
    dst.clear();
    dst.extend_from_slice(src);
}

fn zip_fields(values: &[f64], leading: &[u8], trailing: &[u8]) -> Vec<XorField> {
    values
        .iter()
        .zip(leading)
        .zip(trailing)
        .map(|((&value, &leading), &trailing)| XorField {
            value,
            leading,
            trailing,
        })
        .collect()
}

fn expand_histogram(h: &mut FloatHistogram, p_inserts: &[Insert], n_inserts: &[Insert]) {
    if !p_inserts.is_empty() {
        let mut out = Vec::with_capacity(count_spans(&h.positive_spans));
        insert_buckets(&h.positive_buckets, &mut out, p_inserts, false);
        h.positive_buckets = out;
    }
    if !n_inserts.is_empty() {
        let mut out = Vec::with_capacity(count_spans(&h.negative_spans));
        insert_buckets(&h.negative_buckets, &mut out, n_inserts, false);
        h.negative_buckets = out;
    }
}

/// Checks that the bucket counts match the spans (Prometheus' caller contract), so that the
/// appender can rely on it. Stale markers carry no buckets that matter.
pub fn validate(h: &FloatHistogram) -> Result<(), ChunkError> {
    if is_stale_nan(h.sum) {
        return Ok(());
    }
    if count_spans(&h.positive_spans) != h.positive_buckets.len() {
        return Err(ChunkError::InvalidHistogram(
            "positive bucket count does not match spans",
        ));
    }
    if count_spans(&h.negative_spans) != h.negative_buckets.len() {
        return Err(ChunkError::InvalidHistogram(
            "negative bucket count does not match spans",
        ));
    }
    Ok(())
}
