//! What the integer and float histogram chunks share: the chunk header with its counter-reset
//! bits, the layout written before the first sample (zero threshold, schema, spans, custom
//! bucket bounds), the Gorilla XOR coding of float fields, and the span arithmetic the
//! appenders use to decide whether a histogram fits the chunk's bucket layout.
//!
//! Layout, after the 3-byte header (`uint16` sample count, flags byte):
//!
//! ```text
//! zero_threshold  byte: 0 → 0.0; 1..=254 → 2^(byte-244); 255 → followed by 64 bits of float64
//! schema          varbit int
//! positive spans  varbit uint count, then per span: varbit uint length, varbit int offset
//! negative spans  same
//! custom bounds   only with schema -53: varbit uint count, then per bound either
//!                 varbit uint (bound·1000 + 1) when bound·1000 is a whole number in
//!                 0..=33554430, or a zero bit followed by 64 bits of float64
//! ```

use crate::bstream::{BitReader, BitWriter};
use crate::error::ChunkError;
use crate::model::{CounterResetHint, Span, CUSTOM_BUCKETS_SCHEMA};
use crate::varbit::{put_varbit_int, put_varbit_uint, read_varbit_int, read_varbit_uint};

/// Size of the histogram chunk header: sample count (`u16`, big-endian) and the flags byte.
pub const HISTOGRAM_HEADER_SIZE: usize = 3;
/// Position of the flags byte whose top two bits hold the [`CounterResetHeader`].
pub(crate) const FLAGS_POS: usize = 2;
/// Mask of the counter-reset bits within the flags byte.
pub const COUNTER_RESET_HEADER_MASK: u8 = 0b1100_0000;

/// The bit pattern of the float64 NaN that Prometheus uses as a staleness marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is Prometheus' staleness marker (compared bit for bit; other NaNs are not).
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// The counter-reset knowledge recorded in a histogram chunk's header: why the chunk was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum CounterResetHeader {
    /// Unknown whether a counter reset happened before this chunk (bits `00`).
    #[default]
    Unknown = 0b0000_0000,
    /// The chunk was cut because of a counter reset (bits `10`).
    CounterReset = 0b1000_0000,
    /// There was definitely no counter reset when the chunk was cut (bits `01`).
    NotCounterReset = 0b0100_0000,
    /// The chunk holds gauge histograms (bits `11`).
    Gauge = 0b1100_0000,
}

impl CounterResetHeader {
    /// Decodes the header from the chunk's flags byte (other bits are ignored).
    #[inline]
    pub fn from_flags(flags: u8) -> Self {
        match flags & COUNTER_RESET_HEADER_MASK {
            0b1000_0000 => CounterResetHeader::CounterReset,
            0b0100_0000 => CounterResetHeader::NotCounterReset,
            0b1100_0000 => CounterResetHeader::Gauge,
            _ => CounterResetHeader::Unknown,
        }
    }

    /// The header a chunk gets for a sample carrying `hint`.
    pub fn from_hint(hint: CounterResetHint) -> Self {
        match hint {
            CounterResetHint::Unknown => CounterResetHeader::Unknown,
            CounterResetHint::CounterReset => CounterResetHeader::CounterReset,
            CounterResetHint::NotCounterReset => CounterResetHeader::NotCounterReset,
            CounterResetHint::Gauge => CounterResetHeader::Gauge,
        }
    }
}

/// The counter-reset hint an iterator reports for the `num_read`-th sample (1-based) of a
/// chunk with header `header`: gauge chunks hold only gauges; samples after the first never
/// follow a reset; the first is `Unknown`, because the previous chunk may not be adjacent.
#[inline]
pub(crate) fn counter_reset_hint(header: CounterResetHeader, num_read: u16) -> CounterResetHint {
    if header == CounterResetHeader::Gauge {
        CounterResetHint::Gauge
    } else if num_read > 1 {
        CounterResetHint::NotCounterReset
    } else {
        CounterResetHint::Unknown
    }
}

