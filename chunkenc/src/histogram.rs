//! Integer native histogram chunks (encoding 2).
//!
//! After the 3-byte header and the layout (see [`crate::histogram_meta`]), each sample stores
//! these fields, in this order:
//!
//! | field | first sample | second and later samples |
//! |---|---|---|
//! | timestamp | varbit int | delta of delta, varbit int |
//! | count | varbit uint | delta of delta, varbit int |
//! | zero count | varbit uint | delta of delta, varbit int |
//! | sum | 64 raw bits | Gorilla XOR against the previous sum |
//! | each positive bucket | varbit int | delta of delta, varbit int |
//! | each negative bucket | varbit int | delta of delta, varbit int |
//!
//! Bucket values are themselves the deltas between neighbouring buckets, as in
//! [`Histogram`]. A stale marker (sum = staleness NaN) stores no buckets and zero
//! deltas of deltas. "Delta of delta" for the second sample is simply its delta, since the
//! previous delta starts at zero.

use std::borrow::Cow;

use crate::bstream::{BitReader, BitWriter};
use crate::error::ChunkError;
use crate::histogram_meta::{
    adjust_for_inserts, count_spans, counter_reset_hint, custom_bounds_match,
    expand_spans_and_buckets, expand_spans_both_ways, insert_buckets, is_stale_nan, read_header,
    read_layout, write_layout, ChunkLayout, CounterResetHeader, Insert, XorField,
    COUNTER_RESET_HEADER_MASK, FLAGS_POS, HISTOGRAM_HEADER_SIZE,
};
use crate::model::{CounterResetHint, FloatHistogram, Histogram, Span, CUSTOM_BUCKETS_SCHEMA};
use crate::varbit::{put_varbit_int, put_varbit_uint, read_varbit_int, read_varbit_uint};

/// Iterates over the samples of an integer histogram chunk.
///
/// After the first sample, advancing allocates nothing: the decoded histogram lives in
/// buffers owned by the iterator and is lent out by [`HistogramIterator::at_histogram`].
///
/// ```
/// use chunkenc::histogram::{HistogramAppender, HistogramIterator};
/// use chunkenc::{Histogram, Span};
///
/// let mut app = HistogramAppender::new();
/// let h = Histogram {
///     count: 3,
///     sum: 4.5,
///     positive_spans: vec![Span { offset: 0, length: 2 }],
///     positive_buckets: vec![1, 1],
///     ..Default::default()
/// };
/// app.append_histogram(None, 1000, &h, false).unwrap();
/// let mut it = HistogramIterator::new(app.bytes()).unwrap();
/// assert!(it.next().unwrap());
/// assert_eq!(it.at_histogram().0, 1000);
/// assert_eq!(it.at_histogram().1.positive_buckets, vec![1, 1]);
/// assert!(!it.next().unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct HistogramIterator<'a> {
    pub(crate) reader: BitReader<'a>,
    num_total: u16,
    num_read: u16,
    header: CounterResetHeader,
    error: Option<ChunkError>,

    pub(crate) t: i64,
    pub(crate) t_delta: i64,
    pub(crate) cnt_delta: i64,
    pub(crate) zcnt_delta: i64,
    pub(crate) sum: XorField,
    /// Per-bucket change since the previous sample (the bucket "deltas" whose dods are stored).
    pub(crate) p_deltas: Vec<i64>,
    pub(crate) n_deltas: Vec<i64>,
    /// The current histogram: layout, counts and (delta-coded) buckets.
    pub(crate) h: Histogram,
    /// What is lent out for a stale marker: only the sum is set.
    stale: Histogram,
    /// The current histogram with float counts, built on demand.
    fh: FloatHistogram,
    fh_valid: bool,
}

