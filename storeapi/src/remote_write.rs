//! Decoding of Prometheus remote-write request bodies (protocol 1.0 and 2.0) into the
//! workspace's own types: [`Labels`], float samples `(timestamp_ms, value)` and native
//! histograms ([`Histogram`] / [`FloatHistogram`]).
//!
//! A body is snappy block-format compressed protobuf. The decoder checks the announced
//! decompressed length against a limit before allocating, decodes the protobuf message that the
//! `Content-Type` names, resolves v2 symbol references with bounds checks and validates every
//! series' labels the way Prometheus' receiver does (a metric name is required, label names are
//! non-empty and unique). Any defect yields a [`RemoteWriteError`]; nothing panics.

use chunkenc::{CounterResetHint, FloatHistogram, Histogram, Span};
use prost::Message;
use tsdb_index::labels::{Labels, METRIC_NAME};

use crate::prompb::{self, histogram, metric_metadata::MetricType, write_v2, BucketSpan};

/// Default limit on the decompressed size of one request body: 32 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_LEN: usize = 32 << 20;

/// `proto` parameter naming the v1 message.
pub const PROTO_V1: &str = "prometheus.WriteRequest";
/// `proto` parameter naming the v2 message.
pub const PROTO_V2: &str = "io.prometheus.write.v2.Request";

/// Which remote-write protobuf message a body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// Remote-write 1.0: `prometheus.WriteRequest`.
    V1,
    /// Remote-write 2.0: `io.prometheus.write.v2.Request`.
    V2,
}

/// Why a remote-write request could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    /// The `Content-Type` is not `application/x-protobuf` or is malformed.
    #[error("unsupported content type {0:?}: expected application/x-protobuf")]
    UnsupportedContentType(String),
    /// The `proto` parameter names a message this receiver does not accept.
    #[error("unsupported remote-write message {0:?}: expected {PROTO_V1} or {PROTO_V2}")]
    UnsupportedProtoMessage(String),
    /// The `Content-Encoding` is neither empty nor `snappy`.
    #[error("unsupported content encoding {0:?}: only snappy is accepted")]
    UnsupportedContentEncoding(String),
    /// The body is not valid snappy block format.
    #[error("snappy decompression failed: {0}")]
    Snappy(#[source] snap::Error),
    /// The snappy header announces more bytes than the configured limit allows.
    #[error("decompressed body would be {len} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Announced decompressed length.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The decompressed body is not a valid protobuf encoding of the expected message.
    #[error("invalid protobuf {message}: {source}")]
    Protobuf {
        /// The message that was being decoded.
        message: &'static str,
        /// The decoder's error.
        #[source]
        source: prost::DecodeError,
    },
    /// A v2 label reference list has an odd length (it must hold name/value pairs).
    #[error("series {series}: {what} has an odd number of label references ({len})")]
    OddLabelRefs {
        /// Index of the series in the request.
        series: usize,
        /// Which reference list (series labels, exemplar labels).
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A v2 symbol reference points past the end of the symbol table.
    #[error("series {series}: {what} refers to symbol {reference}, but the table has {len}")]
    SymbolOutOfRange {
        /// Index of the series in the request.
        series: usize,
        /// Which field held the reference.
        what: &'static str,
        /// The reference.
        reference: u32,
        /// Number of symbols in the table.
        len: usize,
    },
    /// A label has an empty name.
    #[error("series {series}: {what} contain a label with an empty name")]
    EmptyLabelName {
        /// Index of the series in the request.
        series: usize,
        /// Which label set (series labels, exemplar labels).
        what: &'static str,
    },
    /// The same label name appears twice in one label set.
    #[error("series {series}: {what} contain label name {name:?} more than once")]
    DuplicateLabelName {
        /// Index of the series in the request.
        series: usize,
        /// Which label set.
        what: &'static str,
        /// The repeated name.
        name: String,
    },
    /// A series has no (or an empty) `__name__` label.
    #[error("series {series}: no metric name in labels {labels}")]
    MissingMetricName {
        /// Index of the series in the request.
        series: usize,
        /// The series' labels, Prometheus-formatted.
        labels: String,
    },
    /// A native histogram sample is inconsistent.
    #[error("series {series}: histogram {index}: {reason}")]
    InvalidHistogram {
        /// Index of the series in the request.
        series: usize,
        /// Index of the histogram within the series.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Picks the protocol version from a `Content-Type` header value, as Prometheus' receiver does:
/// an empty value or no `proto` parameter means v1.
pub fn protocol_from_content_type(content_type: &str) -> Result<ProtocolVersion, RemoteWriteError> {
    let content_type = content_type.trim();
    if content_type.is_empty() {
        return Ok(ProtocolVersion::V1);
    }
    let unsupported = || RemoteWriteError::UnsupportedContentType(content_type.to_string());
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(unsupported());
    }
    let mut proto = None;
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (key, value) = param.split_once('=').ok_or_else(unsupported)?;
        if key.trim().eq_ignore_ascii_case("proto") {
            proto = Some(value.trim().trim_matches('"'));
        }
    }
    match proto {
        None | Some(PROTO_V1) => Ok(ProtocolVersion::V1),
        Some(PROTO_V2) => Ok(ProtocolVersion::V2),
        Some(other) => Err(RemoteWriteError::UnsupportedProtoMessage(other.to_string())),
    }
}

/// Checks a `Content-Encoding` header value: empty (old 1.0 clients) or `snappy`.
pub fn check_content_encoding(content_encoding: &str) -> Result<(), RemoteWriteError> {
    let enc = content_encoding.trim();
    if enc.is_empty() || enc.eq_ignore_ascii_case("snappy") {
        Ok(())
    } else {
        Err(RemoteWriteError::UnsupportedContentEncoding(
            enc.to_string(),
        ))
    }
}

/// A native histogram sample, integer or float as the sender encoded it.
#[derive(Debug, Clone, PartialEq)]
pub enum HistogramSample {
    /// Integer counts.
    Int(Histogram),
    /// Float counts.
    Float(FloatHistogram),
}

/// Type, help and unit of a metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Metric type (values unknown to this receiver decode as `Unknown`).
    pub metric_type: MetricType,
    /// Help text (empty if unset).
    pub help: String,
    /// Unit (empty if unset).
    pub unit: String,
}