/// Reads the header of a histogram chunk: sample count and counter-reset header.
pub(crate) fn read_header(chunk: &[u8]) -> Result<(u16, CounterResetHeader), ChunkError> {
    if chunk.len() < HISTOGRAM_HEADER_SIZE {
        return Err(ChunkError::TooShort {
            len: chunk.len(),
            header: HISTOGRAM_HEADER_SIZE,
        });
    }
    Ok((
        u16::from_be_bytes([chunk[0], chunk[1]]),
        CounterResetHeader::from_flags(chunk[FLAGS_POS]),
    ))
}

/// Whether `schema` is one this crate can decode: exponential `-4..=8` or custom buckets.
#[inline]
pub fn is_known_schema(schema: i32) -> bool {
    schema == CUSTOM_BUCKETS_SCHEMA || (-4..=8).contains(&schema)
}

/// The bucket layout a chunk records once, before its first sample.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkLayout {
    /// Histogram schema.
    pub schema: i32,
    /// Zero bucket threshold.
    pub zero_threshold: f64,
    /// Positive bucket spans.
    pub positive_spans: Vec<Span>,
    /// Negative bucket spans.
    pub negative_spans: Vec<Span>,
    /// Custom bucket upper bounds (only with the custom-buckets schema).
    pub custom_values: Vec<f64>,
}

/// Appends the layout fields.
pub(crate) fn write_layout(
    w: &mut BitWriter,
    schema: i32,
    zero_threshold: f64,
    positive_spans: &[Span],
    negative_spans: &[Span],
    custom_values: &[f64],
) {
    put_zero_threshold(w, zero_threshold);
    put_varbit_int(w, schema as i64);
    put_spans(w, positive_spans);
    put_spans(w, negative_spans);
    if schema == CUSTOM_BUCKETS_SCHEMA {
        put_varbit_uint(w, custom_values.len() as u64);
        for &bound in custom_values {
            put_custom_bound(w, bound);
        }
    }
}

/// Reads the layout into `layout`, reusing its vectors. Counts read from the chunk are capped
/// by the bits left in it, so corrupt counts cannot cause large allocations.
pub(crate) fn read_layout(
    r: &mut BitReader<'_>,
    layout: &mut ChunkLayout,
) -> Result<(), ChunkError> {
    layout.zero_threshold = read_zero_threshold(r)?;
    layout.schema = read_varbit_int(r)? as i32;
    read_spans(r, &mut layout.positive_spans)?;
    read_spans(r, &mut layout.negative_spans)?;
    layout.custom_values.clear();
    if layout.schema == CUSTOM_BUCKETS_SCHEMA {
        let n = read_varbit_uint(r)?;
        // Each bound takes at least 5 bits (`10` + 3-bit payload).
        if n > (r.remaining() / 5) as u64 {
            return Err(ChunkError::Corrupt(
                "custom bucket bound count exceeds chunk size",
            ));
        }
        layout.custom_values.reserve(n as usize);
        for _ in 0..n {
            layout.custom_values.push(read_custom_bound(r)?);
        }
    }
    if !is_known_schema(layout.schema) {
        return Err(ChunkError::UnknownSchema(layout.schema));
    }
    Ok(())
}

fn put_spans(w: &mut BitWriter, spans: &[Span]) {
    put_varbit_uint(w, spans.len() as u64);
    for s in spans {
        put_varbit_uint(w, s.length as u64);
        put_varbit_int(w, s.offset as i64);
    }
}

fn read_spans(r: &mut BitReader<'_>, spans: &mut Vec<Span>) -> Result<(), ChunkError> {
    spans.clear();
    let n = read_varbit_uint(r)?;
    // Each span takes at least 2 bits (a zero length and a zero offset).
    if n > (r.remaining() / 2) as u64 {
        return Err(ChunkError::Corrupt("span count exceeds chunk size"));
    }
    spans.reserve(n as usize);
    for _ in 0..n {
        // Prometheus truncates to the span field widths; so do we.
        let length = read_varbit_uint(r)? as u32;
        let offset = read_varbit_int(r)? as i32;
        spans.push(Span { offset, length });
    }
    Ok(())
}

