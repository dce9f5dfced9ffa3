//! Native histogram values as Prometheus models them (`model/histogram`).
//!
//! These are the sample values that histogram chunks store; they are defined here, at the
//! bottom of the crate graph, so that every other crate (WAL records, PromQL) shares them.

/// What is known about a counter reset between this histogram and the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum CounterResetHint {
    /// Nothing is known; the consumer must compare with the previous histogram.
    #[default]
    Unknown = 0,
    /// A counter reset happened right before this histogram.
    CounterReset = 1,
    /// No counter reset happened.
    NotCounterReset = 2,
    /// The histogram is a gauge: counter resets do not apply.
    Gauge = 3,
}

/// A run of consecutive buckets: `offset` is the gap (in bucket indices) to the previous span
/// (or, for the first span, the index of its first bucket); `length` is the number of buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Gap to the end of the previous span, or the index of the first bucket.
    pub offset: i32,
    /// Number of consecutive buckets in this span.
    pub length: u32,
}

/// The schema number that marks a histogram with custom bucket bounds (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// An integer native histogram. Bucket counts are stored as deltas: each bucket's count minus
/// the previous bucket's (the first against zero), as Prometheus keeps them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Counter-reset knowledge carried with the sample.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution: buckets grow by a factor of `2^(2^-schema)`; `-53` means custom bounds.
    pub schema: i32,
    /// Observations with absolute value at most this fall into the zero bucket.
    pub zero_threshold: f64,
    /// Count of the zero bucket.
    pub zero_count: u64,
    /// Total count of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of populated positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of populated negative buckets.
    pub negative_spans: Vec<Span>,
    /// Positive bucket counts, delta-encoded.
    pub positive_buckets: Vec<i64>,
    /// Negative bucket counts, delta-encoded.
    pub negative_buckets: Vec<i64>,
    /// Upper bounds of custom buckets (only with the custom-buckets schema).
    pub custom_values: Vec<f64>,
}

/// A native histogram with float counts, as PromQL computes with them. Bucket counts are
/// absolute (not deltas).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    /// Counter-reset knowledge carried with the sample.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution, as in [`Histogram::schema`].
    pub schema: i32,
    /// Zero bucket width.
    pub zero_threshold: f64,
    /// Count of the zero bucket.
    pub zero_count: f64,
    /// Total count of observations.
    pub count: f64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of populated positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of populated negative buckets.
    pub negative_spans: Vec<Span>,
    /// Positive bucket counts (absolute).
    pub positive_buckets: Vec<f64>,
    /// Negative bucket counts (absolute).
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of custom buckets (only with the custom-buckets schema).
    pub custom_values: Vec<f64>,
}

impl Histogram {
    /// The same histogram with float counts and absolute bucket counts.
    pub fn to_float(&self) -> FloatHistogram {
        fn absolute(deltas: &[i64]) -> Vec<f64> {
            let mut acc = 0i64;
            deltas
                .iter()
                .map(|d| {
                    acc = acc.wrapping_add(*d);
                    acc as f64
                })
                .collect()
        }
        FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count as f64,
            count: self.count as f64,
            sum: self.sum,
            positive_spans: self.positive_spans.clone(),
            negative_spans: self.negative_spans.clone(),
            positive_buckets: absolute(&self.positive_buckets),
            negative_buckets: absolute(&self.negative_buckets),
            custom_values: self.custom_values.clone(),
        }
    }
}