/// Metadata of a metric family, as v1 requests carry it (apart from the series).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyMetadata {
    /// The metric family name.
    pub metric_family_name: String,
    /// Its metadata.
    pub metadata: Metadata,
}

/// An exemplar with resolved labels.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedExemplar {
    /// Exemplar labels.
    pub labels: Labels,
    /// Observed value.
    pub value: f64,
    /// Timestamp in milliseconds.
    pub timestamp: i64,
}

/// One decoded, validated series.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedSeries {
    /// The series' labels (sorted, unique names, with a metric name).
    pub labels: Labels,
    /// Float samples as `(timestamp_ms, value)`, in the order sent.
    pub samples: Vec<(i64, f64)>,
    /// Native histogram samples as `(timestamp_ms, histogram)`, in the order sent.
    pub histograms: Vec<(i64, HistogramSample)>,
    /// Exemplars.
    pub exemplars: Vec<DecodedExemplar>,
    /// v2 only: the series' metadata, if sent.
    pub metadata: Option<Metadata>,
    /// v2 only: created timestamp in milliseconds as Prometheus 3.5 sends it (0 = unset).
    pub created_timestamp: i64,
}

/// A decoded remote-write request.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedWrite {
    /// The protocol the body was decoded as.
    pub version: ProtocolVersion,
    /// The series, in request order.
    pub series: Vec<DecodedSeries>,
    /// v1 only: metric family metadata.
    pub metadata: Vec<FamilyMetadata>,
}

impl DecodedWrite {
    /// Total number of float samples.
    pub fn num_samples(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// Total number of histogram samples.
    pub fn num_histograms(&self) -> usize {
        self.series.iter().map(|s| s.histograms.len()).sum()
    }
}

/// Decoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Largest decompressed body accepted, in bytes.
    pub max_decompressed_len: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_decompressed_len: DEFAULT_MAX_DECOMPRESSED_LEN,
        }
    }
}

/// Decodes a snappy-compressed request body with the default options.
pub fn decode_write_request(
    body: &[u8],
    version: ProtocolVersion,
) -> Result<DecodedWrite, RemoteWriteError> {
    decode_write_request_with(body, version, &DecodeOptions::default())
}

