//! Warnings and infos a query produces alongside its result, worded as Prometheus words them.
//!
//! Annotations are deduplicated by their text (without position), as Prometheus does; each
//! keeps the position of the node that caused it so it can be rendered as `msg (line:col)`.

use crate::ast::PosRange;
use crate::functions::hist::fmt_g;

/// Whether an annotation is a warning or an info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnotationKind {
    /// `PromQL warning: ...`
    Warning,
    /// `PromQL info: ...`
    Info,
}

/// One annotation.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// Warning or info.
    pub kind: AnnotationKind,
    /// Full text without the position suffix, e.g. `PromQL warning: ...`.
    pub message: String,
    /// The node that caused it.
    pub pos: PosRange,
    /// For annotations Prometheus counts instead of deduplicating (start-time overlaps):
    /// how many times it occurred. `None` for all others.
    pub occurrences: Option<u32>,
}

impl Annotation {
    /// A warning from the storage (a store left out of a partial answer, ...): shown as is,
    /// without a position, as Prometheus shows non-PromQL warnings.
    pub fn storage_warning(message: String) -> Self {
        Annotation {
            kind: AnnotationKind::Warning,
            message,
            pos: PosRange::default(),
            occurrences: None,
        }
    }

    /// The text for `query`: PromQL annotations get the `(line:col)` suffix of their node,
    /// storage warnings are shown as they are.
    pub fn render(&self, query: &str) -> String {
        if self.message.starts_with("PromQL ") {
            match self.occurrences {
                Some(n) if n > 1 => format!(
                    "{} ({n} occurrences) ({})",
                    self.message,
                    self.pos.start_line_col(query)
                ),
                _ => format!("{} ({})", self.message, self.pos.start_line_col(query)),
            }
        } else {
            self.message.clone()
        }
    }
}

/// A deduplicated set of annotations, in insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    items: Vec<Annotation>,
}

impl Annotations {
    /// No annotations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one; an existing annotation with the same text is replaced, or, for a counted
    /// one, keeps its position and adds up the occurrences.
    pub fn add(&mut self, a: Annotation) {
        if let Some(e) = self.items.iter_mut().find(|e| e.message == a.message) {
            match (e.occurrences, a.occurrences) {
                (Some(n), Some(m)) => e.occurrences = Some(n.saturating_add(m)),
                _ => *e = a,
            }
        } else {
            self.items.push(a);
        }
    }

    /// Adds all of `other`.
    pub fn merge(&mut self, other: Annotations) {
        for a in other.items {
            self.add(a);
        }
    }

    /// All annotations.
    pub fn iter(&self) -> impl Iterator<Item = &Annotation> {
        self.items.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Warnings rendered for `query`.
    pub fn warnings(&self, query: &str) -> Vec<String> {
        self.render_kind(AnnotationKind::Warning, query)
    }

    /// Infos rendered for `query`.
    pub fn infos(&self, query: &str) -> Vec<String> {
        self.render_kind(AnnotationKind::Info, query)
    }

    fn render_kind(&self, kind: AnnotationKind, query: &str) -> Vec<String> {
        self.items
            .iter()
            .filter(|a| a.kind == kind)
            .map(|a| a.render(query))
            .collect()
    }
}

fn warn(msg: String, pos: PosRange) -> Annotation {
    Annotation {
        kind: AnnotationKind::Warning,
        message: format!("PromQL warning: {msg}"),
        pos,
        occurrences: None,
    }
}

fn info(msg: String, pos: PosRange) -> Annotation {
    Annotation {
        kind: AnnotationKind::Info,
        message: format!("PromQL info: {msg}"),
        pos,
        occurrences: None,
    }
}

/// Go's `%q` quoting of a string.
pub fn quote(s: &str) -> String {
    tsdb_index::labels::go_quote(s)
}

/// Go's `%q` quoting of bytes that need not be UTF-8: valid runs are quoted like
/// [`quote`], every byte of an invalid sequence is written as `\xNN`.
pub fn quote_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    for chunk in b.utf8_chunks() {
        let valid = quote(chunk.valid());
        out.push_str(&valid[1..valid.len() - 1]);
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('"');
    out
}

fn with_metric(msg: String, metric: &str) -> String {
    if metric.is_empty() {
        msg
    } else {
        format!("{msg} for metric name {}", quote(metric))
    }
}

/// The operation during which histograms collided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistogramOp {
    /// Addition.
    Add,
    /// Subtraction.
    Sub,
    /// Aggregation.
    Agg,
}

