//! Histogram functions: `histogram_quantile` and `histogram_fraction` over classic (`le`
//! buckets) and native histograms, and the native-only count/sum/avg/stddev/stdvar.

use crate::engine::hashing::FastMap;

use chunkenc::FloatHistogram;
use tsdb_index::Labels;

use super::hist::{self, Bucket};
use super::{kahan, metric_name, scalar_arg, Helper, Window};
use crate::ast::{Expr, PosRange};
use crate::engine::annotations::{new as anno, Annotations};
use crate::engine::EngineError;
use crate::value::{Sample, Vector};

type R = Result<(), EngineError>;

fn simple_hist(vals: &[Vector], enh: &mut Helper, f: impl Fn(&FloatHistogram) -> f64) -> R {
    for s in &vals[0] {
        if let Some(h) = &s.h {
            enh.out.push(Sample {
                metric: enh.drop_labels(&s.metric),
                t: s.t,
                f: f(h),
                h: None,
                drop_name: true,
            });
        }
    }
    Ok(())
}

/// `histogram_count(v)`
pub fn histogram_count(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    simple_hist(vals, enh, |h| h.count)
}

/// `histogram_sum(v)`
pub fn histogram_sum(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    simple_hist(vals, enh, |h| h.sum)
}

/// `histogram_avg(v)`
pub fn histogram_avg(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    simple_hist(vals, enh, |h| h.sum / h.count)
}

fn variance(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let (mut var, mut c) = (0.0, 0.0);
    for b in hist::all_buckets(h) {
        if b.count == 0.0 {
            continue;
        }
        let val = if hist::uses_custom(h) {
            (b.upper + b.lower) / 2.0
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let v = (b.upper * b.lower).sqrt();
            if b.upper < 0.0 {
                -v
            } else {
                v
            }
        };
        let d = val - mean;
        (var, c) = kahan::inc(b.count * d * d, var, c);
    }
    (var + c) / h.count
}

/// `histogram_stddev(v)`
pub fn histogram_stddev(
    vals: &[Vector],
    _: Option<&Window<'_>>,
    _: &[Expr],
    enh: &mut Helper,
) -> R {
    simple_hist(vals, enh, |h| variance(h).sqrt())
}

/// `histogram_stdvar(v)`
pub fn histogram_stdvar(
    vals: &[Vector],
    _: Option<&Window<'_>>,
    _: &[Expr],
    enh: &mut Helper,
) -> R {
    simple_hist(vals, enh, variance)
}

/// A classic histogram bucket: upper bound and cumulative count.
#[derive(Debug, Clone, Copy)]
struct ClassicBucket {
    upper: f64,
    count: f64,
}

struct Split {
    native: Vec<(Labels, Option<std::sync::Arc<FloatHistogram>>)>,
    classic: Vec<(Labels, Vec<ClassicBucket>)>,
}

/// Splits the input into native histograms and classic bucket groups (by labels without
/// `le`), dropping both where they collide.
fn split(v: &Vector, arg_pos: PosRange, enh: &mut Helper) -> Split {
    let mut classic: Vec<(Labels, Vec<ClassicBucket>)> = Vec::new();
    let mut idx: FastMap<Labels, usize> = FastMap::default();
    let mut native = Vec::new();
    for s in v {
        if let Some(h) = &s.h {
            native.push((s.metric.clone(), Some(h.clone())));
            continue;
        }
        let le = s.metric.get("le").unwrap_or("");
        let Some(upper) = parse_go_float(le) else {
            let name = if enh.delayed_name_removal {
                metric_name(&s.metric)
            } else {
                ""
            };
            enh.annos.add(anno::bad_bucket_label(name, le, arg_pos));
            continue;
        };
        let key = s.metric.without(&["le"]);
        let i = *idx.entry(key.clone()).or_insert_with(|| {
            classic.push((key, Vec::new()));
            classic.len() - 1
        });
        classic[i].1.push(ClassicBucket { upper, count: s.f });
    }
    for (l, h) in native.iter_mut() {
        if let Some(&i) = idx.get(l) {
            if !classic[i].1.is_empty() {
                let name = if enh.delayed_name_removal {
                    metric_name(l)
                } else {
                    ""
                };
                enh.annos.add(anno::mixed_classic_native(name, arg_pos));
                classic[i].1.clear();
                *h = None;
            }
        }
    }
    Split { native, classic }
}