/// Decodes a snappy-compressed request body.
pub fn decode_write_request_with(
    body: &[u8],
    version: ProtocolVersion,
    opts: &DecodeOptions,
) -> Result<DecodedWrite, RemoteWriteError> {
    let raw = decompress(body, opts.max_decompressed_len)?;
    match version {
        ProtocolVersion::V1 => {
            let req = prompb::WriteRequest::decode(raw.as_slice()).map_err(|source| {
                RemoteWriteError::Protobuf {
                    message: PROTO_V1,
                    source,
                }
            })?;
            convert_v1(req)
        }
        ProtocolVersion::V2 => {
            let req = write_v2::Request::decode(raw.as_slice()).map_err(|source| {
                RemoteWriteError::Protobuf {
                    message: PROTO_V2,
                    source,
                }
            })?;
            convert_v2(req)
        }
    }
}

/// Snappy block decompression with the length checked before the buffer is allocated.
fn decompress(body: &[u8], limit: usize) -> Result<Vec<u8>, RemoteWriteError> {
    let len = snap::raw::decompress_len(body).map_err(RemoteWriteError::Snappy)?;
    if len > limit {
        return Err(RemoteWriteError::TooLarge { len, limit });
    }
    let mut out = vec![0u8; len];
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut out)
        .map_err(RemoteWriteError::Snappy)?;
    out.truncate(n);
    Ok(out)
}

const SERIES_LABELS: &str = "series labels";
const EXEMPLAR_LABELS: &str = "exemplar labels";

/// Builds a label set from pairs, rejecting empty and duplicate names.
fn build_labels<'a>(
    mut pairs: Vec<(&'a str, &'a str)>,
    series: usize,
    what: &'static str,
) -> Result<Labels, RemoteWriteError> {
    // Senders sort by name, so this is usually a no-op pass; sorting lets duplicates be found as
    // neighbours.
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    for (i, &(name, _)) in pairs.iter().enumerate() {
        if name.is_empty() {
            return Err(RemoteWriteError::EmptyLabelName { series, what });
        }
        if i > 0 && pairs[i - 1].0 == name {
            return Err(RemoteWriteError::DuplicateLabelName {
                series,
                what,
                name: name.to_string(),
            });
        }
    }
    // An empty value means "label absent" in Prometheus; such pairs are dropped after the
    // duplicate check so that `a=""` next to `a="x"` is still reported.
    Ok(Labels::from_sorted(
        pairs.into_iter().filter(|(_, value)| !value.is_empty()),
    ))
}

/// Series labels additionally need a metric name.
fn series_labels(pairs: Vec<(&str, &str)>, series: usize) -> Result<Labels, RemoteWriteError> {
    let labels = build_labels(pairs, series, SERIES_LABELS)?;
    match labels.get(METRIC_NAME) {
        Some(name) if !name.is_empty() => Ok(labels),
        _ => Err(RemoteWriteError::MissingMetricName {
            series,
            labels: labels.to_string(),
        }),
    }
}

fn metric_type(v: i32) -> MetricType {
    // Types added by newer senders are kept as "unknown" rather than failing the whole request.
    MetricType::try_from(v).unwrap_or(MetricType::Unknown)
}

/// Builds a [`HistogramView`] over a v1 or v2 protobuf histogram: both messages carry the same
/// fields under the same names.
macro_rules! histogram_view {
    ($h:expr) => {
        HistogramView {
            count: $h.count,
            sum: $h.sum,
            schema: $h.schema,
            zero_threshold: $h.zero_threshold,
            zero_count: $h.zero_count,
            negative_spans: &$h.negative_spans,
            negative_deltas: &$h.negative_deltas,
            negative_counts: &$h.negative_counts,
            positive_spans: &$h.positive_spans,
            positive_deltas: &$h.positive_deltas,
            positive_counts: &$h.positive_counts,
            reset_hint: $h.reset_hint,
            custom_values: &$h.custom_values,
        }
    };
}

/// Converts the histograms of series `series` (timestamp and view each), naming the index of
/// the first one that is inconsistent.
fn decode_histograms<'a>(
    views: impl Iterator<Item = (i64, HistogramView<'a>)>,
    series: usize,
) -> Result<Vec<(i64, HistogramSample)>, RemoteWriteError> {
    views
        .enumerate()
        .map(|(index, (t, view))| {
            view.convert().map(|value| (t, value)).map_err(|reason| {
                RemoteWriteError::InvalidHistogram {
                    series,
                    index,
                    reason,
                }
            })
        })
        .collect()
}

