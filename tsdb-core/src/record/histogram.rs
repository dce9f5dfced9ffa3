//! Native histogram sample records (types 7, 8, 9, 10, 12 and 13).
//!
//! A histogram is encoded as `hint u8 | schema varint | zero_threshold f64 | zero_count |
//! count | sum f64 | positive spans | negative spans | positive buckets | negative buckets |
//! [custom bounds]`: counts are uvarints (integer histograms) or f64 (float histograms), spans
//! are `uvarint n` then `offset varint | length uvarint` each, buckets are `uvarint n` then
//! varint deltas (integer) or f64 (float), and custom bounds (`uvarint n`, f64 each) follow only
//! with the custom-buckets schema (-53).

use chunkenc::model::CUSTOM_BUCKETS_SCHEMA;
use chunkenc::{CounterResetHint, FloatHistogram, Histogram, Span};

use super::encoding::{put_be64, put_uvarint, put_varint, Decbuf};
use super::{
    check_type, put_st_marker, read_st_marker, RecordError, RecordType, RefFloatHistogramSample,
    RefHistogramSample,
};

fn hint_from(b: u8, offset: usize) -> Result<CounterResetHint, RecordError> {
    Ok(match b {
        0 => CounterResetHint::Unknown,
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => {
            return Err(RecordError::OutOfRange {
                what: "counter reset hint",
                offset,
            })
        }
    })
}

fn i32_from(v: i64, what: &'static str, d: &Decbuf<'_>) -> Result<i32, RecordError> {
    i32::try_from(v).map_err(|_| RecordError::OutOfRange {
        what,
        offset: d.position(),
    })
}

fn put_spans(buf: &mut Vec<u8>, spans: &[Span]) {
    put_uvarint(buf, spans.len() as u64);
    for s in spans {
        put_varint(buf, s.offset as i64);
        put_uvarint(buf, s.length as u64);
    }
}

fn read_spans(d: &mut Decbuf<'_>, out: &mut Vec<Span>) -> Result<(), RecordError> {
    let n = d.len("span count", 2)?;
    out.clear();
    out.reserve(n);
    for _ in 0..n {
        let offset = i32_from(d.varint("span offset")?, "span offset", d)?;
        let length =
            u32::try_from(d.uvarint("span length")?).map_err(|_| RecordError::OutOfRange {
                what: "span length",
                offset: d.position(),
            })?;
        out.push(Span { offset, length });
    }
    Ok(())
}

fn put_custom(buf: &mut Vec<u8>, schema: i32, values: &[f64]) {
    if schema == CUSTOM_BUCKETS_SCHEMA {
        put_uvarint(buf, values.len() as u64);
        for v in values {
            put_be64(buf, v.to_bits());
        }
    }
}

fn read_floats(
    d: &mut Decbuf<'_>,
    what: &'static str,
    out: &mut Vec<f64>,
) -> Result<(), RecordError> {
    let n = d.len(what, 8)?;
    out.clear();
    out.reserve(n);
    for _ in 0..n {
        out.push(d.f64(what)?);
    }
    Ok(())
}

/// Appends the encoding of an integer histogram.
pub(crate) fn encode_histogram(buf: &mut Vec<u8>, h: &Histogram) {
    buf.push(h.counter_reset_hint as u8);
    put_varint(buf, h.schema as i64);
    put_be64(buf, h.zero_threshold.to_bits());
    put_uvarint(buf, h.zero_count);
    put_uvarint(buf, h.count);
    put_be64(buf, h.sum.to_bits());
    put_spans(buf, &h.positive_spans);
    put_spans(buf, &h.negative_spans);
    for buckets in [&h.positive_buckets, &h.negative_buckets] {
        put_uvarint(buf, buckets.len() as u64);
        for b in buckets.iter() {
            put_varint(buf, *b);
        }
    }
    put_custom(buf, h.schema, &h.custom_values);
}

pub(crate) fn decode_histogram(d: &mut Decbuf<'_>) -> Result<Histogram, RecordError> {
    let mut h = Histogram {
        counter_reset_hint: hint_from(d.byte("counter reset hint")?, d.position())?,
        ..Default::default()
    };
    h.schema = i32_from(d.varint("schema")?, "schema", d)?;
    h.zero_threshold = d.f64("zero threshold")?;
    h.zero_count = d.uvarint("zero count")?;
    h.count = d.uvarint("count")?;
    h.sum = d.f64("sum")?;
    read_spans(d, &mut h.positive_spans)?;
    read_spans(d, &mut h.negative_spans)?;
    for buckets in [&mut h.positive_buckets, &mut h.negative_buckets] {
        let n = d.len("bucket count", 1)?;
        buckets.reserve(n);
        for _ in 0..n {
            buckets.push(d.varint("bucket")?);
        }
    }
    if h.schema == CUSTOM_BUCKETS_SCHEMA {
        read_floats(d, "custom bucket bound", &mut h.custom_values)?;
    }
    Ok(h)
}