/// Parses a float as Go's `strconv.ParseFloat` does for `le` values.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t != s {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            return Some(if t.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if lower.starts_with("0x") || lower.starts_with("-0x") || lower.starts_with("+0x") {
        return None;
    }
    let cleaned: String = t.chars().filter(|c| *c != '_').collect();
    cleaned.parse::<f64>().ok()
}

fn sort_coalesce(b: &mut Vec<ClassicBucket>) {
    b.sort_by(|x, y| {
        x.upper
            .partial_cmp(&y.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out: Vec<ClassicBucket> = Vec::with_capacity(b.len());
    for x in b.iter() {
        match out.last_mut() {
            Some(l) if l.upper == x.upper => l.count += x.count,
            _ => out.push(*x),
        }
    }
    *b = out;
}

fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < eps * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// Classic-bucket quantile; returns the value and whether monotonicity had to be forced.
fn bucket_quantile(q: f64, mut b: Vec<ClassicBucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    b.sort_by(|x, y| {
        x.upper
            .partial_cmp(&y.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if b.last().is_none_or(|x| x.upper != f64::INFINITY) {
        return (f64::NAN, false);
    }
    sort_coalesce(&mut b);
    let mut forced = false;
    let mut prev = b[0].count;
    for x in b.iter_mut().skip(1) {
        let curr = x.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) {
            x.count = prev;
            continue;
        }
        if curr < prev {
            x.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    if b.len() < 2 {
        return (f64::NAN, forced);
    }
    let obs = b[b.len() - 1].count;
    if obs == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * obs;
    let n = b.len() - 1;
    let i = b[..n].partition_point(|x| x.count < rank);
    if i == n {
        return (b[n - 1].upper, forced);
    }
    if i == 0 && b[0].upper <= 0.0 {
        return (b[0].upper, forced);
    }
    let mut start = 0.0;
    let end = b[i].upper;
    let mut count = b[i].count;
    if i > 0 {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Native-histogram quantile.
pub fn histogram_quantile_native(
    q: f64,
    h: &FloatHistogram,
    metric: &str,
    pos: PosRange,
    annos: &mut Annotations,
) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if h.count == 0.0 || q.is_nan() {
        return f64::NAN;
    }
    let mut buckets = hist::all_buckets(h);
    let forward = h.sum.is_nan() || q < 0.5;
    let mut rank = if forward {
        q * h.count
    } else {
        (1.0 - q) * h.count
    };
    if !forward {
        buckets.reverse();
    }
    let mut count = 0.0;
    let mut bucket: Option<Bucket> = None;
    let mut idx = 0;
    while idx < buckets.len() {
        let b = buckets[idx];
        idx += 1;
        if b.count == 0.0 {
            continue;
        }
        bucket = Some(b);
        count += b.count;
        if count >= rank {
            break;
        }
    }
    // With no populated bucket (all observations NaN), Prometheus goes on with an empty
    // bucket `[0, 0]`, which the rank check below turns into NaN plus an info.
    let mut b = bucket.unwrap_or(Bucket {
        lower: 0.0,
        upper: 0.0,
        lower_inclusive: false,
        upper_inclusive: false,
        count: 0.0,
        index: 0,
    });
    let custom = hist::uses_custom(h);
    if !custom && b.lower < 0.0 && b.upper > 0.0 {
        if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
            b.lower = 0.0;
        } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
            b.upper = 0.0;
        }
    } else if custom {
        if b.lower == f64::NEG_INFINITY {
            if b.upper <= 0.0 {
                return b.upper;
            }
            b.lower = 0.0;
        } else if b.upper == f64::INFINITY {
            return b.lower;
        }
    }
    if count > h.count {
        count = h.count;
    }
    if count < rank {
        if h.sum.is_nan() {
            annos.add(anno::quantile_nan_result(metric, pos));
            return f64::NAN;
        }
        return b.upper;
    }
    if forward {
        rank -= count - b.count;
    } else {
        rank = count - rank;
    }
    if h.sum.is_nan() {
        for x in &buckets[idx..] {
            count += x.count;
        }
        if count < h.count {
            annos.add(anno::quantile_nan_skew(metric, pos));
        }
    }
    let fraction = rank / b.count;
    if custom || (b.lower <= 0.0 && b.upper >= 0.0) {
        return b.lower + (b.upper - b.lower) * fraction;
    }
    let ll = b.lower.abs().log2();
    let lu = b.upper.abs().log2();
    if b.lower > 0.0 {
        (ll + (lu - ll) * fraction).exp2()
    } else {
        -(lu + (ll - lu) * (1.0 - fraction)).exp2()
    }
}

/// Native-histogram fraction of observations in `[lower, upper]`.
pub fn histogram_fraction_native(
    lower: f64,
    upper: f64,
    h: &FloatHistogram,
    metric: &str,
    pos: PosRange,
    annos: &mut Annotations,
) -> f64 {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let buckets = hist::all_buckets(h);
    let custom = hist::uses_custom(h);
    let (mut count, mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut idx = 0;
    while idx < buckets.len() {
        let mut b = buckets[idx];
        idx += 1;
        count += b.count;
        let mut zero = false;
        if b.lower <= 0.0 && b.upper >= 0.0 {
            zero = true;
            if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
                b.lower = 0.0;
            } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
                b.upper = 0.0;
            }
        }
        let lin = |v: f64, b: &Bucket, rank: f64| {
            if b.lower == f64::NEG_INFINITY {
                b.count
            } else {
                rank + b.count * b.fraction_below(v, true)
            }
        };
        let exp = |v: f64, b: &Bucket, rank: f64| rank + b.count * b.fraction_below(v, false);
        if !lower_set && b.lower >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && b.lower >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && b.lower < lower && b.upper > lower {
            lower_rank = if custom || zero {
                lin(lower, &b, rank)
            } else {
                exp(lower, &b, rank)
            };
            lower_set = true;
        }
        if !upper_set && b.lower < upper && b.upper > upper {
            upper_rank = if custom || zero {
                lin(upper, &b, rank)
            } else {
                exp(upper, &b, rank)
            };
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank += b.count;
    }
    if h.sum.is_nan() {
        for b in &buckets[idx..] {
            count += b.count;
        }
        if count < h.count {
            annos.add(anno::fraction_nans(metric, pos));
        }
    } else {
        count = h.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / h.count
}

fn bucket_fraction(lower: f64, upper: f64, mut b: Vec<ClassicBucket>) -> f64 {
    b.sort_by(|x, y| {
        x.upper
            .partial_cmp(&y.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if b.last().is_none_or(|x| x.upper != f64::INFINITY) {
        return f64::NAN;
    }
    sort_coalesce(&mut b);
    let count = b[b.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lr, mut ur) = (0.0, 0.0, 0.0);
    let (mut ls, mut us) = (false, false);
    let mut lb = if b[0].upper <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for i in 0..b.len() {
        if i > 0 {
            lb = b[i - 1].upper;
        }
        let ub = b[i].upper;
        let bc = b[i].count;
        let lin = |v: f64, rank: f64| {
            if lb == f64::NEG_INFINITY {
                bc
            } else {
                rank + (bc - rank) * (v - lb) / (ub - lb)
            }
        };
        if !ls && lb >= lower {
            lr = rank;
            ls = true;
        }
        if !us && lb >= upper {
            ur = rank;
            us = true;
        }
        if ls && us {
            break;
        }
        if !ls && lb < lower && ub > lower {
            lr = lin(lower, rank);
            ls = true;
        }
        if !us && lb < upper && ub > upper {
            ur = lin(upper, rank);
            us = true;
        }
        if ls && us {
            break;
        }
        rank = bc;
    }
    if !ls || lr > count {
        lr = count;
    }
    if !us || ur > count {
        ur = count;
    }
    (ur - lr) / count
}

/// `histogram_quantile(q, v)`
pub fn histogram_quantile(
    vals: &[Vector],
    _: Option<&Window<'_>>,
    args: &[Expr],
    enh: &mut Helper,
) -> R {
    if vals.len() < 2 || vals[0].is_empty() {
        return Ok(());
    }
    let q = scalar_arg(vals, 0);
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        enh.annos.add(anno::invalid_quantile(q, args[0].pos()));
    }
    let pos = args[1].pos();
    let sp = split(&vals[1], pos, enh);
    for (l, h) in &sp.native {
        let Some(h) = h else { continue };
        let mut annos = Annotations::new();
        let v = histogram_quantile_native(q, h, metric_name(l), pos, &mut annos);
        enh.annos.merge(annos);
        enh.out.push(Sample {
            metric: enh.drop_labels(l),
            t: enh.ts,
            f: v,
            h: None,
            drop_name: true,
        });
    }
    for (l, b) in sp.classic {
        if b.is_empty() {
            continue;
        }
        let (v, forced) = bucket_quantile(q, b);
        if forced {
            let name = if enh.delayed_name_removal {
                metric_name(&l).to_string()
            } else {
                String::new()
            };
            enh.annos.add(anno::forced_monotonicity(&name, pos));
        }
        enh.out.push(Sample {
            metric: enh.drop_labels(&l),
            t: enh.ts,
            f: v,
            h: None,
            drop_name: true,
        });
    }
    Ok(())
}

/// `histogram_fraction(lower, upper, v)`
pub fn histogram_fraction(
    vals: &[Vector],
    _: Option<&Window<'_>>,
    args: &[Expr],
    enh: &mut Helper,
) -> R {
    if vals.len() < 3 || vals[0].is_empty() || vals[1].is_empty() {
        return Ok(());
    }
    let lower = scalar_arg(vals, 0);
    let upper = scalar_arg(vals, 1);
    let pos = args[2].pos();
    let sp = split(&vals[2], pos, enh);
    for (l, h) in &sp.native {
        let Some(h) = h else { continue };
        let mut annos = Annotations::new();
        let v = histogram_fraction_native(lower, upper, h, metric_name(l), pos, &mut annos);
        enh.annos.merge(annos);
        enh.out.push(Sample {
            metric: enh.drop_labels(l),
            t: enh.ts,
            f: v,
            h: None,
            drop_name: true,
        });
    }
    for (l, b) in sp.classic {
        if b.is_empty() {
            continue;
        }
        enh.out.push(Sample {
            metric: enh.drop_labels(&l),
            t: enh.ts,
            f: bucket_fraction(lower, upper, b),
            h: None,
            drop_name: true,
        });
    }
    Ok(())
}

/// Prometheus' `FormatOpenMetricsFloat`.
fn format_openmetrics_float(f: f64) -> String {
    if f == 1.0 {
        return "1.0".into();
    }
    if f == 0.0 {
        return "0.0".into();
    }
    if f == -1.0 {
        return "-1.0".into();
    }
    let s = hist::fmt_g(f);
    if f.is_finite() && !s.contains(['e', '.']) {
        format!("{s}.0")
    } else {
        s
    }
}

/// `histogram_quantiles(v, label, q...)`: several quantiles at once, labelled.
pub fn histogram_quantiles(
    vals: &[Vector],
    _: Option<&Window<'_>>,
    args: &[Expr],
    enh: &mut Helper,
) -> R {
    let label = match args.get(1) {
        Some(Expr::StringLiteral(s)) => s.val.clone(),
        _ => return Ok(()),
    };
    let mut qs = Vec::new();
    for (i, v) in vals.iter().enumerate().skip(2) {
        let q = v.first().map_or(f64::NAN, |s| s.f);
        if q.is_nan() || !(0.0..=1.0).contains(&q) {
            enh.annos.add(anno::invalid_quantile(q, args[i].pos()));
        }
        qs.push(q);
    }
    let pos = args[0].pos();
    let sp = split(&vals[0], pos, enh);
    for q in qs {
        let qstr = format_openmetrics_float(q);
        for (l, h) in &sp.native {
            let Some(h) = h else { continue };
            let mut annos = Annotations::new();
            let v = histogram_quantile_native(q, h, metric_name(l), pos, &mut annos);
            enh.annos.merge(annos);
            enh.out.push(Sample {
                metric: crate::engine::eval::set_label(&enh.drop_labels(l), &label, &qstr),
                t: enh.ts,
                f: v,
                h: None,
                drop_name: true,
            });
        }
        for (l, b) in &sp.classic {
            if b.is_empty() {
                continue;
            }
            let (v, forced) = bucket_quantile(q, b.clone());
            if forced {
                let name = if enh.delayed_name_removal {
                    metric_name(l).to_string()
                } else {
                    String::new()
                };
                enh.annos.add(anno::forced_monotonicity(&name, pos));
            }
            enh.out.push(Sample {
                metric: crate::engine::eval::set_label(&enh.drop_labels(l), &label, &qstr),
                t: enh.ts,
                f: v,
                h: None,
                drop_name: true,
            });
        }
    }
    Ok(())
}
