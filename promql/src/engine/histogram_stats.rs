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

use std::collections::HashSet;
use std::sync::Arc;

use chunkenc::{CounterResetHint, FloatHistogram};

use crate::ast::{BinaryOp, Expr, VectorSelector};
use crate::functions::hist;

use super::eval::{selector_key, FetchedSeries};

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

/// Replaces every histogram of `series` (in time order) by its statistics: schema, count,
/// sum and a counter-reset hint. A stored hint other than "unknown" is kept; an unknown one
/// becomes "counter reset" or "not a counter reset" by comparing with the previous
/// histogram, and stays unknown for the first. (Staleness markers are kept apart and take
/// no part.)
pub(crate) fn strip_to_stats(series: &mut FetchedSeries) {
    let mut last: Option<Arc<FloatHistogram>> = None;
    for p in series.histograms.iter_mut() {
        let h = &mut p.h;
        let mut hint = h.counter_reset_hint;
        if hint == CounterResetHint::Unknown {
            if let Some(prev) = &last {
                hint = if hist::detect_reset(h, prev) {
                    CounterResetHint::CounterReset
                } else {
                    CounterResetHint::NotCounterReset
                };
            }
        }
        let stats = FloatHistogram {
            counter_reset_hint: hint,
            schema: h.schema,
            count: h.count,
            sum: h.sum,
            ..Default::default()
        };
        last = Some(std::mem::replace(h, Arc::new(stats)));
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

    fn hist(count: f64, hint: CounterResetHint) -> Arc<FloatHistogram> {
        Arc::new(FloatHistogram {
            count,
            sum: count,
            counter_reset_hint: hint,
            positive_spans: vec![chunkenc::Span {
                offset: 0,
                length: 1,
            }],
            positive_buckets: vec![count],
            ..Default::default()
        })
    }

    #[test]
    fn unknown_hints_are_detected_against_the_previous_histogram() {
        use CounterResetHint::*;
        let mut s = FetchedSeries::default();
        s.push_histogram(1, hist(3.0, Unknown), 0);
        s.push_histogram(2, hist(4.0, Unknown), 0);
        s.push_float(3, 1.0, 0);
        s.push_histogram(4, hist(2.0, Unknown), 0);
        s.push_histogram(5, hist(5.0, Gauge), 0);
        strip_to_stats(&mut s);
        let hints: Vec<_> = s
            .histograms
            .iter()
            .map(|p| (p.h.counter_reset_hint, p.h.positive_buckets.len()))
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