impl<'a> HistogramIterator<'a> {
    /// An iterator over `chunk`, the chunk's data (header included, encoding byte excluded).
    pub fn new(chunk: &'a [u8]) -> Result<Self, ChunkError> {
        let (num_total, header) = read_header(chunk)?;
        Ok(HistogramIterator {
            reader: BitReader::new(&chunk[HISTOGRAM_HEADER_SIZE..]),
            num_total,
            num_read: 0,
            header,
            error: None,
            t: i64::MIN,
            t_delta: 0,
            cnt_delta: 0,
            zcnt_delta: 0,
            sum: XorField::new(0.0),
            p_deltas: Vec::new(),
            n_deltas: Vec::new(),
            h: Histogram::default(),
            stale: Histogram::default(),
            fh: FloatHistogram::default(),
            fh_valid: false,
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
        self.cnt_delta = 0;
        self.zcnt_delta = 0;
        self.sum = XorField::new(0.0);
        self.fh_valid = false;
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
                self.fh_valid = false;
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
    pub fn at_histogram(&self) -> (i64, &Histogram) {
        if is_stale_nan(self.sum.value) {
            (self.t, &self.stale)
        } else {
            (self.t, &self.h)
        }
    }

    /// The current sample with float counts and absolute bucket counts.
    pub fn at_float_histogram(&mut self) -> (i64, &FloatHistogram) {
        if !self.fh_valid {
            let fh = &mut self.fh;
            if is_stale_nan(self.sum.value) {
                *fh = FloatHistogram {
                    sum: self.sum.value,
                    ..FloatHistogram::default()
                };
            } else {
                let h = &self.h;
                fh.counter_reset_hint = h.counter_reset_hint;
                fh.schema = h.schema;
                fh.zero_threshold = h.zero_threshold;
                fh.zero_count = h.zero_count as f64;
                fh.count = h.count as f64;
                fh.sum = h.sum;
                fill(&mut fh.positive_spans, &h.positive_spans);
                fill(&mut fh.negative_spans, &h.negative_spans);
                fill(&mut fh.custom_values, &h.custom_values);
                absolute_into(&mut fh.positive_buckets, &h.positive_buckets);
                absolute_into(&mut fh.negative_buckets, &h.negative_buckets);
            }
            self.fh_valid = true;
        }
        (self.t, &self.fh)
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
        // Every bucket of the first sample takes at least one bit.
        if np.saturating_add(nn) > self.reader.remaining() {
            return Err(ChunkError::Corrupt("bucket count exceeds chunk size"));
        }
        self.t = read_varbit_int(&mut self.reader)?;
        self.h.count = read_varbit_uint(&mut self.reader)?;
        self.h.zero_count = read_varbit_uint(&mut self.reader)?;
        self.sum = XorField::new(f64::from_bits(self.reader.read_bits(64)?));
        self.h.sum = self.sum.value;
        self.stale.sum = self.sum.value;
        read_raw_buckets(&mut self.reader, &mut self.h.positive_buckets, np)?;
        read_raw_buckets(&mut self.reader, &mut self.h.negative_buckets, nn)?;
        self.p_deltas.clear();
        self.p_deltas.resize(np, 0);
        self.n_deltas.clear();
        self.n_deltas.resize(nn, 0);
        self.t_delta = 0;
        self.cnt_delta = 0;
        self.zcnt_delta = 0;
        Ok(())
    }

    fn read_next(&mut self) -> Result<(), ChunkError> {
        let r = &mut self.reader;
        self.t_delta = self.t_delta.wrapping_add(read_varbit_int(r)?);
        self.t = self.t.wrapping_add(self.t_delta);
        self.cnt_delta = self.cnt_delta.wrapping_add(read_varbit_int(r)?);
        self.h.count = (self.h.count as i64).wrapping_add(self.cnt_delta) as u64;
        self.zcnt_delta = self.zcnt_delta.wrapping_add(read_varbit_int(r)?);
        self.h.zero_count = (self.h.zero_count as i64).wrapping_add(self.zcnt_delta) as u64;
        self.sum.read(r)?;
        self.h.sum = self.sum.value;
        self.stale.sum = self.sum.value;
        if is_stale_nan(self.sum.value) {
            // Stale markers store no buckets.
            return Ok(());
        }
        read_bucket_dods(r, &mut self.h.positive_buckets, &mut self.p_deltas)?;
        read_bucket_dods(r, &mut self.h.negative_buckets, &mut self.n_deltas)?;
        Ok(())
    }
}

fn read_raw_buckets(r: &mut BitReader<'_>, out: &mut Vec<i64>, n: usize) -> Result<(), ChunkError> {
    out.clear();
    for _ in 0..n {
        out.push(read_varbit_int(r)?);
    }
    Ok(())
}

#[inline]
fn read_bucket_dods(
    r: &mut BitReader<'_>,
    buckets: &mut [i64],
    deltas: &mut [i64],
) -> Result<(), ChunkError> {
    for (b, d) in buckets.iter_mut().zip(deltas.iter_mut()) {
        *d = d.wrapping_add(read_varbit_int(r)?);
        *b = b.wrapping_add(*d);
    }
    Ok(())
}

fn fill<T: Copy>(dst: &mut Vec<T>, src: &[T]) {
    dst.clear();
    dst.extend_from_slice(src);
}

/// Converts delta-coded integer buckets into absolute float counts.
fn absolute_into(dst: &mut Vec<f64>, deltas: &[i64]) {
    dst.clear();
    let mut acc = 0i64;
    dst.extend(deltas.iter().map(|d| {
        acc = acc.wrapping_add(*d);
        acc as f64
    }));
}

/// What [`HistogramAppender::append_histogram`] did with a sample.
#[derive(Debug)]
pub enum AppendOutcome<A> {
    /// The sample was appended to this chunk.
    Appended,
    /// The sample brought new buckets: this chunk was re-encoded in place with the expanded
    /// bucket layout, then the sample appended. Replace any stored copy of the chunk.
    Recoded,
    /// The sample could not go into this chunk (counter reset, schema or zero-threshold
    /// change, disappearing buckets, ...): it was written to a new chunk, held by the returned
    /// appender. This chunk is unchanged.
    NewChunk(Box<A>),
}

/// How a histogram relates to the chunk's last sample, as Prometheus decides it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appendability {
    /// New positive buckets the chunk must be recoded with.
    pub positive_inserts: Vec<Insert>,
    /// New negative buckets the chunk must be recoded with.
    pub negative_inserts: Vec<Insert>,
    /// Empty positive buckets of the chunk that the histogram lacks and must be expanded with.
    pub backward_positive_inserts: Vec<Insert>,
    /// Empty negative buckets of the chunk that the histogram lacks.
    pub backward_negative_inserts: Vec<Insert>,
    /// Whether the histogram can go into this chunk (possibly after recoding).
    pub ok: bool,
    /// For integer histograms: the counter-reset header a new chunk would get
    /// (`NotCounterReset` when appendable). For float histograms: `CounterReset` if a counter
    /// reset was detected, else `Unknown`/`NotCounterReset` as in
    /// [`crate::float_histogram::FloatHistogramAppender::appendable`].
    pub counter_reset: CounterResetHeader,
}

/// The result of the gauge rules: inserts both ways and the merged spans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GaugeAppendability {
    /// New positive buckets the chunk must be recoded with.
    pub positive_inserts: Vec<Insert>,
    /// New negative buckets the chunk must be recoded with.
    pub negative_inserts: Vec<Insert>,
    /// Positive buckets of the chunk that the histogram must be expanded with.
    pub backward_positive_inserts: Vec<Insert>,
    /// Negative buckets of the chunk that the histogram must be expanded with.
    pub backward_negative_inserts: Vec<Insert>,
    /// Positive spans covering both the chunk and the histogram.
    pub positive_spans: Vec<Span>,
    /// Negative spans covering both the chunk and the histogram.
    pub negative_spans: Vec<Span>,
    /// Whether the histogram can go into this chunk (possibly after recoding).
    pub ok: bool,
}

/// Appends integer histograms to a chunk, cutting or recoding as Prometheus' head does.
#[derive(Debug, Clone)]
pub struct HistogramAppender {
    w: BitWriter,
    schema: i32,
    zero_threshold: f64,
    p_spans: Vec<Span>,
    n_spans: Vec<Span>,
    custom_values: Vec<f64>,
    t: i64,
    cnt: u64,
    zcnt: u64,
    t_delta: i64,
    cnt_delta: i64,
    zcnt_delta: i64,
    p_buckets: Vec<i64>,
    n_buckets: Vec<i64>,
    p_deltas: Vec<i64>,
    n_deltas: Vec<i64>,
    sum: XorField,
}

impl Default for HistogramAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl HistogramAppender {
    /// An appender on a new, empty chunk.
    pub fn new() -> Self {
        let mut w = BitWriter::with_capacity(128);
        w.write_bits(0, 24);
        HistogramAppender {
            w,
            schema: 0,
            zero_threshold: 0.0,
            p_spans: Vec::new(),
            n_spans: Vec::new(),
            custom_values: Vec::new(),
            t: i64::MIN,
            cnt: 0,
            zcnt: 0,
            t_delta: 0,
            cnt_delta: 0,
            zcnt_delta: 0,
            p_buckets: Vec::new(),
            n_buckets: Vec::new(),
            p_deltas: Vec::new(),
            n_deltas: Vec::new(),
            sum: XorField::new(0.0),
        }
    }

