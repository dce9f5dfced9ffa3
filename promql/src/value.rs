//! The values a PromQL query evaluates to: scalars, strings, instant vectors and range
//! vectors (matrices), with float and native-histogram points.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use chunkenc::FloatHistogram;
use tsdb_index::Labels;

/// Bit pattern of a staleness marker (a NaN that is not the "normal" NaN).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// Bit pattern of the NaN Prometheus writes for a plain `NaN` value.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// A staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is a staleness marker.
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// A float point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FPoint {
    /// Timestamp in ms.
    pub t: i64,
    /// Value.
    pub f: f64,
}

/// A native-histogram point. Histograms are shared, never mutated in place once stored.
#[derive(Debug, Clone, PartialEq)]
pub struct HPoint {
    /// Timestamp in ms.
    pub t: i64,
    /// Value.
    pub h: Arc<FloatHistogram>,
}

impl HPoint {
    /// Size of the point counted against the max-samples limit (as Prometheus: bytes / 16).
    pub fn size(&self) -> usize {
        histogram_size(&self.h)
    }
}

/// How much a histogram counts against the max-samples limit.
pub fn histogram_size(h: &FloatHistogram) -> usize {
    let bytes = 168
        + 8 * (h.positive_spans.len()
            + h.negative_spans.len()
            + h.positive_buckets.len()
            + h.negative_buckets.len()
            + h.custom_values.len());
    bytes.div_ceil(16)
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Series labels.
    pub metric: Labels,
    /// Timestamp in ms.
    pub t: i64,
    /// Float value (when `h` is `None`).
    pub f: f64,
    /// Histogram value.
    pub h: Option<Arc<FloatHistogram>>,
    /// The metric name is to be dropped once evaluation finishes (delayed name removal).
    pub drop_name: bool,
}

impl Sample {
    /// A float sample.
    pub fn float(metric: Labels, t: i64, f: f64) -> Self {
        Sample {
            metric,
            t,
            f,
            h: None,
            drop_name: false,
        }
    }
}

/// One series of a range vector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Series labels.
    pub metric: Labels,
    /// Float points, in time order.
    pub floats: Vec<FPoint>,
    /// Histogram points, in time order.
    pub histograms: Vec<HPoint>,
    /// The metric name is to be dropped once evaluation finishes.
    pub drop_name: bool,
}

impl Series {
    /// Number of points plus histogram weight, for the max-samples limit.
    pub fn total_samples(&self) -> usize {
        self.floats.len() + self.histograms.iter().map(HPoint::size).sum::<usize>()
    }
}

/// An instant vector.
pub type Vector = Vec<Sample>;
/// A range vector.
pub type Matrix = Vec<Series>;

/// The result of evaluating an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar at a time.
    Scalar {
        /// Timestamp in ms.
        t: i64,
        /// Value.
        v: f64,
    },
    /// A string at a time.
    String {
        /// Timestamp in ms.
        t: i64,
        /// Value.
        v: String,
    },
    /// An instant vector.
    Vector(Vector),
    /// A range vector.
    Matrix(Matrix),
}

impl Value {
    /// The type name as Prometheus' HTTP API prints it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Orders label sets as Prometheus' `labels.Compare`.
pub fn compare_labels(a: &Labels, b: &Labels) -> Ordering {
    a.cmp(b)
}

/// Sorts a matrix by series labels.
pub fn sort_matrix(m: &mut Matrix) {
    m.sort_by(|a, b| compare_labels(&a.metric, &b.metric));
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar { t, v } => write!(f, "scalar: {v} @[{t}]"),
            Value::String { t, v } => write!(f, "string: {v} @[{t}]"),
            Value::Vector(vec) => {
                for s in vec {
                    match &s.h {
                        None => writeln!(f, "{} => {} @[{}]", s.metric, s.f, s.t)?,
                        Some(h) => writeln!(f, "{} => {:?} @[{}]", s.metric, h, s.t)?,
                    }
                }
                Ok(())
            }
            Value::Matrix(m) => {
                for s in m {
                    write!(f, "{} =>", s.metric)?;
                    for p in &s.floats {
                        write!(f, " {} @[{}]", p.f, p.t)?;
                    }
                    for p in &s.histograms {
                        write!(f, " {:?} @[{}]", p.h, p.t)?;
                    }
                    writeln!(f)?;
                }
                Ok(())
            }
        }
    }
}
