//! WAL records: the entries Prometheus logs (series, samples, histograms, tombstones,
//! exemplars, m-map markers, metadata), their byte layout, encoding and decoding.
//!
//! The first byte of a record is its [`RecordType`]. Integers are big-endian when fixed width;
//! varints are Go's (`uvarint` LEB128, `varint` zigzag); strings are uvarint length + bytes.
//! Our encoders write exactly the bytes Prometheus' `record.Encoder` writes for the same input.
//! Decoders validate every length against the bytes left, so bad input yields a
//! [`RecordError`], never a panic or an outsized allocation.

mod encoding;
mod histogram;

use chunkenc::{FloatHistogram, Histogram};
use tsdb_index::Labels;

use encoding::{put_be64, put_str, put_uvarint, put_varint, Decbuf};
pub use histogram::{
    decode_float_histogram_samples, decode_histogram_samples,
    encode_custom_buckets_float_histogram_samples, encode_custom_buckets_histogram_samples,
    encode_float_histogram_samples, encode_float_histogram_samples_v2, encode_histogram_samples,
    encode_histogram_samples_v2,
};

/// Reference of a series in the head (and in the WAL).
pub type HeadSeriesRef = u64;

/// The kinds of WAL record, by their first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordType {
    /// New series and their labels.
    Series = 1,
    /// Float samples.
    Samples = 2,
    /// Deletion intervals.
    Tombstones = 3,
    /// Exemplars.
    Exemplars = 4,
    /// Head chunks m-mapped to `chunks_head/` (out-of-order WBL).
    MmapMarkers = 5,
    /// Series metadata (type, unit, help).
    Metadata = 6,
    /// Integer native histogram samples.
    HistogramSamples = 7,
    /// Float native histogram samples.
    FloatHistogramSamples = 8,
    /// Integer histograms with custom buckets (NHCB).
    CustomBucketsHistogramSamples = 9,
    /// Float histograms with custom buckets (NHCB).
    CustomBucketsFloatHistogramSamples = 10,
    /// Float samples with start timestamps.
    SamplesV2 = 11,
    /// Integer histogram samples with start timestamps.
    HistogramSamplesV2 = 12,
    /// Float histogram samples with start timestamps.
    FloatHistogramSamplesV2 = 13,
}

impl RecordType {
    /// The type of an encoded record, `None` if empty or unknown.
    pub fn of(rec: &[u8]) -> Option<RecordType> {
        use RecordType::*;
        Some(match *rec.first()? {
            1 => Series,
            2 => Samples,
            3 => Tombstones,
            4 => Exemplars,
            5 => MmapMarkers,
            6 => Metadata,
            7 => HistogramSamples,
            8 => FloatHistogramSamples,
            9 => CustomBucketsHistogramSamples,
            10 => CustomBucketsFloatHistogramSamples,
            11 => SamplesV2,
            12 => HistogramSamplesV2,
            13 => FloatHistogramSamplesV2,
            _ => return None,
        })
    }
}

/// Why a record failed to decode. Offsets are bytes from the start of the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record's type byte is not the one the decoder handles.
    #[error("invalid record type {found}, expected {expected}")]
    WrongType {
        /// The type byte found (0 for an empty record).
        found: u8,
        /// What the decoder accepts.
        expected: &'static str,
    },
    /// The record ended inside a field.
    #[error("record truncated reading {what} at offset {offset}")]
    Truncated {
        /// The field.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// A varint longer than 64 bits.
    #[error("varint overflow reading {what} at offset {offset}")]
    VarintOverflow {
        /// The field.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// A count or length larger than the bytes left could hold.
    #[error("impossible {what} length {len} at offset {offset}")]
    BadLength {
        /// The field.
        what: &'static str,
        /// The length read.
        len: u64,
        /// Where.
        offset: usize,
    },
    /// A label name or value that is not UTF-8.
    #[error("{what} at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// A value out of range for its field (e.g. a span offset beyond 32 bits).
    #[error("{what} out of range at offset {offset}")]
    OutOfRange {
        /// The field.
        what: &'static str,
        /// Where.
        offset: usize,
    },
}

/// A series record entry: reference and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct RefSeries {
    /// The series' head reference.
    pub series_ref: HeadSeriesRef,
    /// Its labels.
    pub labels: Labels,
}

