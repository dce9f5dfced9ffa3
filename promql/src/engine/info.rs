//! The experimental `info()` function: `info(v[, {selector}])` adds to every series of `v` the
//! data labels of the info series that share its identifying labels (`instance` and `job`).
//!
//! The selector picks the info metrics through its `__name__` matchers (`target_info` when it
//! has none) and restricts, through its other matchers, both which info series qualify and
//! which of their labels are copied. A series of `v` that is itself one of the selected info
//! metrics passes through unchanged.
//!
//! Reading is split from evaluation as everywhere in the engine (DESIGN rule 2): the prefetch
//! (see [`super::prepare::for_each_series_request`]) reads every series the selector and the
//! name matchers accept, over the time range the first argument's `@` and offset dictate. Only
//! once `v` is known does evaluation narrow them down to those whose identifying labels occur
//! in `v`, which is the set Prometheus would have selected.

use std::collections::{BTreeSet, HashSet};

use crate::engine::hashing::FastMap;

use tsdb_index::{LabelsBuilder, MatchType, Matcher};

use crate::ast::{Call, Expr, VectorSelector};
use crate::engine::eval::{self, EvalResult, Evaluator, PointRef};
use crate::engine::EngineError;
use crate::value::{Matrix, Sample};

/// The info metric used when the selector names none.
const TARGET_INFO: &str = "target_info";

/// Labels that tie a series to its info series. Fixed, so that no knowledge of individual
/// info metrics is needed.
const IDENTIFYING_LABELS: [&str; 2] = ["instance", "job"];

const METRIC_NAME: &str = "__name__";

/// The label-selector argument, if given.
fn label_selector(c: &Call) -> Option<&VectorSelector> {
    let mut e = c.args.get(1)?;
    loop {
        match e {
            Expr::VectorSelector(vs) => return Some(vs),
            Expr::Paren(p) => e = &p.expr,
            Expr::StepInvariant(s) => e = &s.expr,
            _ => return None,
        }
    }
}

/// The `__name__` matchers an info series must satisfy. With at least one positive matcher,
/// exactly those written; with negative ones only, they narrow down the metrics whose name
/// ends in `_info`; with none, `target_info` alone.
fn info_name_matchers(selector: Option<&VectorSelector>) -> Vec<Matcher> {
    let written: Vec<Matcher> = selector
        .map(|vs| {
            vs.matchers
                .iter()
                .filter(|m| m.name == METRIC_NAME)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let positive = written
        .iter()
        .any(|m| matches!(m.kind, MatchType::Equal | MatchType::Regexp));
    if positive {
        return written;
    }
    if written.is_empty() {
        return vec![Matcher::equal(METRIC_NAME, TARGET_INFO)];
    }
    let any_info = Matcher::new(MatchType::Regexp, METRIC_NAME, ".+_info")
        .expect("a constant, valid regular expression");
    std::iter::once(any_info).chain(written).collect()
}

/// The selector's matchers on labels other than `__name__`: they filter info series and
/// name the data labels to copy.
fn data_label_matchers(selector: Option<&VectorSelector>) -> Vec<&Matcher> {
    selector
        .map(|vs| {
            vs.matchers
                .iter()
                .filter(|m| m.name != METRIC_NAME)
                .collect()
        })
        .unwrap_or_default()
}

/// What the prefetch reads for an `info()` call: every info series its selector accepts,
/// whatever its identifying labels.
pub(crate) fn info_series_matchers(c: &Call) -> Vec<Matcher> {
    let selector = label_selector(c);
    let mut out: Vec<Matcher> = data_label_matchers(selector).into_iter().cloned().collect();
    out.extend(info_name_matchers(selector));
    out
}

/// The `@` timestamp and the offset (ms) that move the time at which the info series are
/// looked up, taken from the first selector in `e` (the first argument). The selector's own
/// modifiers count, then those of the subqueries around it inside `e`, innermost first; the
/// first `@` met fixes the time, and offsets further out no longer matter.
pub(crate) fn reference_time(e: &Expr) -> (Option<i64>, i64) {
    fn first(e: &Expr) -> Option<(Option<i64>, i64)> {
        match e {
            Expr::VectorSelector(vs) => Some((vs.timestamp, vs.original_offset_ms)),
            Expr::MatrixSelector(ms) => {
                let vs = &ms.vector_selector;
                Some((vs.timestamp, vs.original_offset_ms))
            }
            Expr::Subquery(sq) => first(&sq.expr).map(|(at, offset)| match at {
                Some(_) => (at, offset),
                None => (sq.timestamp, offset + sq.original_offset_ms),
            }),
            _ => {
                let mut found = None;
                e.for_each_child(|c| {
                    if found.is_none() {
                        found = first(c);
                    }
                });
                found
            }
        }
    }
    first(e).unwrap_or((None, 0))
}

/// An info series evaluated over the steps: at each step it has a sample, the timestamp of
/// the stored sample found for it (the value itself, 1 by convention, carries nothing).
struct InfoSeries<'s> {
    labels: &'s tsdb_index::Labels,
    /// `(step, timestamp of the sample found)`, in step order.
    points: Vec<(i64, i64)>,
}

/// The join key of a series towards one info metric: that metric's name and the series'
/// identifying label values ("" when absent).
type Signature<'s> = (&'s str, &'s str, &'s str);