impl HistogramOp {
    fn as_str(self) -> &'static str {
        match self {
            HistogramOp::Add => "addition",
            HistogramOp::Sub => "subtraction",
            HistogramOp::Agg => "aggregation",
        }
    }
}

/// Constructors, one per Prometheus annotation.
pub mod new {
    use super::*;

    /// Quantile outside [0, 1].
    pub fn invalid_quantile(q: f64, pos: PosRange) -> Annotation {
        warn(
            format!("quantile value should be between 0 and 1, got {}", fmt_g(q)),
            pos,
        )
    }
    /// Ratio outside [-1, 1].
    pub fn invalid_ratio(q: f64, to: f64, pos: PosRange) -> Annotation {
        warn(
            format!(
                "ratio value should be between -1 and 1, got {}, capping to {}",
                fmt_g(q),
                fmt_g(to)
            ),
            pos,
        )
    }
    /// Bad or missing `le` label.
    pub fn bad_bucket_label(metric: &str, label: &str, pos: PosRange) -> Annotation {
        warn(
            with_metric(
                format!(
                    "bucket label \"le\" is missing or has a malformed value of {}",
                    quote(label)
                ),
                metric,
            ),
            pos,
        )
    }
    /// Floats and histograms mixed in a range.
    pub fn mixed_floats_histograms(metric: &str, pos: PosRange) -> Annotation {
        warn(
            format!(
                "encountered a mix of histograms and floats for metric name {}",
                quote(metric)
            ),
            pos,
        )
    }
    /// Floats and histograms mixed in an aggregation.
    pub fn mixed_floats_histograms_agg(pos: PosRange) -> Annotation {
        warn(
            "encountered a mix of histograms and floats for aggregation".to_string(),
            pos,
        )
    }
    /// Classic and native histograms mixed.
    pub fn mixed_classic_native(metric: &str, pos: PosRange) -> Annotation {
        warn(
            with_metric(
                "vector contains a mix of classic and native histograms".to_string(),
                metric,
            ),
            pos,
        )
    }
    /// A sample's start time lies before the previous sample of its series, and is not
    /// the previous sample's start time either (counted per metric name).
    pub fn start_time_overlap(metric: &str, pos: PosRange) -> Annotation {
        Annotation {
            occurrences: Some(1),
            ..warn(
                format!(
                    "sample has start time that overlaps with previous sample timestamp for metric {}",
                    quote(metric)
                ),
                pos,
            )
        }
    }
    /// Counter function on a gauge histogram.
    pub fn not_counter(metric: &str, pos: PosRange) -> Annotation {
        warn(
            format!(
                "this native histogram metric is not a counter: {}",
                quote(metric)
            ),
            pos,
        )
    }
    /// Gauge function on a counter histogram.
    pub fn not_gauge(metric: &str, pos: PosRange) -> Annotation {
        warn(
            format!(
                "this native histogram metric is not a gauge: {}",
                quote(metric)
            ),
            pos,
        )
    }
    /// Exponential and custom buckets mixed.
    pub fn mixed_exponential_custom(metric: &str, pos: PosRange) -> Annotation {
        warn(format!("vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}", quote(metric)), pos)
    }
    /// Binary operation on incompatible bucket layouts.
    pub fn incompatible_bucket_layout(op: &str, pos: PosRange) -> Annotation {
        warn(
            format!("incompatible bucket layout encountered for binary operator {op}"),
            pos,
        )
    }
    /// `sort` in a range query.
    pub fn sort_in_range(pos: PosRange) -> Annotation {
        warn(
            "sort is ineffective for range queries since results are always ordered by labels"
                .to_string(),
            pos,
        )
    }
    /// rate/increase on a metric not named like a counter.
    pub fn possible_non_counter(metric: &str, pos: PosRange) -> Annotation {
        info(format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}", quote(metric)), pos)
    }
    /// rate/increase on a metric whose `__type__` is not counter/histogram.
    pub fn possible_non_counter_label(metric: &str, type_label: &str, pos: PosRange) -> Annotation {
        info(format!("metric might not be a counter, __type__ label is not set to \"counter\" or \"histogram\", got {}: {}", quote(type_label), quote(metric)), pos)
    }
    /// Classic histogram buckets needed fixing.
    pub fn forced_monotonicity(metric: &str, pos: PosRange) -> Annotation {
        info(with_metric("input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)".to_string(), metric), pos)
    }
    /// Incompatible sample types for a binary operator.
    pub fn incompatible_types_binop(lhs: &str, op: &str, rhs: &str, pos: PosRange) -> Annotation {
        info(
            format!(
                "incompatible sample types encountered for binary operator {}: {lhs} {op} {rhs}",
                quote(op)
            ),
            pos,
        )
    }
    /// Histogram ignored in an aggregation.
    pub fn histogram_ignored_in_agg(agg: &str, pos: PosRange) -> Annotation {
        info(format!("ignored histogram in {agg} aggregation"), pos)
    }
    /// Histograms ignored in a mixed range.
    pub fn histogram_ignored_in_mixed_range(metric: &str, pos: PosRange) -> Annotation {
        info(format!("ignored histograms in a range containing both floats and histograms for metric name {}", quote(metric)), pos)
    }
    /// NaN observations make the quantile NaN.
    pub fn quantile_nan_result(metric: &str, pos: PosRange) -> Annotation {
        info(
            with_metric(
                "input to histogram_quantile has NaN observations, result is NaN".to_string(),
                metric,
            ),
            pos,
        )
    }
    /// NaN observations skew the quantile.
    pub fn quantile_nan_skew(metric: &str, pos: PosRange) -> Annotation {
        info(
            with_metric(
                "input to histogram_quantile has NaN observations, result is skewed higher"
                    .to_string(),
                metric,
            ),
            pos,
        )
    }
    /// NaN observations excluded from fractions.
    pub fn fraction_nans(metric: &str, pos: PosRange) -> Annotation {
        info(with_metric("input to histogram_fraction has NaN observations, which are excluded from all fractions".to_string(), metric), pos)
    }
    /// Counter reset hints collided.
    pub fn counter_reset_collision(pos: PosRange, op: HistogramOp) -> Annotation {
        warn(
            format!(
                "conflicting counter resets during histogram {}",
                op.as_str()
            ),
            pos,
        )
    }
    /// Custom bucket bounds were reconciled.
    pub fn mismatched_custom_buckets(pos: PosRange, op: HistogramOp) -> Annotation {
        info(
            format!(
                "mismatched custom buckets were reconciled during {}",
                op.as_str()
            ),
            pos,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_bytes_escapes_invalid_utf8() {
        assert_eq!(quote_bytes(b"a\xc5z"), r#""a\xc5z""#);
        assert_eq!(quote_bytes("é\n".as_bytes()), r#""é\n""#);
    }

    #[test]
    fn counted_annotations_add_up() {
        let mut a = Annotations::new();
        a.add(new::start_time_overlap("m", PosRange::new(5, 6)));
        a.add(new::start_time_overlap("m", PosRange::new(0, 1)));
        a.add(new::start_time_overlap("other", PosRange::new(0, 1)));
        let w = a.warnings("rate(m[1m])");
        assert_eq!(w.len(), 2);
        assert!(
            w[0].ends_with("for metric \"m\" (2 occurrences) (1:6)"),
            "{}",
            w[0]
        );
        assert!(w[1].ends_with("for metric \"other\" (1:1)"), "{}", w[1]);
    }
}
