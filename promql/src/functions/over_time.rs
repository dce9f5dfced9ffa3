//! `*_over_time` functions: aggregations over the samples of one series in a range.

use std::sync::Arc;

use chunkenc::{CounterResetHint, FloatHistogram};
use tsdb_index::Labels;

use super::{hist, kahan, metric_name, quantile, scalar_arg, Helper, Window};
use crate::ast::Expr;
use crate::engine::annotations::{new as anno, HistogramOp};
use crate::engine::EngineError;
use crate::value::{Sample, Vector};

type R = Result<(), EngineError>;

fn push_f(enh: &mut Helper, f: f64) {
    enh.out.push(Sample::float(Labels::empty(), enh.ts, f));
}

fn push_h(enh: &mut Helper, h: FloatHistogram) {
    enh.out.push(Sample {
        metric: Labels::empty(),
        t: enh.ts,
        f: 0.0,
        h: Some(Arc::new(h)),
        drop_name: false,
    });
}

fn series<'a, 'w>(m: Option<&'a Window<'w>>) -> &'a Window<'w> {
    m.expect("range-vector function called without a range")
}

/// Histogram sum (and optional mean) over a range with counter-reset-hint tracking.
fn hist_sum(s: &Window<'_>, args: &[Expr], enh: &mut Helper, mean: bool) -> R {
    let pos = args[0].pos();
    let (mut reset, mut not_reset, mut reconciled) = (false, false, false);
    let mut track = |h: &FloatHistogram| match h.counter_reset_hint {
        CounterResetHint::CounterReset => reset = true,
        CounterResetHint::NotCounterReset => not_reset = true,
        _ => {}
    };
    let mut acc = hist::HistAccumulator::new(&s.histograms[0].h);
    track(&s.histograms[0].h);
    for p in &s.histograms[1..] {
        track(&p.h);
        let r = if mean {
            acc.add_mean(&p.h)
        } else {
            acc.add(&p.h)
        };
        match r {
            Ok(o) => reconciled |= o.nhcb_bounds_reconciled,
            Err(_) => {
                enh.annos
                    .add(anno::mixed_exponential_custom(metric_name(s.metric), pos));
                return Ok(());
            }
        }
    }
    if reset && not_reset {
        enh.annos
            .add(anno::counter_reset_collision(pos, HistogramOp::Agg));
    }
    if reconciled {
        enh.annos
            .add(anno::mismatched_custom_buckets(pos, HistogramOp::Agg));
    }
    let sum = if mean { acc.mean() } else { acc.sum() };
    push_h(enh, sum);
    Ok(())
}

/// `avg_over_time(m)`
pub fn avg_over_time(_: &[Vector], m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
    let s = series(m);
    if !s.floats.is_empty() && !s.histograms.is_empty() {
        enh.annos.add(anno::mixed_floats_histograms(
            metric_name(s.metric),
            args[0].pos(),
        ));
        return Ok(());
    }
    if s.floats.is_empty() {
        return hist_sum(s, args, enh, true);
    }
    let (mut sum, mut count) = (s.floats[0].f, 1.0);
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, p) in s.floats[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (ns, nc) = kahan::inc(p.f, sum, c);
            if !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan::inc(p.f / count, q * mean, q * c);
    }
    push_f(
        enh,
        if incremental {
            mean + c
        } else {
            sum / count + c / count
        },
    );
    Ok(())
}

/// `sum_over_time(m)`
pub fn sum_over_time(_: &[Vector], m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
    let s = series(m);
    if !s.floats.is_empty() && !s.histograms.is_empty() {
        enh.annos.add(anno::mixed_floats_histograms(
            metric_name(s.metric),
            args[0].pos(),
        ));
        return Ok(());
    }
    if s.floats.is_empty() {
        return hist_sum(s, args, enh, false);
    }
    let (mut sum, mut c) = (0.0, 0.0);
    for p in s.floats {
        (sum, c) = kahan::inc(p.f, sum, c);
    }
    push_f(enh, if sum.is_infinite() { sum } else { sum + c });
    Ok(())
}

/// `count_over_time(m)`
pub fn count_over_time(_: &[Vector], m: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    let s = series(m);
    push_f(enh, (s.floats.len() + s.histograms.len()) as f64);
    Ok(())
}

/// `present_over_time(m)`
pub fn present_over_time(_: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    push_f(enh, 1.0);
    Ok(())
}

/// `absent_over_time(m)`: 1 where data exists; the evaluator inverts it.
pub fn absent_over_time(_: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    push_f(enh, 1.0);
    Ok(())
}

/// `first_over_time(m)`
pub fn first_over_time(_: &[Vector], m: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    let s = series(m);
    let f = s.floats.first();
    let h = s.histograms.first();
    match (f, h) {
        (Some(f), Some(h)) if h.t < f.t => push_h(enh, (*h.h).clone()),
        (Some(f), _) => push_f(enh, f.f),
        (None, Some(h)) => push_h(enh, (*h.h).clone()),
        (None, None) => {}
    }
    Ok(())
}

/// `last_over_time(m)`
pub fn last_over_time(_: &[Vector], m: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    let s = series(m);
    let f = s.floats.last();
    let h = s.histograms.last();
    match (f, h) {
        (Some(f), Some(h)) if h.t > f.t => push_h(enh, (*h.h).clone()),
        (Some(f), _) => push_f(enh, f.f),
        (None, Some(h)) => push_h(enh, (*h.h).clone()),
        (None, None) => {}
    }
    Ok(())
}

