//! PromQL's functions over instant vectors and over the samples of one series in a range.
//!
//! Each function has the same shape as in Prometheus: it receives the evaluated non-range
//! arguments (one vector per argument; a scalar is a one-element vector), the samples of one
//! series' range window (for functions over range vectors), the argument expressions and a
//! [`Helper`] that carries the step's timestamp and collects the output and annotations.

pub mod hist;
mod histograms;
pub mod kahan;
mod over_time;
mod rate;
mod simple;

use tsdb_index::Labels;

use crate::ast::{Expr, PosRange};
use crate::engine::annotations::Annotations;
use crate::engine::EngineError;
use crate::value::{FPoint, HPoint, Series, Vector};

pub use rate::{extend_floats, interpolate, interpolate_histograms};

/// What a function over a range vector knows about its range argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeArg {
    /// The range in ms.
    pub range_ms: i64,
    /// The effective offset in ms.
    pub offset_ms: i64,
    /// `anchored` modifier.
    pub anchored: bool,
    /// `smoothed` modifier.
    pub smoothed: bool,
    /// `@` modifier present (the window does not move with the step).
    pub at: bool,
    /// Where the range argument is.
    pub pos: PosRange,
}

/// The samples of one series within a function's range window, borrowed from the series
/// the engine holds (no step copies them), with their start timestamps when the engine uses
/// them for this function.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// The series' labels.
    pub metric: &'a Labels,
    /// Float samples in time order.
    pub floats: &'a [FPoint],
    /// Histogram samples in time order.
    pub histograms: &'a [HPoint],
    /// Start timestamps aligned with `floats` (0 = unknown); empty when not in use.
    pub float_starts: &'a [i64],
    /// Start timestamps aligned with `histograms`; empty when not in use.
    pub histogram_starts: &'a [i64],
}

impl<'a> Window<'a> {
    /// A window without samples.
    pub fn empty(metric: &'a Labels) -> Self {
        Window {
            metric,
            floats: &[],
            histograms: &[],
            float_starts: &[],
            histogram_starts: &[],
        }
    }

    /// A window over all of `s`'s samples, without start timestamps.
    pub fn of(s: &'a Series) -> Self {
        Window {
            metric: &s.metric,
            floats: &s.floats,
            histograms: &s.histograms,
            float_starts: &[],
            histogram_starts: &[],
        }
    }

    /// Weight of the samples against the max-samples limit.
    pub fn total_samples(&self) -> usize {
        self.floats.len() + self.histograms.iter().map(HPoint::size).sum::<usize>()
    }
}

/// Per-node evaluation state shared by all steps.
#[derive(Debug, Default)]
pub struct Helper {
    /// The step's timestamp (ms).
    pub ts: i64,
    /// The step's output.
    pub out: Vector,
    /// Annotations produced at this step.
    pub annos: Annotations,
    /// Delayed `__name__` removal is on.
    pub delayed_name_removal: bool,
    /// Number of distinct match signatures (binary operators).
    pub num_sigs: usize,
    /// The range argument, for functions over range vectors.
    pub range: Option<RangeArg>,
}

impl Helper {
    /// A helper for one node.
    pub fn new(delayed_name_removal: bool) -> Self {
        Helper {
            delayed_name_removal,
            ..Default::default()
        }
    }

    /// Labels for an output sample derived from `l` whose name is to be dropped.
    pub(crate) fn drop_labels(&self, l: &Labels) -> Labels {
        if self.delayed_name_removal {
            l.clone()
        } else {
            crate::engine::eval::drop_reserved(l)
        }
    }
}