fn convert_v1(req: prompb::WriteRequest) -> Result<DecodedWrite, RemoteWriteError> {
    let mut series = Vec::with_capacity(req.timeseries.len());
    for (si, ts) in req.timeseries.into_iter().enumerate() {
        let pairs = ts
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        let labels = series_labels(pairs, si)?;
        let mut exemplars = Vec::with_capacity(ts.exemplars.len());
        for e in &ts.exemplars {
            let pairs = e
                .labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str()))
                .collect();
            exemplars.push(DecodedExemplar {
                labels: build_labels(pairs, si, EXEMPLAR_LABELS)?,
                value: e.value,
                timestamp: e.timestamp,
            });
        }
        let histograms = decode_histograms(
            ts.histograms
                .iter()
                .map(|h| (h.timestamp, histogram_view!(h))),
            si,
        )?;
        series.push(DecodedSeries {
            labels,
            samples: ts.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
            histograms,
            exemplars,
            metadata: None,
            created_timestamp: 0,
        });
    }
    let metadata = req
        .metadata
        .into_iter()
        .map(|m| FamilyMetadata {
            metadata: Metadata {
                metric_type: metric_type(m.r#type),
                help: m.help,
                unit: m.unit,
            },
            metric_family_name: m.metric_family_name,
        })
        .collect();
    Ok(DecodedWrite {
        version: ProtocolVersion::V1,
        series,
        metadata,
    })
}

/// Resolves one symbol reference.
fn symbol<'a>(
    symbols: &'a [String],
    reference: u32,
    series: usize,
    what: &'static str,
) -> Result<&'a str, RemoteWriteError> {
    symbols
        .get(reference as usize)
        .map(String::as_str)
        .ok_or(RemoteWriteError::SymbolOutOfRange {
            series,
            what,
            reference,
            len: symbols.len(),
        })
}

/// Resolves a `[name, value, name, value, ...]` reference list into pairs.
fn resolve_pairs<'a>(
    symbols: &'a [String],
    refs: &[u32],
    series: usize,
    what: &'static str,
) -> Result<Vec<(&'a str, &'a str)>, RemoteWriteError> {
    if refs.len() % 2 != 0 {
        return Err(RemoteWriteError::OddLabelRefs {
            series,
            what,
            len: refs.len(),
        });
    }
    refs.chunks_exact(2)
        .map(|p| {
            Ok((
                symbol(symbols, p[0], series, what)?,
                symbol(symbols, p[1], series, what)?,
            ))
        })
        .collect()
}

fn convert_v2(req: write_v2::Request) -> Result<DecodedWrite, RemoteWriteError> {
    let symbols = &req.symbols;
    let mut series = Vec::with_capacity(req.timeseries.len());
    for (si, ts) in req.timeseries.iter().enumerate() {
        let labels = series_labels(
            resolve_pairs(symbols, &ts.labels_refs, si, SERIES_LABELS)?,
            si,
        )?;
        let mut exemplars = Vec::with_capacity(ts.exemplars.len());
        for e in &ts.exemplars {
            let pairs = resolve_pairs(symbols, &e.labels_refs, si, EXEMPLAR_LABELS)?;
            exemplars.push(DecodedExemplar {
                labels: build_labels(pairs, si, EXEMPLAR_LABELS)?,
                value: e.value,
                timestamp: e.timestamp,
            });
        }
        let histograms = decode_histograms(
            ts.histograms
                .iter()
                .map(|h| (h.timestamp, histogram_view!(h))),
            si,
        )?;
        let metadata = match &ts.metadata {
            Some(m) => Some(Metadata {
                metric_type: metric_type(m.r#type),
                help: symbol(symbols, m.help_ref, si, "metadata help")?.to_string(),
                unit: symbol(symbols, m.unit_ref, si, "metadata unit")?.to_string(),
            }),
            None => None,
        };
        series.push(DecodedSeries {
            labels,
            samples: ts.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
            histograms,
            exemplars,
            metadata,
            created_timestamp: ts.created_timestamp,
        });
    }
    Ok(DecodedWrite {
        version: ProtocolVersion::V2,
        series,
        metadata: Vec::new(),
    })
}

/// The histogram fields shared by the v1 and v2 messages.
struct HistogramView<'a> {
    count: Option<histogram::Count>,
    sum: f64,
    schema: i32,
    zero_threshold: f64,
    zero_count: Option<histogram::ZeroCount>,
    negative_spans: &'a [BucketSpan],
    negative_deltas: &'a [i64],
    negative_counts: &'a [f64],
    positive_spans: &'a [BucketSpan],
    positive_deltas: &'a [i64],
    positive_counts: &'a [f64],
    reset_hint: i32,
    custom_values: &'a [f64],
}

