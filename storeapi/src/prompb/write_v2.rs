//! Protobuf messages of remote-write 2.0 (`io.prometheus.write.v2.Request`, Prometheus'
//! `prompb/io/prometheus/write/v2/types.proto`).
//!
//! Strings are interned: the request holds one `symbols` table and series refer to label names
//! and values, help and unit texts by index into it.

use super::BucketSpan;

/// Version 2 remote-write request body. Tags 1-3 are reserved.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// The symbol table; by convention entry 0 is the empty string.
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    /// The series.
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

/// One series of a v2 request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Label name/value pairs as symbol references: `[name0, value0, name1, value1, ...]`.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Float samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histogram samples.
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<Histogram>,
    /// Exemplars.
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    /// Type, help and unit of the series' metric.
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
    /// Created timestamp in milliseconds (0 = unset). Prometheus 3.5 sends it here; newer
    /// versions reserve tag 6 and send per-sample start timestamps instead.
    #[prost(int64, tag = "6")]
    pub created_timestamp: i64,
}

/// An exemplar whose labels are symbol references.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Label pairs as symbol references, like [`TimeSeries::labels_refs`].
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Observed value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Timestamp in milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// A float sample.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// Sample value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Timestamp in milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
    /// Start (created) timestamp in milliseconds, 0 = unset (newer senders only).
    #[prost(int64, tag = "3")]
    pub start_timestamp: i64,
}

/// Type, help and unit of a series' metric; help and unit are symbol references (0 = unset).
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Metadata {
    /// Metric type.
    #[prost(enumeration = "metadata::MetricType", tag = "1")]
    pub r#type: i32,
    /// Symbol reference of the help text.
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    /// Symbol reference of the unit.
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

/// Enums nested in [`Metadata`].
pub mod metadata {
    /// Metric type.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        /// Not specified.
        Unspecified = 0,
        /// Counter.
        Counter = 1,
        /// Gauge.
        Gauge = 2,
        /// Histogram.
        Histogram = 3,
        /// Gauge histogram.
        Gaugehistogram = 4,
        /// Summary.
        Summary = 5,
        /// Info.
        Info = 6,
        /// State set.
        Stateset = 7,
    }
}

/// A native histogram sample: the v1 layout plus a start timestamp (tag 17).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Total observation count, integer or float.
    #[prost(oneof = "super::histogram::Count", tags = "1, 2")]
    pub count: Option<super::histogram::Count>,
    /// Sum of observations.
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// Bucket schema, or -53 for custom buckets.
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    /// Width of the zero bucket.
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    /// Zero bucket count, integer or float.
    #[prost(oneof = "super::histogram::ZeroCount", tags = "6, 7")]
    pub zero_count: Option<super::histogram::ZeroCount>,
    /// Spans of the negative buckets.
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    /// Negative bucket deltas (integer histograms).
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    /// Negative bucket counts (float histograms).
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    /// Spans of the positive buckets.
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// Positive bucket deltas (integer histograms).
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// Positive bucket counts (float histograms).
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    /// Counter reset hint.
    #[prost(enumeration = "super::histogram::ResetHint", tag = "14")]
    pub reset_hint: i32,
    /// Timestamp in milliseconds since the Unix epoch.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    /// Upper bounds of custom buckets (schema -53 only).
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
    /// Start (created) timestamp in milliseconds, 0 = unset.
    #[prost(int64, tag = "17")]
    pub start_timestamp: i64,
}