/// Appends the zero threshold: one byte for zero and for powers of two `2^-243..=2^10`,
/// else the byte 255 and the float64 bits.
pub(crate) fn put_zero_threshold(w: &mut BitWriter, threshold: f64) {
    if threshold == 0.0 {
        w.write_byte(0);
        return;
    }
    let bits = threshold.to_bits();
    let biased_exp = (bits >> 52) & 0x7ff;
    let mantissa = bits & ((1u64 << 52) - 1);
    // A positive normal power of two 2^e has frexp exponent e + 1 = biased_exp - 1022.
    if bits >> 63 == 0 && mantissa == 0 && (1..=2046).contains(&biased_exp) {
        let frexp_exp = biased_exp as i64 - 1022;
        if (-242..=11).contains(&frexp_exp) {
            w.write_byte((frexp_exp + 243) as u8);
            return;
        }
    }
    w.write_byte(255);
    w.write_bits(bits, 64);
}

/// Reads a zero threshold written by [`put_zero_threshold`].
pub(crate) fn read_zero_threshold(r: &mut BitReader<'_>) -> Result<f64, ChunkError> {
    match r.read_byte()? {
        0 => Ok(0.0),
        255 => Ok(f64::from_bits(r.read_bits(64)?)),
        // 0.5 · 2^(b-243) = 2^(b-244), a normal number for every b in 1..=254.
        b => Ok(f64::from_bits(((b as u64) + 1023 - 244) << 52)),
    }
}

/// Appends one custom bucket bound (see the module docs).
pub(crate) fn put_custom_bound(w: &mut BitWriter, bound: f64) {
    let scaled = bound * 1000.0;
    if !(0.0..=33_554_430.0).contains(&scaled) || !is_whole_when_multiplied(bound) {
        w.write_bit(false);
        w.write_bits(bound.to_bits(), 64);
        return;
    }
    put_varbit_uint(w, scaled.round() as u64 + 1);
}

/// Whether `x · 1000` rounds to an integer that, divided by 1000, gives back `x` exactly.
fn is_whole_when_multiplied(x: f64) -> bool {
    let i = (x * 1000.0).round() as u64;
    (i as f64) / 1000.0 == x
}

/// Reads one custom bucket bound written by [`put_custom_bound`].
pub(crate) fn read_custom_bound(r: &mut BitReader<'_>) -> Result<f64, ChunkError> {
    match read_varbit_uint(r)? {
        0 => Ok(f64::from_bits(r.read_bits(64)?)),
        n => Ok((n - 1) as f64 / 1000.0),
    }
}

/// Whether two custom bucket bound lists are equal, value by value.
#[inline]
pub fn custom_bounds_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Total number of buckets the spans describe.
#[inline]
pub fn count_spans(spans: &[Span]) -> usize {
    spans.iter().map(|s| s.length as usize).sum()
}

/// Sentinel for "no XOR window chosen yet": the first changed value opens a new window.
pub(crate) const NO_WINDOW: u8 = 0xff;

/// One Gorilla-XOR coded float field: its last value and the current window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct XorField {
    pub value: f64,
    pub leading: u8,
    pub trailing: u8,
}

