//! Reading native histograms as statistics only (count and sum), like Prometheus'
//! `HistogramStatsIterator`, for selectors whose histograms only ever reach
//! `histogram_count()`, `histogram_sum()` or `histogram_avg()`.
//!
//! Prometheus does this to skip decoding buckets, and it changes what the query sees: the
//! stripped histograms carry no buckets, and a histogram whose stored counter-reset hint
//! is "unknown" gets a hint detected on the fly against the previous histogram read
//! ("counter reset" or "not a counter reset"). Aggregating such histograms can then report
//! conflicting counter resets, which the full histograms would not. Answers must match
//! Prometheus', so the engine does the same.
//!
//! One difference remains: Prometheus detects over the samples its iterator visits and
//! starts over after a seek that skips samples (a gap longer than the lookback or the
//! range between steps), while here detection runs over every sample read for the
//! selector; only the first histogram after such a gap can get another hint.

use std::collections::HashSet;

use chunkenc::{CounterResetHint, FloatHistogram};

use crate::ast::{BinaryOp, Expr, VectorSelector};
use crate::functions::hist;

use super::eval::selector_key;
use crate::value::is_stale_nan;

/// The keys ([`selector_key`]) of the selectors that read histogram statistics only: those
/// with `histogram_count`, `histogram_sum` or `histogram_avg` above them, and neither a
/// subquery (which needs buckets to detect counter resets), a function that needs the
/// buckets (`histogram_quantile(s)`, `histogram_fraction`) nor a trim operator in between.
pub(crate) fn stats_only_selectors(e: &Expr) -> HashSet<usize> {
    let mut out = HashSet::new();
    e.inspect(&mut |node, path| {
        let vs: &VectorSelector = match node {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vector_selector,
            _ => return true,
        };
        let mut stats_only = false;
        for anc in path.iter().rev() {
            match anc {
                Expr::Subquery(_) => {
                    stats_only = false;
                    break;
                }
                Expr::Call(c) => match c.func.name {
                    "histogram_count" | "histogram_sum" | "histogram_avg" => stats_only = true,
                    "histogram_quantile" | "histogram_quantiles" | "histogram_fraction" => {
                        stats_only = false;
                        break;
                    }
                    _ => {}
                },
                Expr::Binary(b) if matches!(b.op, BinaryOp::TrimUpper | BinaryOp::TrimLower) => {
                    stats_only = false;
                    break;
                }
                _ => {}
            }
        }
        if stats_only {
            out.insert(selector_key(vs));
        }
        true
    });
    out
}

/// Turns the histograms of one series, read in time order, into their statistics: schema,
/// count, sum and a counter-reset hint. A stored hint other than "unknown" is kept; an
/// unknown one becomes "counter reset" or "not a counter reset" by comparing with the
/// previous histogram read, and stays unknown for the first. Only the previous full
/// histogram is kept (in a buffer reused from sample to sample), so a selector that needs
/// statistics only never holds buckets.
#[derive(Debug, Default)]
pub(crate) struct StatsDecoder {
    last: Option<FloatHistogram>,
}

impl StatsDecoder {
    /// The statistics of `h`, the next histogram of the series. Staleness markers pass
    /// through as they are and take no part in reset detection.
    pub(crate) fn decode(&mut self, h: &FloatHistogram) -> FloatHistogram {
        let mut hint = h.counter_reset_hint;
        if is_stale_nan(h.sum) {
            return stats_of(h, hint);
        }
        if hint == CounterResetHint::Unknown {
            if let Some(prev) = &self.last {
                hint = if hist::detect_reset(h, prev) {
                    CounterResetHint::CounterReset
                } else {
                    CounterResetHint::NotCounterReset
                };
            }
        }
        match &mut self.last {
            Some(last) => last.clone_from(h),
            None => self.last = Some(h.clone()),
        }
        stats_of(h, hint)
    }
}

fn stats_of(h: &FloatHistogram, hint: CounterResetHint) -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: hint,
        schema: h.schema,
        count: h.count,
        sum: h.sum,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{parse_with, Options};

    fn keys(q: &str) -> usize {
        let e = parse_with(q, Options::all()).unwrap();
        stats_only_selectors(&e).len()
    }

    #[test]
    fn which_selectors_read_statistics() {
        assert_eq!(keys("histogram_count(sum(m))"), 1);
        assert_eq!(keys("histogram_sum(rate(m[5m]))"), 1);
        assert_eq!(keys("histogram_avg(m) + m"), 1);
        assert_eq!(keys("sum(m)"), 0);
        assert_eq!(keys("histogram_count(rate(m[5m:1m]))"), 0);
        assert_eq!(keys("histogram_count(histogram_quantile(0.5, m))"), 0);
        assert_eq!(keys("histogram_count(m </ 3)"), 0);
    }

    fn hist(count: f64, hint: CounterResetHint) -> FloatHistogram {
        FloatHistogram {
            count,
            sum: count,
            counter_reset_hint: hint,
            positive_spans: vec![chunkenc::Span {
                offset: 0,
                length: 1,
            }],
            positive_buckets: vec![count],
            ..Default::default()
        }
    }

    #[test]
    fn unknown_hints_are_detected_against_the_previous_histogram() {
        use CounterResetHint::*;
        let mut dec = StatsDecoder::default();
        let mut stale = hist(0.0, Unknown);
        stale.sum = crate::value::stale_nan();
        let hints: Vec<_> = [
            hist(3.0, Unknown),
            hist(4.0, Unknown),
            stale,
            hist(2.0, Unknown),
            hist(5.0, Gauge),
        ]
        .iter()
        .map(|h| dec.decode(h))
        .filter(|h| !is_stale_nan(h.sum))
        .map(|h| (h.counter_reset_hint, h.positive_buckets.len()))
        .collect();
        assert_eq!(
            hints,
            vec![
                (Unknown, 0),
                (NotCounterReset, 0),
                (CounterReset, 0),
                (Gauge, 0)
            ]
        );
    }
}