/// A float sample of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    /// The series.
    pub series_ref: HeadSeriesRef,
    /// Start timestamp (ms), 0 when unknown; only stored by [`RecordType::SamplesV2`].
    pub st: i64,
    /// Timestamp (ms).
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// An integer native histogram sample of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct RefHistogramSample {
    /// The series.
    pub series_ref: HeadSeriesRef,
    /// Start timestamp (ms), 0 when unknown; only stored by v2 records.
    pub st: i64,
    /// Timestamp (ms).
    pub t: i64,
    /// Value.
    pub h: Histogram,
}

/// A float native histogram sample of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct RefFloatHistogramSample {
    /// The series.
    pub series_ref: HeadSeriesRef,
    /// Start timestamp (ms), 0 when unknown; only stored by v2 records.
    pub st: i64,
    /// Timestamp (ms).
    pub t: i64,
    /// Value.
    pub fh: FloatHistogram,
}

/// One deletion interval `[mint, maxt]` (inclusive) of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefTombstone {
    /// The series.
    pub series_ref: HeadSeriesRef,
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

/// An exemplar of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct RefExemplar {
    /// The series.
    pub series_ref: HeadSeriesRef,
    /// Timestamp (ms).
    pub t: i64,
    /// Value.
    pub v: f64,
    /// The exemplar's own labels (e.g. a trace ID).
    pub labels: Labels,
}

/// A marker that a head chunk of a series was written to `chunks_head/` at `mmap_ref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefMmapMarker {
    /// The series.
    pub series_ref: HeadSeriesRef,
    /// The chunk's reference in the head chunk files.
    pub mmap_ref: u64,
}

/// Metadata of a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefMetadata {
    /// The series.
    pub series_ref: HeadSeriesRef,
    /// Metric type (0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gauge histogram, 5 summary,
    /// 6 info, 7 stateset).
    pub typ: u8,
    /// Unit.
    pub unit: String,
    /// Help text.
    pub help: String,
}

const UNIT_FIELD: &str = "UNIT";
const HELP_FIELD: &str = "HELP";

/// Start-timestamp markers of v2 sample records.
const NO_ST: u8 = 0;
const SAME_ST: u8 = 1;
const EXPLICIT_ST: u8 = 2;

fn check_type(
    d: &mut Decbuf<'_>,
    accept: &[RecordType],
    expected: &'static str,
) -> Result<RecordType, RecordError> {
    let found = d.byte("record type").unwrap_or(0);
    match RecordType::of(&[found]) {
        Some(t) if accept.contains(&t) => Ok(t),
        _ => Err(RecordError::WrongType { found, expected }),
    }
}

fn encode_labels(buf: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(buf, labels.len() as u64);
    for l in labels.iter() {
        put_str(buf, l.name);
        put_str(buf, l.value);
    }
}

fn decode_labels<'a>(
    d: &mut Decbuf<'a>,
    scratch: &mut Vec<(&'a str, &'a str)>,
) -> Result<Labels, RecordError> {
    let n = d.len("label count", 2)?;
    scratch.clear();
    for _ in 0..n {
        let name = d.str("label name")?;
        let value = d.str("label value")?;
        scratch.push((name, value));
    }
    // Prometheus writes labels sorted with unique names; anything else is normalised.
    if scratch.windows(2).all(|w| w[0].0 < w[1].0) {
        Ok(Labels::from_sorted(scratch.iter().copied()))
    } else {
        Ok(Labels::from_pairs(scratch.iter().copied()))
    }
}

/// Encodes a [`RecordType::Series`] record into `buf` (cleared first).
pub fn encode_series(series: &[RefSeries], buf: &mut Vec<u8>) {
    buf.clear();
    buf.push(RecordType::Series as u8);
    for s in series {
        put_be64(buf, s.series_ref);
        encode_labels(buf, &s.labels);
    }
}

/// Decodes a [`RecordType::Series`] record, appending to `out`.
pub fn decode_series(rec: &[u8], out: &mut Vec<RefSeries>) -> Result<(), RecordError> {
    let mut d = Decbuf::new(rec);
    check_type(&mut d, &[RecordType::Series], "series")?;
    let mut scratch = Vec::new();
    while !d.is_empty() {
        let series_ref = d.be64("series ref")?;
        let labels = decode_labels(&mut d, &mut scratch)?;
        out.push(RefSeries { series_ref, labels });
    }
    Ok(())
}

/// Encodes a [`RecordType::Metadata`] record into `buf` (cleared first).
pub fn encode_metadata(metadata: &[RefMetadata], buf: &mut Vec<u8>) {
    buf.clear();
    buf.push(RecordType::Metadata as u8);
    for m in metadata {
        put_uvarint(buf, m.series_ref);
        buf.push(m.typ);
        put_uvarint(buf, 2);
        put_str(buf, UNIT_FIELD);
        put_str(buf, &m.unit);
        put_str(buf, HELP_FIELD);
        put_str(buf, &m.help);
    }
}