impl XorField {
    pub(crate) fn new(value: f64) -> Self {
        XorField {
            value,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Appends `v` XOR-ed against the previous value: `0` unchanged; `10` + bits in the
    /// current window; `11` + 5-bit leading zeros (clamped to 31) + 6-bit significant-bit
    /// count (64 written as 0) + the significant bits.
    #[inline]
    pub(crate) fn write(&mut self, w: &mut BitWriter, v: f64) {
        let delta = v.to_bits() ^ self.value.to_bits();
        self.value = v;
        if delta == 0 {
            w.write_bit(false);
            return;
        }
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            w.write_bits(0b10, 2);
            w.write_bits(delta >> self.trailing, 64 - self.leading - self.trailing);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        let sigbits = 64 - leading - trailing;
        w.write_bits(0b11, 2);
        w.write_bits(leading as u64, 5);
        w.write_bits(sigbits as u64, 6);
        w.write_bits(delta >> trailing, sigbits);
    }

    /// Reads a value written by [`XorField::write`].
    #[inline]
    pub(crate) fn read(&mut self, r: &mut BitReader<'_>) -> Result<(), ChunkError> {
        xor_read(r, &mut self.value, &mut self.leading, &mut self.trailing)
    }
}

/// Reads one XOR-coded value into `value`, updating the window (see [`XorField::write`]).
#[inline]
pub(crate) fn xor_read(
    r: &mut BitReader<'_>,
    value: &mut f64,
    leading: &mut u8,
    trailing: &mut u8,
) -> Result<(), ChunkError> {
    if !r.read_bit()? {
        return Ok(());
    }
    let sigbits = if !r.read_bit()? {
        if *leading == NO_WINDOW {
            // A window reuse before any window was opened: Prometheus' appenders resumed on
            // a chunk's bytes start from a zero window, i.e. all 64 bits significant.
            *leading = 0;
            *trailing = 0;
        }
        64 - *leading - *trailing
    } else {
        let new_leading = r.read_bits(5)? as u8;
        let mut sigbits = r.read_bits(6)? as u8;
        if sigbits == 0 {
            sigbits = 64;
        }
        if new_leading + sigbits > 64 {
            return Err(ChunkError::Corrupt("XOR window exceeds 64 bits"));
        }
        *leading = new_leading;
        *trailing = 64 - new_leading - sigbits;
        sigbits
    };
    let bits = r.read_bits(sigbits)?;
    let delta = if *trailing >= 64 {
        0
    } else {
        bits << *trailing
    };
    *value = f64::from_bits(value.to_bits() ^ delta);
    Ok(())
}

/// Walks the absolute bucket indices that a list of spans covers.
#[derive(Debug, Clone)]
pub(crate) struct BucketIndices<'a> {
    spans: &'a [Span],
    span: usize,
    /// Position within the current span of the last yielded bucket.
    bucket: i64,
    /// Absolute index of the last yielded bucket.
    idx: i64,
}

impl<'a> BucketIndices<'a> {
    pub(crate) fn new(spans: &'a [Span]) -> Self {
        let idx = spans.first().map_or(-1, |s| s.offset as i64 - 1);
        BucketIndices {
            spans,
            span: 0,
            bucket: -1,
            idx,
        }
    }
}

impl Iterator for BucketIndices<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        if self.span >= self.spans.len() {
            return None;
        }
        if self.bucket < self.spans[self.span].length as i64 - 1 {
            self.bucket += 1;
            self.idx += 1;
            return Some(self.idx);
        }
        while self.span + 1 < self.spans.len() {
            self.span += 1;
            let s = self.spans[self.span];
            self.idx += s.offset as i64 + 1;
            self.bucket = 0;
            if s.length == 0 {
                // An empty span only moves the index.
                self.idx -= 1;
                continue;
            }
            return Some(self.idx);
        }
        None
    }
}

/// `num` new (empty) buckets to insert before the `pos`-th bucket of an existing list;
/// `bucket_idx` is the absolute index of the first inserted bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Insert {
    /// Position in the original bucket list before which the buckets go.
    pub pos: usize,
    /// Number of buckets inserted.
    pub num: usize,
    /// Absolute bucket index of the first inserted bucket.
    pub bucket_idx: i64,
}

