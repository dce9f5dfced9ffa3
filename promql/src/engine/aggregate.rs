//! Aggregation operators: sum, avg, count, min, max, group, stddev, stdvar, quantile,
//! topk, bottomk, limitk, limit_ratio and count_values, over floats and native histograms.

use crate::engine::hashing::FastMap;
use std::cmp::Ordering;
use std::sync::Arc;

use chunkenc::{CounterResetHint, FloatHistogram};
use tsdb_index::Labels;

use crate::ast::{AggregateExpr, AggregateOp};
use crate::engine::annotations::{self as anno, HistogramOp};
use crate::engine::eval::{EvalResult, Evaluator};
use crate::engine::EngineError;
use crate::functions::{hist, kahan, quantile, Helper};
use crate::value::{FPoint, HPoint, Matrix, Sample, Series, Vector};

/// One input series' value at a step: its index, float value and histogram.
type StepValue = Option<(usize, f64, Option<Arc<FloatHistogram>>)>;

/// The grouping labels of `metric`.
pub(crate) fn grouping_labels(metric: &Labels, grouping: &[String], without: bool) -> Labels {
    if without {
        Labels::from_sorted(
            metric
                .iter()
                .filter(|l| l.name != "__name__" && !grouping.iter().any(|g| g == l.name))
                .map(|l| (l.name, l.value)),
        )
    } else if grouping.is_empty() {
        Labels::empty()
    } else {
        Labels::from_sorted(
            metric
                .iter()
                .filter(|l| grouping.iter().any(|g| g == l.name))
                .map(|l| (l.name, l.value)),
        )
    }
}