/// Decodes a [`RecordType::Metadata`] record, appending to `out`. Unknown fields are skipped.
pub fn decode_metadata(rec: &[u8], out: &mut Vec<RefMetadata>) -> Result<(), RecordError> {
    let mut d = Decbuf::new(rec);
    check_type(&mut d, &[RecordType::Metadata], "metadata")?;
    while !d.is_empty() {
        let series_ref = d.uvarint("metadata series ref")?;
        let typ = d.byte("metadata type")?;
        let fields = d.len("metadata field count", 2)?;
        let (mut unit, mut help) = (String::new(), String::new());
        for _ in 0..fields {
            let name = d.str("metadata field name")?;
            let value = d.str("metadata field value")?;
            match name {
                UNIT_FIELD => unit = value.to_string(),
                HELP_FIELD => help = value.to_string(),
                _ => {}
            }
        }
        out.push(RefMetadata {
            series_ref,
            typ,
            unit,
            help,
        });
    }
    Ok(())
}

/// Encodes float samples as a [`RecordType::Samples`] record (start timestamps are not
/// stored), as Prometheus 3.x does by default.
pub fn encode_samples(samples: &[RefSample], buf: &mut Vec<u8>) {
    buf.clear();
    buf.push(RecordType::Samples as u8);
    let Some(first) = samples.first() else {
        return;
    };
    put_be64(buf, first.series_ref);
    put_be64(buf, first.t as u64);
    for s in samples {
        put_varint(
            buf,
            (s.series_ref as i64).wrapping_sub(first.series_ref as i64),
        );
        put_varint(buf, s.t.wrapping_sub(first.t));
        put_be64(buf, s.v.to_bits());
    }
}

fn put_st_marker(buf: &mut Vec<u8>, st: i64, first_st: i64, prev_st: i64) {
    if st == 0 {
        buf.push(NO_ST);
    } else if st == prev_st {
        buf.push(SAME_ST);
    } else {
        buf.push(EXPLICIT_ST);
        put_varint(buf, st.wrapping_sub(first_st));
    }
}

fn read_st_marker(d: &mut Decbuf<'_>, prev_st: i64, first_st: i64) -> Result<i64, RecordError> {
    Ok(match d.byte("start time marker")? {
        NO_ST => 0,
        SAME_ST => prev_st,
        _ => first_st.wrapping_add(d.varint("start time")?),
    })
}

/// Encodes float samples with start timestamps as a [`RecordType::SamplesV2`] record.
pub fn encode_samples_v2(samples: &[RefSample], buf: &mut Vec<u8>) {
    buf.clear();
    buf.push(RecordType::SamplesV2 as u8);
    let Some(first) = samples.first() else {
        return;
    };
    put_varint(buf, first.series_ref as i64);
    put_varint(buf, first.t);
    put_varint(buf, first.st);
    put_be64(buf, first.v.to_bits());
    for w in samples.windows(2) {
        let (prev, s) = (&w[0], &w[1]);
        put_varint(
            buf,
            (s.series_ref as i64).wrapping_sub(prev.series_ref as i64),
        );
        put_varint(buf, s.t.wrapping_sub(first.t));
        put_st_marker(buf, s.st, first.st, prev.st);
        put_be64(buf, s.v.to_bits());
    }
}

/// Decodes a [`RecordType::Samples`] or [`RecordType::SamplesV2`] record, appending to `out`.
pub fn decode_samples(rec: &[u8], out: &mut Vec<RefSample>) -> Result<(), RecordError> {
    let mut d = Decbuf::new(rec);
    let typ = check_type(
        &mut d,
        &[RecordType::Samples, RecordType::SamplesV2],
        "samples or samples v2",
    )?;
    if d.is_empty() {
        return Ok(());
    }
    out.reserve(d.remaining() / 10);
    if typ == RecordType::Samples {
        let base_ref = d.be64("base series ref")?;
        let base_t = d.be64("base timestamp")? as i64;
        while !d.is_empty() {
            let dref = d.varint("series ref delta")?;
            let dt = d.varint("timestamp delta")?;
            let v = d.f64("sample value")?;
            out.push(RefSample {
                series_ref: (base_ref as i64).wrapping_add(dref) as u64,
                st: 0,
                t: base_t.wrapping_add(dt),
                v,
            });
        }
        return Ok(());
    }
    let first_ref = d.varint("first series ref")?;
    let first_t = d.varint("first timestamp")?;
    let first_st = d.varint("first start time")?;
    let v = d.f64("sample value")?;
    out.push(RefSample {
        series_ref: first_ref as u64,
        st: first_st,
        t: first_t,
        v,
    });
    let (mut prev_ref, mut prev_st) = (first_ref, first_st);
    while !d.is_empty() {
        let series_ref = prev_ref.wrapping_add(d.varint("series ref delta")?);
        let t = first_t.wrapping_add(d.varint("timestamp delta")?);
        let st = read_st_marker(&mut d, prev_st, first_st)?;
        let v = d.f64("sample value")?;
        out.push(RefSample {
            series_ref: series_ref as u64,
            st,
            t,
            v,
        });
        (prev_ref, prev_st) = (series_ref, st);
    }
    Ok(())
}