/// Appends `idx` to a span list under construction (where `last` is the previous bucket).
fn push_bucket(spans: &mut Vec<Span>, last: &mut i64, idx: i64) {
    let mut offset = idx - *last - 1;
    match spans.last_mut() {
        Some(s) if offset == 0 => s.length += 1,
        _ => {
            if spans.is_empty() {
                offset += 1;
            }
            spans.push(Span {
                offset: offset as i32,
                length: 1,
            });
        }
    }
    *last = idx;
}

/// Extends a running insert with a bucket at `idx`, closing it first if not contiguous.
fn add_insert(inserts: &mut Vec<Insert>, current: &mut Insert, idx: i64) {
    if current.num == 0 {
        current.bucket_idx = idx;
    } else if current.bucket_idx + current.num as i64 != idx {
        inserts.push(*current);
        current.num = 0;
        current.bucket_idx = idx;
    }
    current.num += 1;
}

/// For counter histograms: the inserts that expand the chunk's layout `a` to also cover the
/// buckets of `b` (forward), and those that expand `b` by the empty buckets of `a` it lacks
/// (backward). `None` if `b` lacks a bucket that is non-empty in `a`, or any bucket count
/// decreased: both mean a counter reset. `a_counts` yields the absolute counts of `a`'s
/// buckets and `b_counts` those of `b`.
pub(crate) fn expand_spans_and_buckets<T: PartialOrd + Copy + Default>(
    a: &[Span],
    b: &[Span],
    mut a_counts: impl Iterator<Item = T>,
    mut b_counts: impl Iterator<Item = T>,
) -> Option<(Vec<Insert>, Vec<Insert>)> {
    let mut ai = BucketIndices::new(a);
    let mut bi = BucketIndices::new(b);
    let mut a_inserts = Vec::new();
    let mut b_inserts = Vec::new();
    let mut a_inter = Insert::default();
    let mut b_inter = Insert::default();
    let mut a_idx = ai.next();
    let mut b_idx = bi.next();
    let mut a_count = if a_idx.is_some() {
        a_counts.next().unwrap_or_default()
    } else {
        T::default()
    };
    let mut b_count = if b_idx.is_some() {
        b_counts.next().unwrap_or_default()
    } else {
        T::default()
    };
    let zero = T::default();

    macro_rules! advance_a {
        () => {{
            if a_inter.num > 0 {
                a_inserts.push(a_inter);
                a_inter.num = 0;
            }
            a_idx = ai.next();
            a_inter.pos += 1;
            if a_idx.is_some() {
                a_count = a_counts.next().unwrap_or_default();
            }
        }};
    }
    macro_rules! advance_b {
        () => {{
            if b_inter.num > 0 {
                b_inserts.push(b_inter);
                b_inter.num = 0;
            }
            b_idx = bi.next();
            b_inter.pos += 1;
            if b_idx.is_some() {
                b_count = b_counts.next().unwrap_or_default();
            }
        }};
    }

    loop {
        match (a_idx, b_idx) {
            (Some(ax), Some(bx)) if ax == bx => {
                if a_count > b_count {
                    return None;
                }
                advance_a!();
                advance_b!();
            }
            (Some(ax), Some(bx)) if ax < bx => {
                // `b` lacks a bucket of `a`: fine only if it was empty.
                if a_count != zero {
                    return None;
                }
                add_insert(&mut b_inserts, &mut b_inter, ax);
                advance_a!();
            }
            (Some(_), Some(bx)) => {
                add_insert(&mut a_inserts, &mut a_inter, bx);
                advance_b!();
            }
            (Some(ax), None) => {
                if a_count != zero {
                    return None;
                }
                add_insert(&mut b_inserts, &mut b_inter, ax);
                advance_a!();
            }
            (None, Some(bx)) => {
                add_insert(&mut a_inserts, &mut a_inter, bx);
                advance_b!();
            }
            (None, None) => {
                if a_inter.num > 0 {
                    a_inserts.push(a_inter);
                }
                if b_inter.num > 0 {
                    b_inserts.push(b_inter);
                }
                return Some((a_inserts, b_inserts));
            }
        }
    }
}