/// Appends the encoding of a float histogram.
pub(crate) fn encode_float_histogram(buf: &mut Vec<u8>, h: &FloatHistogram) {
    buf.push(h.counter_reset_hint as u8);
    put_varint(buf, h.schema as i64);
    for v in [h.zero_threshold, h.zero_count, h.count, h.sum] {
        put_be64(buf, v.to_bits());
    }
    put_spans(buf, &h.positive_spans);
    put_spans(buf, &h.negative_spans);
    for buckets in [&h.positive_buckets, &h.negative_buckets] {
        put_uvarint(buf, buckets.len() as u64);
        for b in buckets.iter() {
            put_be64(buf, b.to_bits());
        }
    }
    put_custom(buf, h.schema, &h.custom_values);
}

pub(crate) fn decode_float_histogram(d: &mut Decbuf<'_>) -> Result<FloatHistogram, RecordError> {
    let mut h = FloatHistogram {
        counter_reset_hint: hint_from(d.byte("counter reset hint")?, d.position())?,
        ..Default::default()
    };
    h.schema = i32_from(d.varint("schema")?, "schema", d)?;
    h.zero_threshold = d.f64("zero threshold")?;
    h.zero_count = d.f64("zero count")?;
    h.count = d.f64("count")?;
    h.sum = d.f64("sum")?;
    read_spans(d, &mut h.positive_spans)?;
    read_spans(d, &mut h.negative_spans)?;
    read_floats(d, "bucket count", &mut h.positive_buckets)?;
    read_floats(d, "bucket count", &mut h.negative_buckets)?;
    if h.schema == CUSTOM_BUCKETS_SCHEMA {
        read_floats(d, "custom bucket bound", &mut h.custom_values)?;
    }
    Ok(h)
}

/// Generic v1 layout: `base_ref BE64 | base_t BE64 | {ref delta varint | t delta varint | value}*`
/// with the base taken from the first sample of the input (even one encoded elsewhere).
fn encode_v1<S>(
    typ: RecordType,
    samples: &[S],
    keep: impl Fn(&S) -> bool,
    key: impl Fn(&S) -> (u64, i64),
    enc: impl Fn(&mut Vec<u8>, &S),
    buf: &mut Vec<u8>,
) -> usize {
    buf.clear();
    buf.push(typ as u8);
    let Some(first) = samples.first() else {
        return 0;
    };
    let (base_ref, base_t) = key(first);
    put_be64(buf, base_ref);
    put_be64(buf, base_t as u64);
    let mut n = 0;
    for s in samples.iter().filter(|s| keep(s)) {
        let (r, t) = key(s);
        put_varint(buf, (r as i64).wrapping_sub(base_ref as i64));
        put_varint(buf, t.wrapping_sub(base_t));
        enc(buf, s);
        n += 1;
    }
    n
}

/// Generic v2 layout (with start timestamps).
fn encode_v2<S>(
    typ: RecordType,
    samples: &[S],
    key: impl Fn(&S) -> (u64, i64, i64),
    enc: impl Fn(&mut Vec<u8>, &S),
    buf: &mut Vec<u8>,
) {
    buf.clear();
    buf.push(typ as u8);
    let Some(first) = samples.first() else {
        return;
    };
    let (fref, ft, fst) = key(first);
    put_varint(buf, fref as i64);
    put_varint(buf, ft);
    put_varint(buf, fst);
    enc(buf, first);
    for w in samples.windows(2) {
        let ((pref, _, pst), (r, t, st)) = (key(&w[0]), key(&w[1]));
        put_varint(buf, (r as i64).wrapping_sub(pref as i64));
        put_varint(buf, t.wrapping_sub(ft));
        put_st_marker(buf, st, fst, pst);
        enc(buf, &w[1]);
    }
}

/// Encodes the integer histograms with exponential buckets as a
/// [`RecordType::HistogramSamples`] record, as Prometheus does: custom-bucket ones are left
/// out (encode them with [`encode_custom_buckets_histogram_samples`]), and when nothing is
/// left `buf` ends up empty and must not be logged.
pub fn encode_histogram_samples(samples: &[RefHistogramSample], buf: &mut Vec<u8>) {
    let n = encode_v1(
        RecordType::HistogramSamples,
        samples,
        |s| s.h.schema != CUSTOM_BUCKETS_SCHEMA,
        |s| (s.series_ref, s.t),
        |b, s| encode_histogram(b, &s.h),
        buf,
    );
    if n == 0 && !samples.is_empty() {
        buf.clear();
    }
}

/// Encodes integer histograms as a [`RecordType::CustomBucketsHistogramSamples`] record.
pub fn encode_custom_buckets_histogram_samples(samples: &[RefHistogramSample], buf: &mut Vec<u8>) {
    encode_v1(
        RecordType::CustomBucketsHistogramSamples,
        samples,
        |_| true,
        |s| (s.series_ref, s.t),
        |b, s| encode_histogram(b, &s.h),
        buf,
    );
}

/// Encodes integer histograms with start timestamps as a [`RecordType::HistogramSamplesV2`]
/// record (any schema).
pub fn encode_histogram_samples_v2(samples: &[RefHistogramSample], buf: &mut Vec<u8>) {
    encode_v2(
        RecordType::HistogramSamplesV2,
        samples,
        |s| (s.series_ref, s.t, s.st),
        |b, s| encode_histogram(b, &s.h),
        buf,
    );
}