    /// An appender that continues the chunk `chunk` (its data, header included), exactly as
    /// if its samples had been appended by this appender.
    pub fn from_bytes(mut chunk: Vec<u8>) -> Result<Self, ChunkError> {
        let mut app = HistogramAppender::new();
        let (num, _) = read_header(&chunk)?;
        if num == 0 {
            chunk.truncate(HISTOGRAM_HEADER_SIZE);
            app.w = BitWriter::resume(chunk, HISTOGRAM_HEADER_SIZE * 8);
            return Ok(app);
        }
        let mut it = HistogramIterator::new(&chunk)?;
        while it.next()? {}
        let bit_len = HISTOGRAM_HEADER_SIZE * 8 + it.reader.position();
        let h = std::mem::take(&mut it.h);
        app.schema = h.schema;
        app.zero_threshold = h.zero_threshold;
        app.p_spans = h.positive_spans;
        app.n_spans = h.negative_spans;
        app.custom_values = h.custom_values;
        app.t = it.t;
        app.t_delta = it.t_delta;
        app.cnt_delta = it.cnt_delta;
        app.zcnt_delta = it.zcnt_delta;
        app.cnt = h.count;
        app.zcnt = h.zero_count;
        app.p_buckets = h.positive_buckets;
        app.n_buckets = h.negative_buckets;
        app.p_deltas = std::mem::take(&mut it.p_deltas);
        app.n_deltas = std::mem::take(&mut it.n_deltas);
        app.sum = it.sum;
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

    /// Decides whether a counter (non-gauge) histogram fits this chunk. Not appendable when:
    /// the chunk holds gauges; the sample says it follows a counter reset; the last sample was
    /// stale and this one is not; the count, zero count or any bucket decreased, or a
    /// non-empty bucket disappeared (all counter resets); the schema, zero threshold or custom
    /// bounds changed. Stale markers are always appendable.
    pub fn appendable(&self, h: &Histogram) -> Appendability {
        let mut a = Appendability {
            counter_reset: CounterResetHeader::NotCounterReset,
            ..Appendability::default()
        };
        if self.num_samples() > 0 && self.counter_reset_header() == CounterResetHeader::Gauge {
            return a;
        }
        if h.counter_reset_hint == CounterResetHint::CounterReset {
            a.counter_reset = CounterResetHeader::CounterReset;
            return a;
        }
        if is_stale_nan(h.sum) {
            a.ok = true;
            return a;
        }
        if is_stale_nan(self.sum.value) {
            a.counter_reset = CounterResetHeader::Unknown;
            return a;
        }
        if h.count < self.cnt {
            a.counter_reset = CounterResetHeader::CounterReset;
            return a;
        }
        if h.schema != self.schema || h.zero_threshold != self.zero_threshold {
            // Prometheus does not look further for a reset here.
            a.counter_reset = CounterResetHeader::Unknown;
            return a;
        }
        if h.schema == CUSTOM_BUCKETS_SCHEMA
            && !custom_bounds_match(&h.custom_values, &self.custom_values)
        {
            a.counter_reset = CounterResetHeader::CounterReset;
            return a;
        }
        if h.zero_count < self.zcnt {
            a.counter_reset = CounterResetHeader::CounterReset;
            return a;
        }
        let Some((pf, pb)) = expand_spans_and_buckets(
            &self.p_spans,
            &h.positive_spans,
            running_sum(&self.p_buckets),
            running_sum(&h.positive_buckets),
        ) else {
            a.counter_reset = CounterResetHeader::CounterReset;
            return a;
        };
        let Some((nf, nb)) = expand_spans_and_buckets(
            &self.n_spans,
            &h.negative_spans,
            running_sum(&self.n_buckets),
            running_sum(&h.negative_buckets),
        ) else {
            a.counter_reset = CounterResetHeader::CounterReset;
            return a;
        };
        a.positive_inserts = pf;
        a.backward_positive_inserts = pb;
        a.negative_inserts = nf;
        a.backward_negative_inserts = nb;
        a.ok = true;
        a
    }

    /// Decides whether a gauge histogram fits this chunk: not when the chunk holds counter
    /// histograms, the last sample was stale (and this one is not), or the schema, zero
    /// threshold or custom bounds changed. Bucket layouts are merged both ways.
    pub fn appendable_gauge(&self, h: &Histogram) -> GaugeAppendability {
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

    /// Appends `h` at `t`, following Prometheus' rules: the first sample of a chunk sets its
    /// counter-reset header (from the sample's hint, or by comparing with `prev`, the
    /// appender of the series' previous chunk); later samples go through
    /// [`Self::appendable`] / [`Self::appendable_gauge`] and may cut a new chunk or recode
    /// this one. With `append_only`, cutting or recoding is refused with
    /// [`ChunkError::NotAppendable`] instead.
    ///
    /// Timestamps are not checked for order; that is the caller's job.
    pub fn append_histogram(
        &mut self,
        prev: Option<&HistogramAppender>,
        t: i64,
        h: &Histogram,
        append_only: bool,
    ) -> Result<AppendOutcome<HistogramAppender>, ChunkError> {
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
                self.set_counter_reset_header(p.appendable(h).counter_reset);
            }
            return Ok(AppendOutcome::Appended);
        }

        if h.counter_reset_hint != CounterResetHint::Gauge {
            let a = self.appendable(h);
            if !a.ok || a.counter_reset != CounterResetHeader::NotCounterReset {
                if append_only {
                    return Err(ChunkError::NotAppendable(
                        if a.counter_reset == CounterResetHeader::CounterReset {
                            "histogram counter reset"
                        } else {
                            "histogram schema change"
                        },
                    ));
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
                    return Err(ChunkError::NotAppendable("histogram layout change"));
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
                return Err(ChunkError::NotAppendable("gauge histogram schema change"));
            }
            return Ok(self.cut(t, h, CounterResetHeader::Gauge));
        }
        let mut h = Cow::Borrowed(h);
        if !g.backward_positive_inserts.is_empty() || !g.backward_negative_inserts.is_empty() {
            if append_only {
                return Err(ChunkError::NotAppendable("gauge histogram layout change"));
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
                return Err(ChunkError::NotAppendable("gauge histogram layout change"));
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

    /// Starts a new chunk with `header` holding `h`.
    fn cut(
        &self,
        t: i64,
        h: &Histogram,
        header: CounterResetHeader,
    ) -> AppendOutcome<HistogramAppender> {
        let mut next = HistogramAppender::new();
        next.set_counter_reset_header(header);
        next.append_raw(t, h);
        AppendOutcome::NewChunk(Box::new(next))
    }

    /// Re-encodes the chunk with the buckets of `p_inserts` / `n_inserts` added to every
    /// sample, under the new spans; keeps the counter-reset header.
    fn recode(
        &mut self,
        p_inserts: &[Insert],
        n_inserts: &[Insert],
        p_spans: &[Span],
        n_spans: &[Span],
    ) -> Result<(), ChunkError> {
        // Decode from our own bytes (left intact if that fails) into a fresh appender.
        let mut fresh = HistogramAppender::new();
        let mut it = HistogramIterator::new(self.w.bytes())?;
        let mut scratch = Histogram::default();
        while it.next()? {
            let (t, h) = it.at_histogram();
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
                    true,
                );
            }
            if !n_inserts.is_empty() {
                insert_buckets(
                    &h.negative_buckets,
                    &mut scratch.negative_buckets,
                    n_inserts,
                    true,
                );
            }
            fresh.append_raw(t, &scratch);
        }
        fresh.set_counter_reset_header(self.counter_reset_header());
        *self = fresh;
        Ok(())
    }

    /// Encodes one sample, without any appendability checks.
    fn append_raw(&mut self, t: i64, h: &Histogram) {
        let num = self.header_count();
        let stale = is_stale_nan(h.sum);
        // A stale marker is written as an empty histogram carrying only the sum.
        let (count, zero_count, pos, neg): (u64, u64, &[i64], &[i64]) = if stale {
            (0, 0, &[], &[])
        } else {
            (
                h.count,
                h.zero_count,
                &h.positive_buckets,
                &h.negative_buckets,
            )
        };
        let w = &mut self.w;
        let (mut t_delta, mut cnt_delta, mut zcnt_delta) = (0i64, 0i64, 0i64);
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
            let np = count_spans(&self.p_spans);
            let nn = count_spans(&self.n_spans);
            self.p_buckets.clear();
            self.p_buckets.resize(np, 0);
            self.p_deltas.clear();
            self.p_deltas.resize(np, 0);
            self.n_buckets.clear();
            self.n_buckets.resize(nn, 0);
            self.n_deltas.clear();
            self.n_deltas.resize(nn, 0);

            put_varbit_int(w, t);
            put_varbit_uint(w, count);
            put_varbit_uint(w, zero_count);
            w.write_bits(h.sum.to_bits(), 64);
            self.sum = XorField::new(h.sum);
            for &b in pos.iter().chain(neg) {
                put_varbit_int(w, b);
            }
        } else {
            t_delta = t.wrapping_sub(self.t);
            cnt_delta = (count as i64).wrapping_sub(self.cnt as i64);
            zcnt_delta = (zero_count as i64).wrapping_sub(self.zcnt as i64);
            let t_dod = t_delta.wrapping_sub(self.t_delta);
            let (cnt_dod, zcnt_dod) = if stale {
                (0, 0)
            } else {
                (
                    cnt_delta.wrapping_sub(self.cnt_delta),
                    zcnt_delta.wrapping_sub(self.zcnt_delta),
                )
            };
            put_varbit_int(w, t_dod);
            put_varbit_int(w, cnt_dod);
            put_varbit_int(w, zcnt_dod);
            self.sum.write(w, h.sum);
            write_bucket_dods(w, pos, &self.p_buckets, &mut self.p_deltas);
            write_bucket_dods(w, neg, &self.n_buckets, &mut self.n_deltas);
        }
        self.t = t;
        self.cnt = count;
        self.zcnt = zero_count;
        self.t_delta = t_delta;
        self.cnt_delta = cnt_delta;
        self.zcnt_delta = zcnt_delta;
        let np = pos.len().min(self.p_buckets.len());
        self.p_buckets[..np].copy_from_slice(&pos[..np]);
        let nn = neg.len().min(self.n_buckets.len());
        self.n_buckets[..nn].copy_from_slice(&neg[..nn]);
        self.set_num_samples(num + 1);
    }
}

#[inline]
fn write_bucket_dods(w: &mut BitWriter, values: &[i64], last: &[i64], deltas: &mut [i64]) {
    for ((&v, &l), d) in values.iter().zip(last).zip(deltas.iter_mut()) {
        let delta = v.wrapping_sub(l);
        put_varbit_int(w, delta.wrapping_sub(*d));
        *d = delta;
    }
}

/// Absolute bucket counts from delta-coded ones.
fn running_sum(deltas: &[i64]) -> impl Iterator<Item = i64> + '_ {
    deltas.iter().scan(0i64, |acc, d| {
        *acc = acc.wrapping_add(*d);
        Some(*acc)
    })
}

/// Adds the empty buckets of the backward inserts to `h`'s (already widened) layout.
fn expand_histogram(h: &mut Histogram, p_inserts: &[Insert], n_inserts: &[Insert]) {
    if !p_inserts.is_empty() {
        let mut out = Vec::with_capacity(count_spans(&h.positive_spans));
        insert_buckets(&h.positive_buckets, &mut out, p_inserts, true);
        h.positive_buckets = out;
    }
    if !n_inserts.is_empty() {
        let mut out = Vec::with_capacity(count_spans(&h.negative_spans));
        insert_buckets(&h.negative_buckets, &mut out, n_inserts, true);
        h.negative_buckets = out;
    }
}

/// Checks that the bucket counts match the spans (Prometheus' caller contract), so that the
/// appender can rely on it. Stale markers carry no buckets that matter.
pub fn validate(h: &Histogram) -> Result<(), ChunkError> {
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