/// For gauge histograms: the forward inserts that expand `a` to also cover `b`, the backward
/// inserts that expand `b` to also cover `a`, and the merged spans covering both.
pub(crate) fn expand_spans_both_ways(
    a: &[Span],
    b: &[Span],
) -> (Vec<Insert>, Vec<Insert>, Vec<Span>) {
    let mut ai = BucketIndices::new(a);
    let mut bi = BucketIndices::new(b);
    let mut f_inserts = Vec::new();
    let mut b_inserts = Vec::new();
    let mut merged = Vec::new();
    let mut last = 0i64;
    let mut f_inter = Insert::default();
    let mut b_inter = Insert::default();
    let mut av = ai.next();
    let mut bv = bi.next();
    loop {
        match (av, bv) {
            (Some(x), Some(y)) if x == y => {
                if f_inter.num > 0 {
                    f_inserts.push(f_inter);
                    f_inter.num = 0;
                }
                if b_inter.num > 0 {
                    b_inserts.push(b_inter);
                    b_inter.num = 0;
                }
                push_bucket(&mut merged, &mut last, x);
                av = ai.next();
                bv = bi.next();
                f_inter.pos += 1;
                b_inter.pos += 1;
            }
            (Some(x), Some(y)) if x < y => {
                b_inter.num += 1;
                if f_inter.num > 0 {
                    f_inserts.push(f_inter);
                    f_inter.num = 0;
                }
                push_bucket(&mut merged, &mut last, x);
                f_inter.pos += 1;
                av = ai.next();
            }
            (Some(_), Some(y)) => {
                f_inter.num += 1;
                if b_inter.num > 0 {
                    b_inserts.push(b_inter);
                    b_inter.num = 0;
                }
                push_bucket(&mut merged, &mut last, y);
                b_inter.pos += 1;
                bv = bi.next();
            }
            (Some(x), None) => {
                b_inter.num += 1;
                push_bucket(&mut merged, &mut last, x);
                av = ai.next();
            }
            (None, Some(y)) => {
                f_inter.num += 1;
                push_bucket(&mut merged, &mut last, y);
                bv = bi.next();
            }
            (None, None) => {
                if f_inter.num > 0 {
                    f_inserts.push(f_inter);
                }
                if b_inter.num > 0 {
                    b_inserts.push(b_inter);
                }
                return (f_inserts, b_inserts, merged);
            }
        }
    }
}

/// Bucket values the insert arithmetic works on: delta-coded integers or absolute floats.
pub(crate) trait BucketValue: Copy + Default {
    fn add(self, other: Self) -> Self;
    fn neg(self) -> Self;
}