/// A function implementation.
pub type FunctionCall =
    fn(&[Vector], Option<&Window<'_>>, &[Expr], &mut Helper) -> Result<(), EngineError>;

/// Functions that accept the `anchored` modifier.
pub const ANCHORED_SAFE: &[&str] = &["changes", "delta", "increase", "rate", "resets"];
/// Functions that accept the `smoothed` modifier.
pub const SMOOTHED_SAFE: &[&str] = &["delta", "increase", "rate"];

/// The implementation of a function by name.
pub fn lookup(name: &str) -> Option<FunctionCall> {
    Some(match name {
        "abs" => simple::abs,
        "absent" => simple::absent,
        "absent_over_time" => over_time::absent_over_time,
        "acos" => simple::acos,
        "acosh" => simple::acosh,
        "asin" => simple::asin,
        "asinh" => simple::asinh,
        "atan" => simple::atan,
        "atanh" => simple::atanh,
        "avg_over_time" => over_time::avg_over_time,
        "ceil" => simple::ceil,
        "changes" => rate::changes,
        "clamp" => simple::clamp,
        "clamp_max" => simple::clamp_max,
        "clamp_min" => simple::clamp_min,
        "cos" => simple::cos,
        "cosh" => simple::cosh,
        "count_over_time" => over_time::count_over_time,
        "days_in_month" => simple::days_in_month,
        "day_of_month" => simple::day_of_month,
        "day_of_week" => simple::day_of_week,
        "day_of_year" => simple::day_of_year,
        "deg" => simple::deg,
        "delta" => rate::delta,
        "deriv" => rate::deriv,
        "exp" => simple::exp,
        "first_over_time" => over_time::first_over_time,
        "floor" => simple::floor,
        "histogram_avg" => histograms::histogram_avg,
        "histogram_count" => histograms::histogram_count,
        "histogram_fraction" => histograms::histogram_fraction,
        "histogram_quantile" => histograms::histogram_quantile,
        "histogram_quantiles" => histograms::histogram_quantiles,
        "histogram_sum" => histograms::histogram_sum,
        "histogram_stddev" => histograms::histogram_stddev,
        "histogram_stdvar" => histograms::histogram_stdvar,
        "double_exponential_smoothing" => rate::double_exponential_smoothing,
        "hour" => simple::hour,
        "idelta" => rate::idelta,
        "increase" => rate::increase,
        "irate" => rate::irate,
        "max_of" => simple::max_of,
        "min_of" => simple::min_of,
        "ln" => simple::ln,
        "log10" => simple::log10,
        "log2" => simple::log2,
        "last_over_time" => over_time::last_over_time,
        "mad_over_time" => over_time::mad_over_time,
        "max_over_time" => over_time::max_over_time,
        "min_over_time" => over_time::min_over_time,
        "ts_of_first_over_time" => over_time::ts_of_first_over_time,
        "ts_of_last_over_time" => over_time::ts_of_last_over_time,
        "ts_of_max_over_time" => over_time::ts_of_max_over_time,
        "ts_of_min_over_time" => over_time::ts_of_min_over_time,
        "minute" => simple::minute,
        "month" => simple::month,
        "pi" => simple::pi,
        "predict_linear" => rate::predict_linear,
        "present_over_time" => over_time::present_over_time,
        "quantile_over_time" => over_time::quantile_over_time,
        "rad" => simple::rad,
        "rate" => rate::rate,
        "resets" => rate::resets,
        "round" => simple::round,
        "scalar" => simple::scalar,
        "sgn" => simple::sgn,
        "sin" => simple::sin,
        "sinh" => simple::sinh,
        "sort" => simple::sort,
        "sort_desc" => simple::sort_desc,
        "sort_by_label" => simple::sort_by_label,
        "sort_by_label_desc" => simple::sort_by_label_desc,
        "sqrt" => simple::sqrt,
        "start_timestamp" => simple::start_timestamp,
        "stddev_over_time" => over_time::stddev_over_time,
        "stdvar_over_time" => over_time::stdvar_over_time,
        "sum_over_time" => over_time::sum_over_time,
        "tan" => simple::tan,
        "tanh" => simple::tanh,
        "time" => simple::time,
        "timestamp" => simple::timestamp,
        "vector" => simple::vector,
        "year" => simple::year,
        _ => return None,
    })
}

/// The φ-quantile of `values` (sorted in place), linear interpolation between ranks.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaN sorts first, like Prometheus' vectorByValueHeap.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// The labels `absent()` / `absent_over_time()` report for their argument: the equality
/// matchers that appear exactly once (other than the metric name).
pub fn absent_labels(e: &Expr) -> Labels {
    let matchers = match e {
        Expr::VectorSelector(vs) => &vs.matchers,
        Expr::MatrixSelector(ms) => &ms.vector_selector.matchers,
        _ => return Labels::empty(),
    };
    let mut b = tsdb_index::LabelsBuilder::new();
    let mut has: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == "__name__" {
            continue;
        }
        if m.kind == tsdb_index::MatchType::Equal && !has.contains(&m.name.as_str()) {
            b.set(&m.name, &m.value);
            has.push(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.build()
}

/// Go's `math.Max`: NaN if either is NaN.
pub fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN if either is NaN.
pub fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// The metric name of a label set ("" if none).
pub(crate) fn metric_name(l: &Labels) -> &str {
    l.metric_name().unwrap_or("")
}

/// A scalar argument value (0 when absent).
pub(crate) fn scalar_arg(vals: &[Vector], i: usize) -> f64 {
    vals.get(i).and_then(|v| v.first()).map_or(0.0, |s| s.f)
}