/// Float-histogram counterpart of [`encode_histogram_samples`]
/// ([`RecordType::FloatHistogramSamples`]).
pub fn encode_float_histogram_samples(samples: &[RefFloatHistogramSample], buf: &mut Vec<u8>) {
    let n = encode_v1(
        RecordType::FloatHistogramSamples,
        samples,
        |s| s.fh.schema != CUSTOM_BUCKETS_SCHEMA,
        |s| (s.series_ref, s.t),
        |b, s| encode_float_histogram(b, &s.fh),
        buf,
    );
    if n == 0 && !samples.is_empty() {
        buf.clear();
    }
}

/// Encodes float histograms as a [`RecordType::CustomBucketsFloatHistogramSamples`] record.
pub fn encode_custom_buckets_float_histogram_samples(
    samples: &[RefFloatHistogramSample],
    buf: &mut Vec<u8>,
) {
    encode_v1(
        RecordType::CustomBucketsFloatHistogramSamples,
        samples,
        |_| true,
        |s| (s.series_ref, s.t),
        |b, s| encode_float_histogram(b, &s.fh),
        buf,
    );
}

/// Encodes float histograms with start timestamps as a
/// [`RecordType::FloatHistogramSamplesV2`] record.
pub fn encode_float_histogram_samples_v2(samples: &[RefFloatHistogramSample], buf: &mut Vec<u8>) {
    encode_v2(
        RecordType::FloatHistogramSamplesV2,
        samples,
        |s| (s.series_ref, s.t, s.st),
        |b, s| encode_float_histogram(b, &s.fh),
        buf,
    );
}

/// Walks a histogram sample record of any version, calling `each(ref, st, t, decoder)`.
fn decode_generic(
    rec: &[u8],
    v1: &[RecordType],
    v2: RecordType,
    expected: &'static str,
    mut each: impl FnMut(u64, i64, i64, &mut Decbuf<'_>) -> Result<(), RecordError>,
) -> Result<(), RecordError> {
    let mut d = Decbuf::new(rec);
    let mut accept = v1.to_vec();
    accept.push(v2);
    let typ = check_type(&mut d, &accept, expected)?;
    if d.is_empty() {
        return Ok(());
    }
    if typ != v2 {
        let base_ref = d.be64("base series ref")?;
        let base_t = d.be64("base timestamp")? as i64;
        while !d.is_empty() {
            let r = (base_ref as i64).wrapping_add(d.varint("series ref delta")?) as u64;
            let t = base_t.wrapping_add(d.varint("timestamp delta")?);
            each(r, 0, t, &mut d)?;
        }
        return Ok(());
    }
    let first_ref = d.varint("first series ref")?;
    let first_t = d.varint("first timestamp")?;
    let first_st = d.varint("first start time")?;
    each(first_ref as u64, first_st, first_t, &mut d)?;
    let (mut prev_ref, mut prev_st) = (first_ref, first_st);
    while !d.is_empty() {
        let r = prev_ref.wrapping_add(d.varint("series ref delta")?);
        let t = first_t.wrapping_add(d.varint("timestamp delta")?);
        let st = read_st_marker(&mut d, prev_st, first_st)?;
        each(r as u64, st, t, &mut d)?;
        (prev_ref, prev_st) = (r, st);
    }
    Ok(())
}

/// Decodes a [`RecordType::HistogramSamples`], [`RecordType::CustomBucketsHistogramSamples`]
/// or [`RecordType::HistogramSamplesV2`] record, appending to `out`.
pub fn decode_histogram_samples(
    rec: &[u8],
    out: &mut Vec<RefHistogramSample>,
) -> Result<(), RecordError> {
    decode_generic(
        rec,
        &[
            RecordType::HistogramSamples,
            RecordType::CustomBucketsHistogramSamples,
        ],
        RecordType::HistogramSamplesV2,
        "histogram samples",
        |series_ref, st, t, d| {
            let h = decode_histogram(d)?;
            out.push(RefHistogramSample {
                series_ref,
                st,
                t,
                h,
            });
            Ok(())
        },
    )
}

/// Decodes a [`RecordType::FloatHistogramSamples`],
/// [`RecordType::CustomBucketsFloatHistogramSamples`] or
/// [`RecordType::FloatHistogramSamplesV2`] record, appending to `out`.
pub fn decode_float_histogram_samples(
    rec: &[u8],
    out: &mut Vec<RefFloatHistogramSample>,
) -> Result<(), RecordError> {
    decode_generic(
        rec,
        &[
            RecordType::FloatHistogramSamples,
            RecordType::CustomBucketsFloatHistogramSamples,
        ],
        RecordType::FloatHistogramSamplesV2,
        "float histogram samples",
        |series_ref, st, t, d| {
            let fh = decode_float_histogram(d)?;
            out.push(RefFloatHistogramSample {
                series_ref,
                st,
                t,
                fh,
            });
            Ok(())
        },
    )
}