/// Encodes a [`RecordType::Tombstones`] record into `buf` (cleared first).
pub fn encode_tombstones(stones: &[RefTombstone], buf: &mut Vec<u8>) {
    buf.clear();
    buf.push(RecordType::Tombstones as u8);
    for s in stones {
        put_be64(buf, s.series_ref);
        put_varint(buf, s.mint);
        put_varint(buf, s.maxt);
    }
}

/// Decodes a [`RecordType::Tombstones`] record, appending to `out`.
pub fn decode_tombstones(rec: &[u8], out: &mut Vec<RefTombstone>) -> Result<(), RecordError> {
    let mut d = Decbuf::new(rec);
    check_type(&mut d, &[RecordType::Tombstones], "tombstones")?;
    while !d.is_empty() {
        out.push(RefTombstone {
            series_ref: d.be64("tombstone series ref")?,
            mint: d.varint("tombstone mint")?,
            maxt: d.varint("tombstone maxt")?,
        });
    }
    Ok(())
}

/// Encodes a [`RecordType::Exemplars`] record into `buf` (cleared first).
pub fn encode_exemplars(exemplars: &[RefExemplar], buf: &mut Vec<u8>) {
    buf.clear();
    buf.push(RecordType::Exemplars as u8);
    let Some(first) = exemplars.first() else {
        return;
    };
    put_be64(buf, first.series_ref);
    put_be64(buf, first.t as u64);
    for e in exemplars {
        put_varint(
            buf,
            (e.series_ref as i64).wrapping_sub(first.series_ref as i64),
        );
        put_varint(buf, e.t.wrapping_sub(first.t));
        put_be64(buf, e.v.to_bits());
        encode_labels(buf, &e.labels);
    }
}

/// Decodes a [`RecordType::Exemplars`] record, appending to `out`.
pub fn decode_exemplars(rec: &[u8], out: &mut Vec<RefExemplar>) -> Result<(), RecordError> {
    let mut d = Decbuf::new(rec);
    check_type(&mut d, &[RecordType::Exemplars], "exemplars")?;
    if d.is_empty() {
        return Ok(());
    }
    let base_ref = d.be64("base series ref")?;
    let base_t = d.be64("base timestamp")? as i64;
    let mut scratch = Vec::new();
    while !d.is_empty() {
        let dref = d.varint("series ref delta")?;
        let dt = d.varint("timestamp delta")?;
        let v = d.f64("exemplar value")?;
        let labels = decode_labels(&mut d, &mut scratch)?;
        out.push(RefExemplar {
            series_ref: base_ref.wrapping_add(dref as u64),
            t: base_t.wrapping_add(dt),
            v,
            labels,
        });
    }
    Ok(())
}

/// Encodes a [`RecordType::MmapMarkers`] record into `buf` (cleared first).
pub fn encode_mmap_markers(markers: &[RefMmapMarker], buf: &mut Vec<u8>) {
    buf.clear();
    buf.push(RecordType::MmapMarkers as u8);
    for m in markers {
        put_be64(buf, m.series_ref);
        put_be64(buf, m.mmap_ref);
    }
}

/// Decodes a [`RecordType::MmapMarkers`] record, appending to `out`.
pub fn decode_mmap_markers(rec: &[u8], out: &mut Vec<RefMmapMarker>) -> Result<(), RecordError> {
    let mut d = Decbuf::new(rec);
    check_type(&mut d, &[RecordType::MmapMarkers], "mmap markers")?;
    while !d.is_empty() {
        out.push(RefMmapMarker {
            series_ref: d.be64("marker series ref")?,
            mmap_ref: d.be64("marker mmap ref")?,
        });
    }
    Ok(())
}