/// `ts_of_first_over_time(m)`
pub fn ts_of_first_over_time(
    _: &[Vector],
    m: Option<&Window<'_>>,
    _: &[Expr],
    enh: &mut Helper,
) -> R {
    let s = series(m);
    let tf = s.floats.first().map_or(i64::MAX, |p| p.t);
    let th = s.histograms.first().map_or(i64::MAX, |p| p.t);
    push_f(enh, tf.min(th) as f64 / 1000.0);
    Ok(())
}

/// `ts_of_last_over_time(m)`
pub fn ts_of_last_over_time(
    _: &[Vector],
    m: Option<&Window<'_>>,
    _: &[Expr],
    enh: &mut Helper,
) -> R {
    let s = series(m);
    let tf = s.floats.last().map_or(0, |p| p.t);
    let th = s.histograms.last().map_or(0, |p| p.t);
    push_f(enh, tf.max(th) as f64 / 1000.0);
    Ok(())
}

fn compare_over_time(
    m: Option<&Window<'_>>,
    args: &[Expr],
    enh: &mut Helper,
    better: impl Fn(f64, f64) -> bool,
    ts: bool,
) -> R {
    let s = series(m);
    if s.floats.is_empty() {
        return Ok(());
    }
    if !s.histograms.is_empty() {
        enh.annos.add(anno::histogram_ignored_in_mixed_range(
            metric_name(s.metric),
            args[0].pos(),
        ));
    }
    let (mut best, mut best_t) = (s.floats[0].f, s.floats[0].t);
    for p in s.floats {
        if better(p.f, best) {
            best = p.f;
            best_t = p.t;
        }
    }
    push_f(enh, if ts { best_t as f64 / 1000.0 } else { best });
    Ok(())
}

/// `max_over_time(m)`
pub fn max_over_time(_: &[Vector], m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
    compare_over_time(m, args, enh, |c, b| c > b || b.is_nan(), false)
}

/// `min_over_time(m)`
pub fn min_over_time(_: &[Vector], m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
    compare_over_time(m, args, enh, |c, b| c < b || b.is_nan(), false)
}

/// `ts_of_max_over_time(m)`
pub fn ts_of_max_over_time(
    _: &[Vector],
    m: Option<&Window<'_>>,
    args: &[Expr],
    enh: &mut Helper,
) -> R {
    compare_over_time(m, args, enh, |c, b| c >= b || b.is_nan(), true)
}

/// `ts_of_min_over_time(m)`
pub fn ts_of_min_over_time(
    _: &[Vector],
    m: Option<&Window<'_>>,
    args: &[Expr],
    enh: &mut Helper,
) -> R {
    compare_over_time(m, args, enh, |c, b| c <= b || b.is_nan(), true)
}

/// `quantile_over_time(q, m)`
pub fn quantile_over_time(
    vals: &[Vector],
    m: Option<&Window<'_>>,
    args: &[Expr],
    enh: &mut Helper,
) -> R {
    let s = series(m);
    if vals.is_empty() || vals[0].is_empty() || s.floats.is_empty() {
        return Ok(());
    }
    let q = scalar_arg(vals, 0);
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        enh.annos.add(anno::invalid_quantile(q, args[0].pos()));
    }
    if !s.histograms.is_empty() {
        enh.annos.add(anno::histogram_ignored_in_mixed_range(
            metric_name(s.metric),
            args[0].pos(),
        ));
    }
    let mut v: Vec<f64> = s.floats.iter().map(|p| p.f).collect();
    push_f(enh, quantile(q, &mut v));
    Ok(())
}

fn variance_over_time(m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper, sqrt: bool) -> R {
    let s = series(m);
    if s.floats.is_empty() {
        return Ok(());
    }
    if !s.histograms.is_empty() {
        enh.annos.add(anno::histogram_ignored_in_mixed_range(
            metric_name(s.metric),
            args[0].pos(),
        ));
    }
    let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in s.floats {
        count += 1.0;
        let delta = p.f - (mean + cm);
        (mean, cm) = kahan::inc(delta / count, mean, cm);
        (aux, ca) = kahan::inc(delta * (p.f - (mean + cm)), aux, ca);
    }
    let var = (aux + ca) / count;
    push_f(enh, if sqrt { var.sqrt() } else { var });
    Ok(())
}

/// `stddev_over_time(m)`
pub fn stddev_over_time(
    _: &[Vector],
    m: Option<&Window<'_>>,
    args: &[Expr],
    enh: &mut Helper,
) -> R {
    variance_over_time(m, args, enh, true)
}

/// `stdvar_over_time(m)`
pub fn stdvar_over_time(
    _: &[Vector],
    m: Option<&Window<'_>>,
    args: &[Expr],
    enh: &mut Helper,
) -> R {
    variance_over_time(m, args, enh, false)
}

/// `mad_over_time(m)`: median absolute deviation.
pub fn mad_over_time(_: &[Vector], m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
    let s = series(m);
    if s.floats.is_empty() {
        return Ok(());
    }
    if !s.histograms.is_empty() {
        enh.annos.add(anno::histogram_ignored_in_mixed_range(
            metric_name(s.metric),
            args[0].pos(),
        ));
    }
    if s.floats.iter().any(|p| p.f.is_nan()) {
        push_f(enh, f64::NAN);
        return Ok(());
    }
    let mut v: Vec<f64> = s.floats.iter().map(|p| p.f).collect();
    let median = quantile(0.5, &mut v);
    for x in v.iter_mut() {
        *x = (*x - median).abs();
    }
    push_f(enh, quantile(0.5, &mut v));
    Ok(())
}