/// `count_values` at one step.
pub(crate) fn count_values(
    grouping: &[String],
    without: bool,
    label: &str,
    v: &Vector,
    enh: &mut Helper,
) {
    let mut order: Vec<Labels> = Vec::new();
    let mut counts: FastMap<Labels, usize> = FastMap::default();
    for s in v {
        let val = match &s.h {
            None => format_float_f(s.f),
            Some(h) => hist::to_display_string(h),
        };
        let metric = crate::engine::eval::set_label(&s.metric, label, &val);
        let g = grouping_labels(&metric, grouping, without);
        match counts.get_mut(&g) {
            Some(c) => *c += 1,
            None => {
                counts.insert(g.clone(), 1);
                order.push(g);
            }
        }
    }
    for g in order {
        let c = counts[&g];
        enh.out.push(Sample::float(g, enh.ts, c as f64));
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
fn format_float_f(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{f}");
    s
}

#[derive(Default, Clone)]
struct Group {
    seen: bool,
    f: f64,
    mean: f64,
    kahan_c: f64,
    h: Option<hist::HistAccumulator>,
    count: f64,
    heap: Vec<Sample>,
    has_float: bool,
    has_histogram: bool,
    incompatible: bool,
    incremental_mean: bool,
    counter_reset_seen: bool,
    not_counter_reset_seen: bool,
    drop_name: bool,
}

struct Params {
    values: Vec<f64>,
    min: f64,
    max: f64,
    any_nan: bool,
}

impl Params {
    fn new(p: Option<(Option<Series>, bool)>, steps: usize) -> Option<Params> {
        let (series, _) = p?;
        let vals: Vec<f64> = match series {
            Some(s) => s.floats.iter().map(|p| p.f).collect(),
            None => Vec::new(),
        };
        let mut values = vals;
        if values.len() == 1 && steps > 1 {
            values = vec![values[0]; steps];
        }
        let mut min = f64::MAX;
        let mut max = -f64::MAX;
        let mut any_nan = false;
        for v in &values {
            max = crate::functions::go_max(max, *v);
            min = crate::functions::go_min(min, *v);
            any_nan |= v.is_nan();
        }
        if values.is_empty() {
            min = 0.0;
            max = 0.0;
        }
        Some(Params {
            values,
            min,
            max,
            any_nan,
        })
    }

    fn at(&self, step: usize) -> f64 {
        self.values.get(step).copied().unwrap_or(0.0)
    }
}

/// Aggregates `input` per step into groups.
pub(crate) fn range_eval_agg(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    grouping: &[String],
    mut input: Matrix,
    params: Option<(Option<Series>, bool)>,
) -> EvalResult<Matrix> {
    let steps = ((ev.end - ev.start) / ev.interval + 1) as usize;
    let params = Params::new(params, steps);
    let is_k = matches!(
        a.op,
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk | AggregateOp::LimitRatio
    );
    let mut group_index: FastMap<Labels, usize> = FastMap::default();
    let mut series_to_group = Vec::with_capacity(input.len());
    let mut result: Matrix = Vec::new();
    let mut group_count = 0;
    for s in &input {
        let key = grouping_labels(&s.metric, grouping, a.without);
        let idx = match group_index.get(&key) {
            Some(&i) => i,
            None => {
                group_index.insert(key.clone(), group_count);
                if !is_k {
                    result.push(Series {
                        metric: key,
                        ..Default::default()
                    });
                }
                group_count += 1;
                group_count - 1
            }
        };
        series_to_group.push(idx);
    }
    let mut groups = vec![Group::default(); group_count];
    let param_pos = a.param.as_ref().map(|p| p.pos()).unwrap_or(a.pos);
    let p = params.as_ref();
    match a.op {
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
            let p = p.expect("parser requires a parameter");
            if p.max < 1.0 {
                return Ok(Vec::new());
            }
            if p.any_nan {
                return Err(EngineError::Eval("Parameter value is NaN".into()));
            }
            if p.min <= -9.223372036854776e18 {
                return Err(EngineError::Eval(format!(
                    "Scalar value {} underflows int64",
                    hist::fmt_g(p.min)
                )));
            }
            if p.max >= 9.223372036854776e18 {
                return Err(EngineError::Eval(format!(
                    "Scalar value {} overflows int64",
                    hist::fmt_g(p.max)
                )));
            }
        }
        AggregateOp::LimitRatio => {
            let p = p.expect("parser requires a parameter");
            if p.max == 0.0 && p.min == 0.0 {
                return Ok(Vec::new());
            }
            if p.any_nan {
                return Err(EngineError::Eval("Ratio value is NaN".into()));
            }
            if p.max > 1.0 {
                ev.annos
                    .add(anno::new::invalid_ratio(p.max, 1.0, param_pos));
            }
            if p.min < -1.0 {
                ev.annos
                    .add(anno::new::invalid_ratio(p.min, -1.0, param_pos));
            }
        }
        AggregateOp::Quantile => {
            let p = p.expect("parser requires a parameter");
            if p.any_nan {
                ev.annos
                    .add(anno::new::invalid_quantile(f64::NAN, param_pos));
            }
            if p.max > 1.0 {
                ev.annos.add(anno::new::invalid_quantile(p.max, param_pos));
            }
            if p.min < 0.0 {
                ev.annos.add(anno::new::invalid_quantile(p.min, param_pos));
            }
        }
        _ => {}
    }
    let mut k_out: FastMap<Labels, usize> = FastMap::default();
    let mut k_result: Matrix = Vec::new();
    let mut cursors = vec![(0usize, 0usize); input.len()];
    let temp = ev.current_samples;
    let mut ts = ev.start;
    let mut step = 0;
    while ts <= ev.end {
        ev.check_done()?;
        ev.current_samples = temp;
        let fparam = params.as_ref().map_or(0.0, |p| p.at(step));
        // The input values at this step.
        let mut vals: Vec<StepValue> = Vec::with_capacity(input.len());
        for (si, s) in input.iter_mut().enumerate() {
            let c = &mut cursors[si];
            if c.0 < s.floats.len() && s.floats[c.0].t == ts {
                vals.push(Some((si, s.floats[c.0].f, None)));
                c.0 += 1;
            } else if c.1 < s.histograms.len() && s.histograms[c.1].t == ts {
                vals.push(Some((si, 0.0, Some(s.histograms[c.1].h.clone()))));
                c.1 += 1;
            } else {
                vals.push(None);
            }
        }
        if is_k {
            let out = aggregation_k(
                ev,
                a,
                fparam,
                &input,
                &vals,
                &series_to_group,
                &mut groups,
                ts,
            )?;
            if ev.start == ev.end {
                return Ok(out.into_iter().map(|s| single(s, ts)).collect());
            }
            for s in out {
                let i = *k_out.entry(s.metric.clone()).or_insert_with(|| {
                    k_result.push(Series {
                        metric: s.metric.clone(),
                        drop_name: s.drop_name,
                        ..Default::default()
                    });
                    k_result.len() - 1
                });
                match s.h {
                    None => k_result[i].floats.push(FPoint { t: ts, f: s.f }),
                    Some(h) => k_result[i].histograms.push(HPoint { t: ts, h }),
                }
            }
        } else {
            aggregation(
                ev,
                a,
                fparam,
                &input,
                &vals,
                &series_to_group,
                &mut groups,
                &mut result,
                ts,
            );
        }
        let n: i64 = if is_k {
            crate::engine::eval::total(&k_result)
        } else {
            crate::engine::eval::total(&result)
        };
        ev.current_samples = temp + n;
        if ev.current_samples > ev.max_samples {
            return Err(EngineError::TooManySamples);
        }
        ts += ev.interval;
        step += 1;
    }
    if is_k {
        return Ok(k_result);
    }
    result.retain(|s| !s.floats.is_empty() || !s.histograms.is_empty());
    Ok(result)
}

fn single(s: Sample, ts: i64) -> Series {
    match s.h {
        None => Series {
            metric: s.metric,
            floats: vec![FPoint { t: ts, f: s.f }],
            histograms: vec![],
            drop_name: s.drop_name,
        },
        Some(h) => Series {
            metric: s.metric,
            floats: vec![],
            histograms: vec![HPoint { t: ts, h }],
            drop_name: s.drop_name,
        },
    }
}

fn track_hint(g: &mut Group, h: &FloatHistogram) {
    match h.counter_reset_hint {
        CounterResetHint::CounterReset => g.counter_reset_seen = true,
        CounterResetHint::NotCounterReset => g.not_counter_reset_seen = true,
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn aggregation(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    q: f64,
    input: &Matrix,
    vals: &[StepValue],
    series_to_group: &[usize],
    groups: &mut [Group],
    out: &mut Matrix,
    ts: i64,
) {
    let op = a.op;
    let epos = a.expr.pos();
    for g in groups.iter_mut() {
        g.seen = false;
    }
    for (si, f, h) in vals.iter().flatten() {
        let (si, f) = (*si, *f);
        let g = &mut groups[series_to_group[si]];
        if !g.seen {
            *g = Group {
                seen: true,
                f,
                mean: f,
                count: 1.0,
                drop_name: input[si].drop_name,
                ..Default::default()
            };
            match op {
                AggregateOp::Avg | AggregateOp::Sum => match h {
                    None => g.has_float = true,
                    Some(h) => {
                        g.h = Some(hist::HistAccumulator::new(h));
                        g.has_histogram = true;
                        track_hint(g, h);
                    }
                },
                AggregateOp::Stdvar | AggregateOp::Stddev => {
                    if h.is_some() {
                        g.seen = false;
                        ev.annos
                            .add(anno::new::histogram_ignored_in_agg(op.as_str(), epos));
                    } else if f.is_nan() || f.is_infinite() {
                        g.f = f64::NAN;
                    } else {
                        g.f = 0.0;
                    }
                }
                AggregateOp::Quantile => {
                    if h.is_some() {
                        g.seen = false;
                        ev.annos
                            .add(anno::new::histogram_ignored_in_agg("quantile", epos));
                    }
                    g.heap = vec![Sample::float(Labels::empty(), 0, f)];
                }
                AggregateOp::Group => g.f = 1.0,
                AggregateOp::Min | AggregateOp::Max if h.is_some() => {
                    g.seen = false;
                    ev.annos
                        .add(anno::new::histogram_ignored_in_agg(op.as_str(), epos));
                }
                _ => {}
            }
            continue;
        }
        if g.incompatible {
            continue;
        }
        if input[si].drop_name {
            g.drop_name = true;
        }
        match op {
            AggregateOp::Sum => match h {
                Some(h) => {
                    g.has_histogram = true;
                    if let Some(acc) = g.h.as_mut() {
                        track_hint_pair(
                            &mut g.counter_reset_seen,
                            &mut g.not_counter_reset_seen,
                            h,
                        );
                        match acc.add(h) {
                            Err(_) => {
                                let name = input[si].metric.metric_name().unwrap_or("");
                                ev.annos
                                    .add(anno::new::mixed_exponential_custom(name, epos));
                                g.incompatible = true;
                            }
                            Ok(o) => {
                                if o.nhcb_bounds_reconciled {
                                    ev.annos.add(anno::new::mismatched_custom_buckets(
                                        epos,
                                        HistogramOp::Agg,
                                    ));
                                }
                            }
                        }
                    }
                }
                None => {
                    g.has_float = true;
                    (g.f, g.kahan_c) = kahan::inc(f, g.f, g.kahan_c);
                }
            },
            AggregateOp::Avg => {
                g.count += 1.0;
                match h {
                    Some(h) => {
                        g.has_histogram = true;
                        if let Some(acc) = g.h.as_mut() {
                            track_hint_pair(
                                &mut g.counter_reset_seen,
                                &mut g.not_counter_reset_seen,
                                h,
                            );
                            match acc.add_mean(h) {
                                Err(_) => {
                                    let name = input[si].metric.metric_name().unwrap_or("");
                                    ev.annos
                                        .add(anno::new::mixed_exponential_custom(name, epos));
                                    g.incompatible = true;
                                }
                                Ok(o) => {
                                    if o.nhcb_bounds_reconciled {
                                        ev.annos.add(anno::new::mismatched_custom_buckets(
                                            epos,
                                            HistogramOp::Agg,
                                        ));
                                    }
                                }
                            }
                        }
                    }
                    None => {
                        g.has_float = true;
                        if !g.incremental_mean {
                            let (nv, nc) = kahan::inc(f, g.f, g.kahan_c);
                            if !nv.is_infinite() {
                                g.f = nv;
                                g.kahan_c = nc;
                                continue;
                            }
                            g.incremental_mean = true;
                            g.mean = g.f / (g.count - 1.0);
                            g.kahan_c /= g.count - 1.0;
                        }
                        let q = (g.count - 1.0) / g.count;
                        (g.mean, g.kahan_c) = kahan::inc(f / g.count, q * g.mean, q * g.kahan_c);
                    }
                }
            }
            AggregateOp::Group => {}
            AggregateOp::Max => {
                if h.is_some() {
                    ev.annos
                        .add(anno::new::histogram_ignored_in_agg("max", epos));
                    continue;
                }
                if g.f < f || g.f.is_nan() {
                    g.f = f;
                }
            }
            AggregateOp::Min => {
                if h.is_some() {
                    ev.annos
                        .add(anno::new::histogram_ignored_in_agg("min", epos));
                    continue;
                }
                if g.f > f || g.f.is_nan() {
                    g.f = f;
                }
            }
            AggregateOp::Count => g.count += 1.0,
            AggregateOp::Stdvar | AggregateOp::Stddev => {
                if h.is_none() {
                    g.count += 1.0;
                    let delta = f - g.mean;
                    g.mean += delta / g.count;
                    g.f += delta * (f - g.mean);
                } else {
                    ev.annos
                        .add(anno::new::histogram_ignored_in_agg(op.as_str(), epos));
                }
            }
            AggregateOp::Quantile => {
                if h.is_some() {
                    ev.annos
                        .add(anno::new::histogram_ignored_in_agg("quantile", epos));
                    continue;
                }
                g.heap.push(Sample::float(Labels::empty(), 0, f));
            }
            _ => {}
        }
    }
    for (ri, g) in groups.iter_mut().enumerate() {
        if !g.seen {
            continue;
        }
        let mut hval: Option<FloatHistogram> = None;
        match op {
            AggregateOp::Avg | AggregateOp::Sum => {
                if g.has_float && g.has_histogram {
                    ev.annos.add(anno::new::mixed_floats_histograms_agg(epos));
                    continue;
                }
                if g.incompatible {
                    continue;
                }
                if g.has_histogram {
                    let Some(acc) = g.h.take() else { continue };
                    let mut h = if op == AggregateOp::Avg {
                        acc.mean()
                    } else {
                        acc.sum()
                    };
                    hist::compact(&mut h);
                    hval = Some(h);
                } else if op == AggregateOp::Avg {
                    g.f = if g.incremental_mean {
                        g.mean + g.kahan_c
                    } else {
                        g.f / g.count + g.kahan_c / g.count
                    };
                } else {
                    g.f += g.kahan_c;
                }
            }
            AggregateOp::Count => g.f = g.count,
            AggregateOp::Stdvar => g.f /= g.count,
            AggregateOp::Stddev => g.f = (g.f / g.count).sqrt(),
            AggregateOp::Quantile => {
                let mut v: Vec<f64> = g.heap.iter().map(|s| s.f).collect();
                g.f = quantile(q, &mut v);
            }
            _ => {}
        }
        if g.counter_reset_seen && g.not_counter_reset_seen {
            ev.annos
                .add(anno::new::counter_reset_collision(epos, HistogramOp::Agg));
        }
        let s = &mut out[ri];
        match hval {
            None => s.floats.push(FPoint { t: ts, f: g.f }),
            Some(h) => s.histograms.push(HPoint {
                t: ts,
                h: Arc::new(h),
            }),
        }
        s.drop_name = g.drop_name;
    }
}

fn track_hint_pair(reset: &mut bool, not_reset: &mut bool, h: &FloatHistogram) {
    match h.counter_reset_hint {
        CounterResetHint::CounterReset => *reset = true,
        CounterResetHint::NotCounterReset => *not_reset = true,
        _ => {}
    }
}

/// Orders for topk: bigger first, NaN last.
fn topk_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

/// Orders for bottomk: smaller first, NaN last.
fn bottomk_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Deterministic sampling offset of a series in [0, 1) for `limit_ratio`.
fn ratio_offset(l: &Labels) -> f64 {
    // xxhash-free stand-in: FNV-1a over the label bytes, mapped to [0, 1).
    let mut h: u64 = 0xcbf29ce484222325;
    for lab in l.iter() {
        for b in lab
            .name
            .bytes()
            .chain([0xff])
            .chain(lab.value.bytes())
            .chain([0xff])
        {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h as f64 / u64::MAX as f64
}

fn add_ratio_sample(ratio: f64, l: &Labels) -> bool {
    let off = ratio_offset(l);
    (ratio >= 0.0 && off < ratio) || (ratio < 0.0 && off >= 1.0 + ratio)
}

#[allow(clippy::too_many_arguments)]
fn aggregation_k(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    fparam: f64,
    input: &Matrix,
    vals: &[StepValue],
    series_to_group: &[usize],
    groups: &mut [Group],
    _ts: i64,
) -> EvalResult<Vec<Sample>> {
    let op = a.op;
    for g in groups.iter_mut() {
        g.seen = false;
        g.heap.clear();
    }
    let k = match op {
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
            let k = (fparam as i64).min(input.len() as i64);
            if k < 1 {
                return Ok(Vec::new());
            }
            k as usize
        }
        _ => 0,
    };
    let r = fparam.clamp(-1.0, 1.0);
    if op == AggregateOp::LimitRatio && fparam == 0.0 {
        return Ok(Vec::new());
    }
    for (si, f, h) in vals.iter().flatten() {
        let s = Sample {
            metric: input[*si].metric.clone(),
            t: 0,
            f: *f,
            h: h.clone(),
            drop_name: input[*si].drop_name,
        };
        let g = &mut groups[series_to_group[*si]];
        g.seen = true;
        match op {
            AggregateOp::Topk | AggregateOp::Bottomk => {
                if s.h.is_some() {
                    ev.annos
                        .add(anno::new::histogram_ignored_in_agg(op.as_str(), a.pos));
                    continue;
                }
                g.heap.push(s);
            }
            AggregateOp::Limitk if g.heap.len() < k => g.heap.push(s),
            AggregateOp::LimitRatio if add_ratio_sample(r, &s.metric) => g.heap.push(s),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for g in groups.iter_mut() {
        if !g.seen {
            continue;
        }
        match op {
            AggregateOp::Topk => {
                // Stable by input order among equal values, like a heap would not be; use a
                // stable sort for determinism.
                g.heap.sort_by(|x, y| topk_cmp(x.f, y.f));
                g.heap.truncate(k);
            }
            AggregateOp::Bottomk => {
                g.heap.sort_by(|x, y| bottomk_cmp(x.f, y.f));
                g.heap.truncate(k);
            }
            _ => {}
        }
        out.append(&mut g.heap);
    }
    Ok(out)
}