fn spans(s: &[BucketSpan]) -> Vec<Span> {
    s.iter()
        .map(|s| Span {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

/// Checks that spans describe exactly `buckets` buckets.
fn check_spans(s: &[BucketSpan], buckets: usize, side: &str) -> Result<(), String> {
    let total: u64 = s.iter().map(|s| u64::from(s.length)).sum();
    if total != buckets as u64 {
        return Err(format!(
            "{side} spans cover {total} buckets but {buckets} bucket counts were sent"
        ));
    }
    Ok(())
}

impl HistogramView<'_> {
    /// Converts to our histogram type; the `count` oneof decides integer vs float, as in
    /// Prometheus (an absent count means integer).
    fn convert(&self) -> Result<HistogramSample, String> {
        let hint = match histogram::ResetHint::try_from(self.reset_hint) {
            Ok(histogram::ResetHint::Unknown) => CounterResetHint::Unknown,
            Ok(histogram::ResetHint::Yes) => CounterResetHint::CounterReset,
            Ok(histogram::ResetHint::No) => CounterResetHint::NotCounterReset,
            Ok(histogram::ResetHint::Gauge) => CounterResetHint::Gauge,
            Err(_) => return Err(format!("unknown reset hint {}", self.reset_hint)),
        };
        match self.count {
            Some(histogram::Count::CountFloat(count)) => {
                if !self.positive_deltas.is_empty() || !self.negative_deltas.is_empty() {
                    return Err("float histogram carries integer bucket deltas".into());
                }
                let zero_count = match self.zero_count {
                    Some(histogram::ZeroCount::ZeroCountFloat(z)) => z,
                    Some(histogram::ZeroCount::ZeroCountInt(_)) => {
                        return Err("float histogram has an integer zero count".into())
                    }
                    None => 0.0,
                };
                check_spans(self.positive_spans, self.positive_counts.len(), "positive")?;
                check_spans(self.negative_spans, self.negative_counts.len(), "negative")?;
                Ok(HistogramSample::Float(FloatHistogram {
                    counter_reset_hint: hint,
                    schema: self.schema,
                    zero_threshold: self.zero_threshold,
                    zero_count,
                    count,
                    sum: self.sum,
                    positive_spans: spans(self.positive_spans),
                    negative_spans: spans(self.negative_spans),
                    positive_buckets: self.positive_counts.to_vec(),
                    negative_buckets: self.negative_counts.to_vec(),
                    custom_values: self.custom_values.to_vec(),
                }))
            }
            Some(histogram::Count::CountInt(_)) | None => {
                let count = match self.count {
                    Some(histogram::Count::CountInt(c)) => c,
                    _ => 0,
                };
                if !self.positive_counts.is_empty() || !self.negative_counts.is_empty() {
                    return Err("integer histogram carries float bucket counts".into());
                }
                let zero_count = match self.zero_count {
                    Some(histogram::ZeroCount::ZeroCountInt(z)) => z,
                    Some(histogram::ZeroCount::ZeroCountFloat(_)) => {
                        return Err("integer histogram has a float zero count".into())
                    }
                    None => 0,
                };
                check_spans(self.positive_spans, self.positive_deltas.len(), "positive")?;
                check_spans(self.negative_spans, self.negative_deltas.len(), "negative")?;
                Ok(HistogramSample::Int(Histogram {
                    counter_reset_hint: hint,
                    schema: self.schema,
                    zero_threshold: self.zero_threshold,
                    zero_count,
                    count,
                    sum: self.sum,
                    positive_spans: spans(self.positive_spans),
                    negative_spans: spans(self.negative_spans),
                    positive_buckets: self.positive_deltas.to_vec(),
                    negative_buckets: self.negative_deltas.to_vec(),
                    custom_values: self.custom_values.to_vec(),
                }))
            }
        }
    }
}