fn signature<'s>(name: &'s str, l: &'s tsdb_index::Labels) -> Signature<'s> {
    let [a, b] = IDENTIFYING_LABELS;
    (name, l.get(a).unwrap_or(""), l.get(b).unwrap_or(""))
}

/// Evaluates `info(v[, selector])`.
pub(crate) fn eval_info(ev: &mut Evaluator<'_>, c: &Call) -> EvalResult<Matrix> {
    let before = ev.current_samples;
    // Taken from the expression, not the result: a subquery's result no longer tells which
    // `@` and offset its selectors had.
    let (at, offset) = reference_time(&c.args[0]);
    let base = ev.eval(&c.args[0])?;
    let selector = label_selector(c);
    let name_matchers = info_name_matchers(selector);
    let data_matchers = data_label_matchers(selector);

    // Series of `v` that are themselves selected info metrics are not enriched.
    let ignored: Vec<bool> = base
        .iter()
        .map(|s| {
            let name = s.metric.metric_name().unwrap_or("");
            name_matchers.iter().all(|m| m.matches(name))
        })
        .collect();

    let info = eval_info_series(ev, c, &base, &ignored, at, offset)?;
    let info_names: BTreeSet<&str> = info
        .iter()
        .map(|s| s.labels.metric_name().unwrap_or(""))
        .collect();
    let info_sigs: Vec<Signature<'_>> = info
        .iter()
        .map(|s| signature(s.labels.metric_name().unwrap_or(""), s.labels))
        .collect();
    let some_matcher_rejects_empty = data_matchers.iter().any(|m| !m.matches(""));

    let mut base_cursors = vec![(0usize, 0usize); base.len()];
    let mut info_cursors = vec![0usize; info.len()];
    // Per step: for each signature, the info series with the newest sample.
    let mut current: FastMap<Signature<'_>, (usize, i64)> = FastMap::default();
    let out = ev.range_eval(None, &[], |_, _, enh| {
        let ts = enh.ts;
        current.clear();
        for (i, s) in info.iter().enumerate() {
            let cur = &mut info_cursors[i];
            let Some(&(step, sample_t)) = s.points.get(*cur) else {
                continue;
            };
            if step != ts {
                continue;
            }
            *cur += 1;
            match current.get(&info_sigs[i]) {
                Some(&(_, t)) if t > sample_t => {}
                Some(&(j, t)) if t == sample_t => {
                    return Err(EngineError::Eval(format!(
                        "found duplicate series for info metric: existing {} @ {}, new {} @ {}",
                        info[j].labels, t, s.labels, sample_t
                    )));
                }
                _ => {
                    current.insert(info_sigs[i], (i, sample_t));
                }
            }
        }

        for (i, s) in base.iter().enumerate() {
            let (fi, hi) = &mut base_cursors[i];
            let (f, h) = if s.floats.get(*fi).is_some_and(|p| p.t == ts) {
                *fi += 1;
                (s.floats[*fi - 1].f, None)
            } else if s.histograms.get(*hi).is_some_and(|p| p.t == ts) {
                *hi += 1;
                (0.0, Some(s.histograms[*hi - 1].h.clone()))
            } else {
                continue;
            };
            let metric = if ignored[i] {
                s.metric.clone()
            } else {
                let mut found_any = false;
                let mut added = LabelsBuilder::new();
                for name in &info_names {
                    let Some(&(j, _)) = current.get(&signature(name, &s.metric)) else {
                        continue;
                    };
                    found_any = true;
                    for l in info[j].labels.iter() {
                        if l.name == METRIC_NAME {
                            continue;
                        }
                        if !data_matchers.is_empty()
                            && !data_matchers.iter().any(|m| m.name == l.name)
                        {
                            continue;
                        }
                        // Two info metrics disagreeing is an error even when the base
                        // series has the label and neither value would be used.
                        if added.get(l.name).is_some_and(|v| v != l.value) {
                            return Err(EngineError::Eval(format!(
                                "conflicting label: {}",
                                l.name
                            )));
                        }
                        if !s.metric.has(l.name) {
                            added.set(l.name, l.value);
                        }
                    }
                }
                if !found_any && some_matcher_rejects_empty {
                    // Nothing can satisfy the selector's data label matchers at this step.
                    continue;
                }
                let added = added.build();
                if added.is_empty() {
                    s.metric.clone()
                } else {
                    let mut b = LabelsBuilder::from(&s.metric);
                    for l in added.iter() {
                        b.set(l.name, l.value);
                    }
                    b.build()
                }
            };
            enh.out.push(Sample {
                metric,
                t: ts,
                f,
                h,
                drop_name: s.drop_name,
            });
        }
        if eval::contains_same_labelset(&enh.out) {
            return Err(EngineError::Eval(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
        Ok(())
    })?;
    ev.current_samples = before + eval::total(&out);
    ev.update_peak();
    Ok(out)
}

/// The info series that may join with `base`, evaluated at every step as of the time given
/// by `at` (the step itself when unset) minus `offset`.
fn eval_info_series<'s>(
    ev: &mut Evaluator<'s>,
    c: &Call,
    base: &Matrix,
    ignored: &[bool],
    at: Option<i64>,
    offset: i64,
) -> EvalResult<Vec<InfoSeries<'s>>> {
    // The values each identifying label takes in the series to enrich. An info series must
    // share one of them for every identifying label that has any.
    let mut wanted: [HashSet<&str>; 2] = Default::default();
    for (s, _) in base.iter().zip(ignored).filter(|(_, ign)| !**ign) {
        for (name, values) in IDENTIFYING_LABELS.iter().zip(wanted.iter_mut()) {
            if let Some(v) = s.metric.get(name).filter(|v| !v.is_empty()) {
                values.insert(v);
            }
        }
    }
    if wanted.iter().all(HashSet::is_empty) {
        return Ok(Vec::new());
    }
    let candidates = ev.info_series_for(c);
    let mut out = Vec::new();
    for s in candidates {
        let joinable = IDENTIFYING_LABELS
            .iter()
            .zip(wanted.iter())
            .all(|(name, values)| {
                values.is_empty() || values.contains(s.labels.get(name).unwrap_or(""))
            });
        if !joinable {
            continue;
        }
        ev.check_done()?;
        let mut points = Vec::new();
        let mut ts = ev.start;
        while ts <= ev.end {
            let ref_t = at.unwrap_or(ts) - offset;
            match s.at(ref_t, ev.lookback) {
                Some((t, PointRef::F(_), _)) => {
                    ev.add_samples(1)?;
                    ev.total_samples += 1;
                    points.push((ts, t));
                }
                Some((_, PointRef::H(_), _)) => {
                    return Err(EngineError::Eval(format!(
                        "this should be an info metric, with float samples: {}",
                        s.labels
                    )));
                }
                None => {}
            }
            ts += ev.interval;
        }
        if !points.is_empty() {
            out.push(InfoSeries {
                labels: &s.labels,
                points,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use tsdb_index::Labels;

    use crate::engine::{Engine, EngineOpts, QueryResult};
    use crate::parser::{parse_with, Options};
    use crate::test_storage::TestStorage;
    use crate::value::Value;

    /// Every minute from 0 to 10m: `metric` counts up, `target_info` says `version="v1"`,
    /// and `other` carries a `data` label like the info series do.
    fn storage() -> TestStorage {
        let mut s = TestStorage::new();
        let metric = Labels::from_pairs([("__name__", "metric"), ("instance", "a"), ("job", "j")]);
        let info = Labels::from_pairs([
            ("__name__", "target_info"),
            ("instance", "a"),
            ("job", "j"),
            ("data", "v1"),
        ]);
        let other = Labels::from_pairs([("__name__", "other"), ("data", "x")]);
        for k in 0..=10 {
            let t = k * 60_000;
            s.append_float(metric.clone(), t, k as f64).unwrap();
            s.append_float(info.clone(), t, 1.0).unwrap();
            s.append_float(other.clone(), t, 1.0).unwrap();
        }
        s
    }

    fn instant(s: &TestStorage, q: &str, t: i64) -> QueryResult {
        let e = parse_with(q, Options::all()).unwrap();
        let engine = Engine::new(EngineOpts {
            delayed_name_removal: true,
            ..Default::default()
        });
        engine.instant_query(s, &e, t, None)
    }

    fn only_sample(r: QueryResult) -> (String, f64) {
        let Value::Vector(v) = r.value.unwrap() else {
            panic!("not a vector")
        };
        assert_eq!(v.len(), 1, "{v:?}");
        (v[0].metric.to_string(), v[0].f)
    }

    #[test]
    fn enriches_from_target_info() {
        let (l, f) = only_sample(instant(&storage(), "info(metric)", 300_000));
        assert_eq!(
            l,
            r#"{__name__="metric", data="v1", instance="a", job="j"}"#
        );
        assert_eq!(f, 5.0);
    }

    #[test]
    fn label_selector_is_not_read_as_a_selector() {
        // `{data=~".+"}` would also match `other`: only `metric` and the one info series are
        // read.
        let r = instant(&storage(), r#"info(metric, {data=~".+"})"#, 300_000);
        assert_eq!(r.stats.series_fetched, 2);
        assert_eq!(
            only_sample(r).0,
            r#"{__name__="metric", data="v1", instance="a", job="j"}"#
        );
    }

    #[test]
    fn info_inside_a_subquery_with_at() {
        // The subquery's inner expression is re-prepared for its own step grid, so the info
        // series must follow the copied `info()` call.
        let (l, f) = only_sample(instant(
            &storage(),
            "max_over_time(info(metric @ 120)[3m:1m])",
            600_000,
        ));
        assert_eq!(l, r#"{data="v1", instance="a", job="j"}"#);
        assert_eq!(f, 2.0);
    }

    #[test]
    fn info_series_with_the_same_identity_and_time_conflict() {
        let mut s = storage();
        let twin = Labels::from_pairs([
            ("__name__", "target_info"),
            ("instance", "a"),
            ("job", "j"),
            ("data", "v2"),
        ]);
        s.append_float(twin, 300_000, 1.0).unwrap();
        let err = instant(&s, "info(metric)", 300_000).value.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("found duplicate series for info metric"),
            "{err}"
        );
    }
}