impl BucketValue for i64 {
    #[inline]
    fn add(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
    #[inline]
    fn neg(self) -> Self {
        self.wrapping_neg()
    }
}

impl BucketValue for f64 {
    #[inline]
    fn add(self, other: Self) -> Self {
        self + other
    }
    #[inline]
    fn neg(self) -> Self {
        -self
    }
}

/// Writes `input` with empty buckets inserted per `inserts` into `out` (cleared first).
/// With `deltas`, values are delta-coded: an inserted run starts with the negated running
/// value (back to zero) and the next original bucket is re-based onto zero.
pub(crate) fn insert_buckets<T: BucketValue>(
    input: &[T],
    out: &mut Vec<T>,
    inserts: &[Insert],
    deltas: bool,
) {
    out.clear();
    let mut v = T::default();
    let mut ii = 0;
    for (i, &d) in input.iter().enumerate() {
        if ii >= inserts.len() || i != inserts[ii].pos {
            out.push(d);
            v = v.add(d);
            continue;
        }
        let mut first = true;
        while ii < inserts.len() && i == inserts[ii].pos {
            if deltas && first {
                out.push(v.neg());
                first = false;
            } else {
                out.push(T::default());
            }
            for _ in 1..inserts[ii].num {
                out.push(T::default());
            }
            ii += 1;
        }
        out.push(if deltas { d.add(v) } else { d });
        v = v.add(d);
    }
    // Inserts after the last original bucket.
    while ii < inserts.len() {
        out.push(if deltas { v.neg() } else { T::default() });
        for _ in 1..inserts[ii].num {
            out.push(T::default());
        }
        ii += 1;
        v = T::default();
    }
}

/// The spans of `spans` with the buckets of `inserts` (by absolute index) added.
pub(crate) fn adjust_for_inserts(spans: &[Span], inserts: &[Insert]) -> Vec<Span> {
    if inserts.is_empty() {
        return spans.to_vec();
    }
    let mut merged = Vec::new();
    let mut last = 0i64;
    let mut i = 0;
    let mut insert_idx = inserts[0].bucket_idx;
    let mut insert_num = inserts[0].num;
    let consume = |i: &mut usize, insert_idx: &mut i64, insert_num: &mut usize| {
        *insert_num -= 1;
        if *insert_num == 0 {
            *i += 1;
            if *i < inserts.len() {
                *insert_idx = inserts[*i].bucket_idx;
                *insert_num = inserts[*i].num;
            }
        } else {
            *insert_idx += 1;
        }
    };
    let mut it = BucketIndices::new(spans);
    let mut bucket = it.next();
    while let Some(b) = bucket {
        if i < inserts.len() && insert_idx < b {
            push_bucket(&mut merged, &mut last, insert_idx);
            consume(&mut i, &mut insert_idx, &mut insert_num);
        } else {
            push_bucket(&mut merged, &mut last, b);
            bucket = it.next();
        }
    }
    while i < inserts.len() {
        push_bucket(&mut merged, &mut last, insert_idx);
        consume(&mut i, &mut insert_idx, &mut insert_num);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    #[test]
    fn zero_threshold_encodings() {
        for (threshold, len) in [
            (0.0, 8),
            (2f64.powi(-128), 8),
            (2f64.powi(-243), 8),
            (1024.0, 8),
            (2048.0, 72),
            (2f64.powi(-244), 72),
            (0.001, 72),
            (-1.0, 72),
        ] {
            let mut w = BitWriter::default();
            put_zero_threshold(&mut w, threshold);
            assert_eq!(w.bit_len(), len, "{threshold}");
            let got = read_zero_threshold(&mut BitReader::new(w.bytes())).unwrap();
            assert_eq!(got.to_bits(), threshold.to_bits());
        }
        // The default threshold 2^-128 is the byte 116.
        let mut w = BitWriter::default();
        put_zero_threshold(&mut w, 2f64.powi(-128));
        assert_eq!(w.bytes(), &[116]);
    }

    #[test]
    fn custom_bound_encodings() {
        for (bound, len) in [
            (0.0, 5),
            (1.0, 17),
            (0.005, 5),
            (33554.43, 32),
            (33554.431, 65),
            (-1.0, 65),
            (0.0001, 65),
            (f64::INFINITY, 65),
            (f64::NAN, 65),
        ] {
            let mut w = BitWriter::default();
            put_custom_bound(&mut w, bound);
            assert_eq!(w.bit_len(), len, "{bound}");
            let got = read_custom_bound(&mut BitReader::new(w.bytes())).unwrap();
            assert!(
                got == bound || (got.is_nan() && bound.is_nan()),
                "{bound} vs {got}"
            );
        }
    }

    #[test]
    fn bucket_indices_skip_gaps_and_empty_spans() {
        let spans = [span(-2, 2), span(1, 0), span(2, 1), span(0, 2)];
        let got: Vec<i64> = BucketIndices::new(&spans).collect();
        // -2, -1; the empty span ends at 0; the next starts 2 after that, at 3; then 4, 5.
        assert_eq!(got, vec![-2, -1, 3, 4, 5]);
        assert_eq!(BucketIndices::new(&[]).count(), 0);
    }

    /// The worked example from Prometheus' expandIntSpansAndBuckets documentation.
    #[test]
    fn expand_spans_doc_example() {
        let a = [span(0, 2), span(2, 1), span(3, 2), span(3, 1), span(1, 1)];
        let a_deltas = [6i64, -3, 0, -1, 2, 1, -4];
        let b = [span(0, 3), span(1, 1), span(1, 4), span(3, 3)];
        let b_abs = [6i64, 3, 0, 3, 0, 0, 2, 4, 5, 0, 1];
        let a_abs: Vec<i64> = a_deltas
            .iter()
            .scan(0, |acc, d| {
                *acc += d;
                Some(*acc)
            })
            .collect();
        let (fwd, bwd) =
            expand_spans_and_buckets(&a, &b, a_abs.iter().copied(), b_abs.iter().copied()).unwrap();
        assert!(bwd.is_empty());
        assert_eq!(
            fwd,
            vec![
                Insert {
                    pos: 2,
                    num: 1,
                    bucket_idx: 2
                },
                Insert {
                    pos: 3,
                    num: 2,
                    bucket_idx: 6
                },
                Insert {
                    pos: 6,
                    num: 1,
                    bucket_idx: 14
                },
            ]
        );
        let mut out = Vec::new();
        insert_buckets(&a_deltas, &mut out, &fwd, true);
        assert_eq!(out, vec![6, -3, -3, 3, -3, 0, 2, 2, 1, -5, 1]);
    }

    #[test]
    fn disappearing_non_empty_bucket_is_a_reset() {
        let a = [span(0, 2)];
        let b = [span(0, 1)];
        assert!(
            expand_spans_and_buckets(&a, &b, [1i64, 1].into_iter(), [2i64].into_iter()).is_none()
        );
        // An empty bucket may disappear: it becomes a backward insert.
        let (fwd, bwd) =
            expand_spans_and_buckets(&a, &b, [1i64, 0].into_iter(), [2i64].into_iter()).unwrap();
        assert!(fwd.is_empty());
        assert_eq!(
            bwd,
            vec![Insert {
                pos: 1,
                num: 1,
                bucket_idx: 1
            }]
        );
        assert_eq!(adjust_for_inserts(&b, &bwd), vec![span(0, 2)]);
    }

    #[test]
    fn both_ways_merges_disjoint_layouts() {
        let a = [span(0, 2)];
        let b = [span(3, 1)];
        let (fwd, bwd, merged) = expand_spans_both_ways(&a, &b);
        assert_eq!(merged, vec![span(0, 2), span(1, 1)]);
        assert_eq!(
            fwd,
            vec![Insert {
                pos: 2,
                num: 1,
                bucket_idx: 0
            }]
        );
        assert_eq!(
            bwd,
            vec![Insert {
                pos: 0,
                num: 2,
                bucket_idx: 0
            }]
        );
        let mut out = Vec::new();
        insert_buckets(&[1.0f64, 2.0], &mut out, &fwd, false);
        assert_eq!(out, vec![1.0, 2.0, 0.0]);
        let mut outi = Vec::new();
        insert_buckets(&[5i64], &mut outi, &bwd, true);
        assert_eq!(outi, vec![0, 0, 5]);
    }

    #[test]
    fn xor_field_round_trip() {
        let values = [1.0, 1.0, 2.5, -3.0, f64::NAN, 1e300, 0.0, 1e-300];
        let mut w = BitWriter::default();
        let mut enc = XorField::new(0.0);
        for &v in &values {
            enc.write(&mut w, v);
        }
        let mut r = BitReader::new(w.bytes());
        let mut dec = XorField::new(0.0);
        for &v in &values {
            dec.read(&mut r).unwrap();
            assert_eq!(dec.value.to_bits(), v.to_bits());
        }
    }
}
