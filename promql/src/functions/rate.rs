//! Counter and gauge functions over a range: rate/increase/delta (with Prometheus'
//! extrapolation), irate/idelta, deriv, predict_linear, resets, changes and
//! double_exponential_smoothing, plus the anchored/smoothed range variants.

use std::sync::Arc;

use chunkenc::{CounterResetHint, FloatHistogram};
use tsdb_index::Labels;

use super::{hist, kahan, metric_name, scalar_arg, Helper, RangeArg};
use crate::ast::{Expr, PosRange};
use crate::engine::annotations::{new as anno, Annotations, HistogramOp};
use crate::engine::EngineError;
use crate::value::{FPoint, HPoint, Sample, Series, Vector};

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

fn range(enh: &Helper) -> RangeArg {
    enh.range
        .expect("range-vector function without range information")
}

/// Linear interpolation between two points at `t`; for counters, a decrease is a reset.
pub fn interpolate(p1: FPoint, p2: FPoint, t: i64, is_counter: bool) -> f64 {
    let mut y1 = p1.f;
    let y2 = p2.f;
    if is_counter && y2 < y1 {
        y1 = 0.0;
    }
    y1 + (y2 - y1) * (t - p1.t) as f64 / (p2.t - p1.t) as f64
}

/// Interpolates between two histograms at `t`.
#[allow(clippy::too_many_arguments)]
pub fn interpolate_histograms(
    h1: &FloatHistogram,
    t1: i64,
    h2: &FloatHistogram,
    t2: i64,
    t: i64,
    is_counter: bool,
    annos: &mut Annotations,
    pos: PosRange,
) -> Result<FloatHistogram, hist::IncompatibleSchema> {
    if t == t1 {
        return Ok(h1.clone());
    }
    if t == t2 {
        return Ok(h2.clone());
    }
    let fraction = (t - t1) as f64 / (t2 - t1) as f64;
    if is_counter && hist::detect_reset(h2, h1) {
        let mut r = h2.clone();
        hist::mul(&mut r, fraction);
        return Ok(r);
    }
    let mut r = h2.clone();
    if hist::sub(&mut r, h1)?.nhcb_bounds_reconciled {
        annos.add(anno::mismatched_custom_buckets(pos, HistogramOp::Sub));
    }
    hist::mul(&mut r, fraction);
    if hist::add(&mut r, h1)?.nhcb_bounds_reconciled {
        annos.add(anno::mismatched_custom_buckets(pos, HistogramOp::Add));
    }
    Ok(r)
}

fn pick_left(f: &[FPoint], first: usize, range_start: i64, smoothed: bool, counter: bool) -> f64 {
    if smoothed && f[first].t < range_start && first + 1 < f.len() {
        return interpolate(f[first], f[first + 1], range_start, counter);
    }
    f[first].f
}

fn pick_right(f: &[FPoint], last: usize, range_end: i64, smoothed: bool, counter: bool) -> f64 {
    if smoothed && last > 0 && f[last].t > range_end {
        return interpolate(f[last - 1], f[last], range_end, counter);
    }
    f[last].f
}

/// Number of leading elements (among the first `n`) with `t <= x`: Go's
/// `sort.Search(n, func(i) bool { return t[i] > x })`.
fn search_gt(f: &[FPoint], n: usize, x: i64) -> usize {
    f[..n].partition_point(|p| p.t <= x)
}

fn search_ge(f: &[FPoint], n: usize, x: i64) -> usize {
    f[..n].partition_point(|p| p.t < x)
}

/// Extends a float window to exactly `(mint, maxt]` for anchored/smoothed selectors.
pub fn extend_floats(floats: &[FPoint], mint: i64, maxt: i64, smoothed: bool) -> Vec<FPoint> {
    let mut last = floats.len() - 1;
    let mut first = search_gt(floats, last, mint).saturating_sub(1);
    if smoothed {
        last = search_ge(floats, last, maxt);
    }
    if floats[last].t <= mint {
        return Vec::new();
    }
    let left = pick_left(floats, first, mint, smoothed, false);
    let right = pick_right(floats, last, maxt, smoothed, false);
    if floats[first].t <= mint {
        first += 1;
    }
    let mut last_i = last as i64;
    if floats[last].t >= maxt {
        last_i -= 1;
    }
    let mut out = Vec::with_capacity(floats.len() + 2);
    out.push(FPoint { t: mint, f: left });
    if last_i >= first as i64 {
        out.extend_from_slice(&floats[first..=last_i as usize]);
    }
    out.push(FPoint { t: maxt, f: right });
    out
}

fn extended_rate(s: &Series, enh: &mut Helper, is_counter: bool, is_rate: bool) -> R {
    let ra = range(enh);
    let f = &s.floats;
    let mut last = f.len() - 1;
    let range_start = enh.ts - (ra.range_ms + ra.offset_ms);
    let range_end = enh.ts - ra.offset_ms;
    let smoothed = ra.smoothed;
    let mut first = search_gt(f, last, range_start).saturating_sub(1);
    if smoothed {
        last = search_ge(f, last, range_end);
    }
    if f[last].t <= range_start {
        return Ok(());
    }
    if smoothed && f[first].t > range_end {
        return Ok(());
    }
    let left = pick_left(f, first, range_start, smoothed, is_counter);
    let right = pick_right(f, last, range_end, smoothed, is_counter);
    let mut result = right - left;
    if is_counter {
        if f[first].t <= range_start {
            first += 1;
        }
        let mut last_i = last as i64;
        if f[last].t >= range_end {
            last_i -= 1;
        }
        let mut correction = 0.0;
        let mut prev = left;
        if last_i >= first as i64 {
            for p in &f[first..=last_i as usize] {
                if p.f < prev {
                    correction += prev;
                }
                prev = p.f;
            }
        }
        if right < prev {
            correction += prev;
        }
        result += correction;
    }
    if is_rate {
        result /= ra.range_ms as f64 / 1000.0;
    }
    push_f(enh, result);
    Ok(())
}

fn extended_histogram_rate(
    s: &Series,
    args: &[Expr],
    enh: &mut Helper,
    is_counter: bool,
    is_rate: bool,
) -> R {
    let ra = range(enh);
    let pos = args[0].pos();
    let name = metric_name(&s.metric).to_string();
    let h = &s.histograms;
    let mut last = h.len() - 1;
    let range_start = enh.ts - (ra.range_ms + ra.offset_ms);
    let range_end = enh.ts - ra.offset_ms;
    let smoothed = ra.smoothed;
    let first = h[..last]
        .partition_point(|p| p.t <= range_start)
        .saturating_sub(1);
    if smoothed {
        last = h[..last].partition_point(|p| p.t < range_end);
    }
    if h[last].t <= range_start || (smoothed && h[first].t > range_end) {
        return Ok(());
    }
    let custom = hist::uses_custom(&h[first].h);
    for p in &h[first..=last] {
        if hist::uses_custom(&p.h) != custom {
            enh.annos.add(anno::mixed_exponential_custom(&name, pos));
            return Ok(());
        }
        if is_counter && p.h.counter_reset_hint == CounterResetHint::Gauge {
            enh.annos.add(anno::not_counter(&name, pos));
        }
    }
    let mut annos = Annotations::new();
    let left = if smoothed && h[first].t < range_start && first + 1 < h.len() {
        interpolate_histograms(
            &h[first].h,
            h[first].t,
            &h[first + 1].h,
            h[first + 1].t,
            range_start,
            is_counter,
            &mut annos,
            pos,
        )
    } else {
        Ok((*h[first].h).clone())
    };
    let right = if smoothed && last > 0 && h[last].t > range_end {
        interpolate_histograms(
            &h[last - 1].h,
            h[last - 1].t,
            &h[last].h,
            h[last].t,
            range_end,
            is_counter,
            &mut annos,
            pos,
        )
    } else {
        Ok((*h[last].h).clone())
    };
    enh.annos.merge(annos);
    let (Ok(left), Ok(right)) = (left, right) else {
        enh.annos.add(anno::mixed_exponential_custom(&name, pos));
        return Ok(());
    };
    if !is_counter
        && (left.counter_reset_hint != CounterResetHint::Gauge
            || right.counter_reset_hint != CounterResetHint::Gauge)
    {
        enh.annos.add(anno::not_gauge(&name, pos));
    }
    let mut result = right.clone();
    if hist::sub(&mut result, &left).is_err() {
        enh.annos.add(anno::mixed_exponential_custom(&name, pos));
        return Ok(());
    }
    if is_counter {
        let mut f0 = first + 1;
        let mut prev: &FloatHistogram = &left;
        if smoothed
            && h[first].t < range_start
            && first + 1 < h.len()
            && hist::detect_reset(&h[first + 1].h, &h[first].h)
        {
            prev = &h[first + 1].h;
            f0 += 1;
        }
        let l = last as i64 - 1;
        let mut correction: Option<FloatHistogram> = None;
        if f0 as i64 <= l + 1 {
            let add_corr = |c: &FloatHistogram, correction: &mut Option<FloatHistogram>| -> bool {
                match correction {
                    None => {
                        *correction = Some(c.clone());
                        true
                    }
                    Some(acc) => hist::add(acc, c).is_ok(),
                }
            };
            if (f0 as i64) <= l {
                for p in &h[f0..=l as usize] {
                    if hist::detect_reset(&p.h, prev) && !add_corr(prev, &mut correction) {
                        return Ok(());
                    }
                    prev = &p.h;
                }
            }
            if hist::detect_reset(&right, prev) && !add_corr(prev, &mut correction) {
                return Ok(());
            }
        }
        if let Some(c) = correction {
            if hist::add(&mut result, &c).is_err() {
                return Ok(());
            }
        }
    }
    if is_rate {
        hist::div(&mut result, ra.range_ms as f64 / 1000.0);
    }
    result.counter_reset_hint = CounterResetHint::Gauge;
    hist::compact(&mut result);
    push_h(enh, result);
    Ok(())
}

fn histogram_rate(
    points: &[HPoint],
    is_counter: bool,
    metric: &str,
    pos: PosRange,
    annos: &mut Annotations,
) -> Option<FloatHistogram> {
    let mut prev: FloatHistogram = (*points[0].h).clone();
    let last = &points[points.len() - 1].h;
    let mut custom = hist::uses_custom(&prev);
    if is_counter
        && (prev.counter_reset_hint == CounterResetHint::Gauge
            || last.counter_reset_hint == CounterResetHint::Gauge)
    {
        annos.add(anno::not_counter(metric, pos));
    }
    if is_counter {
        let second = &points[1].h;
        if hist::detect_reset(second, &prev) {
            prev = FloatHistogram {
                schema: second.schema,
                custom_values: second.custom_values.clone(),
                ..Default::default()
            };
            custom = hist::uses_custom(second);
        }
    }
    if hist::uses_custom(last) != custom {
        annos.add(anno::mixed_exponential_custom(metric, pos));
        return None;
    }
    let mut min_schema = last.schema.min(prev.schema);
    for p in &points[1..points.len() - 1] {
        if !is_counter {
            continue;
        }
        if p.h.counter_reset_hint == CounterResetHint::Gauge {
            annos.add(anno::not_counter(metric, pos));
        }
        min_schema = min_schema.min(p.h.schema);
        if hist::uses_custom(&p.h) != custom {
            annos.add(anno::mixed_exponential_custom(metric, pos));
            return None;
        }
    }
    let mut h = hist::copy_to_schema(last, min_schema);
    h.counter_reset_hint = last.counter_reset_hint;
    match hist::sub(&mut h, &prev) {
        Err(_) => {
            annos.add(anno::mixed_exponential_custom(metric, pos));
            return None;
        }
        Ok(o) => {
            if o.nhcb_bounds_reconciled {
                annos.add(anno::mismatched_custom_buckets(pos, HistogramOp::Sub));
            }
        }
    }
    if is_counter {
        let mut prev_ref: &FloatHistogram = &prev;
        for p in &points[1..] {
            if hist::detect_reset(&p.h, prev_ref) {
                match hist::add(&mut h, prev_ref) {
                    Err(_) => {
                        annos.add(anno::mixed_exponential_custom(metric, pos));
                        return None;
                    }
                    Ok(o) => {
                        if o.nhcb_bounds_reconciled {
                            annos.add(anno::mismatched_custom_buckets(pos, HistogramOp::Add));
                        }
                    }
                }
            }
            prev_ref = &p.h;
        }
    } else if points[0].h.counter_reset_hint != CounterResetHint::Gauge
        || last.counter_reset_hint != CounterResetHint::Gauge
    {
        annos.add(anno::not_gauge(metric, pos));
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    hist::compact(&mut h);
    Some(h)
}

fn extrapolated_rate(
    m: Option<&Series>,
    args: &[Expr],
    enh: &mut Helper,
    is_counter: bool,
    is_rate: bool,
) -> R {
    let s = m.expect("range function without range");
    let ra = range(enh);
    let pos = args[0].pos();
    if ra.anchored || ra.smoothed {
        if !s.histograms.is_empty() && !s.floats.is_empty() {
            enh.annos
                .add(anno::mixed_floats_histograms(metric_name(&s.metric), pos));
            return Ok(());
        }
        if !s.histograms.is_empty() {
            return extended_histogram_rate(s, args, enh, is_counter, is_rate);
        }
        if !s.floats.is_empty() {
            return extended_rate(s, enh, is_counter, is_rate);
        }
        return Ok(());
    }
    let range_start = enh.ts - (ra.range_ms + ra.offset_ms);
    let range_end = enh.ts - ra.offset_ms;
    if !s.histograms.is_empty() && !s.floats.is_empty() {
        enh.annos
            .add(anno::mixed_floats_histograms(metric_name(&s.metric), pos));
        return Ok(());
    }
    let mut result_f = 0.0;
    let mut result_h: Option<FloatHistogram> = None;
    let (first_t, last_t, n_minus_one);
    if !s.histograms.is_empty() {
        n_minus_one = s.histograms.len() - 1;
        first_t = s.histograms[0].t;
        last_t = s.histograms[n_minus_one].t;
        if s.histograms.len() > 1 {
            let mut annos = Annotations::new();
            let r = histogram_rate(
                &s.histograms,
                is_counter,
                metric_name(&s.metric),
                pos,
                &mut annos,
            );
            enh.annos.merge(annos);
            match r {
                None => return Ok(()),
                Some(h) => result_h = Some(h),
            }
        }
    } else if !s.floats.is_empty() {
        n_minus_one = s.floats.len() - 1;
        first_t = s.floats[0].t;
        last_t = s.floats[n_minus_one].t;
        result_f = s.floats[n_minus_one].f - s.floats[0].f;
        if is_counter {
            for w in s.floats.windows(2) {
                if w[1].f < w[0].f {
                    result_f += w[0].f;
                }
            }
        }
    } else {
        return Ok(());
    }
    if n_minus_one == 0 {
        return Ok(());
    }
    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg = sampled / n_minus_one as f64;
    let threshold = avg * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = avg / 2.0;
    }
    if is_counter {
        let mut to_zero = duration_to_start;
        if result_f > 0.0 && !s.floats.is_empty() && s.floats[0].f >= 0.0 {
            to_zero = sampled * (s.floats[0].f / result_f);
        } else if let Some(h) = &result_h {
            if h.count > 0.0 && !s.histograms.is_empty() && s.histograms[0].h.count >= 0.0 {
                to_zero = sampled * (s.histograms[0].h.count / h.count);
            }
        }
        if to_zero < duration_to_start {
            duration_to_start = to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = avg / 2.0;
    }
    let mut factor = if sampled != 0.0 {
        (sampled + duration_to_start + duration_to_end) / sampled
    } else {
        1.0
    };
    if is_rate {
        factor /= ra.range_ms as f64 / 1000.0;
    }
    match result_h {
        None => push_f(enh, result_f * factor),
        Some(mut h) => {
            hist::mul(&mut h, factor);
            push_h(enh, h);
        }
    }
    Ok(())
}

/// `rate(m)`
pub fn rate(_: &[Vector], m: Option<&Series>, args: &[Expr], enh: &mut Helper) -> R {
    extrapolated_rate(m, args, enh, true, true)
}

/// `increase(m)`
pub fn increase(_: &[Vector], m: Option<&Series>, args: &[Expr], enh: &mut Helper) -> R {
    extrapolated_rate(m, args, enh, true, false)
}

/// `delta(m)`
pub fn delta(_: &[Vector], m: Option<&Series>, args: &[Expr], enh: &mut Helper) -> R {
    extrapolated_rate(m, args, enh, false, false)
}

enum Pt2 {
    F(i64, f64),
    H(i64, Arc<FloatHistogram>),
}

impl Pt2 {
    fn t(&self) -> i64 {
        match self {
            Pt2::F(t, _) | Pt2::H(t, _) => *t,
        }
    }
}

fn instant_value(m: Option<&Series>, args: &[Expr], enh: &mut Helper, is_rate: bool) -> R {
    let s = m.expect("range function without range");
    if s.floats.len() + s.histograms.len() < 2 {
        return Ok(());
    }
    let mut ss: Vec<Pt2> = Vec::with_capacity(2);
    for p in &s.floats[s.floats.len().saturating_sub(2)..] {
        ss.push(Pt2::F(p.t, p.f));
    }
    for p in &s.histograms[s.histograms.len().saturating_sub(2)..] {
        let x = Pt2::H(p.t, p.h.clone());
        match ss.len() {
            0 => ss.push(x),
            1 => {
                if x.t() < ss[0].t() {
                    ss.insert(0, x);
                } else {
                    ss.push(x);
                }
            }
            _ => {
                if x.t() < ss[0].t() {
                } else if x.t() > ss[1].t() {
                    ss.swap(0, 1);
                    ss[1] = x;
                } else {
                    ss[0] = x;
                }
            }
        }
    }
    let interval = ss[1].t() - ss[0].t();
    if interval == 0 {
        return Ok(());
    }
    let pos = PosRange::new(args[0].pos().start, args.last().map_or(0, |a| a.pos().end));
    let name = metric_name(&s.metric).to_string();
    match (&ss[0], &ss[1]) {
        (Pt2::F(_, a), Pt2::F(_, b)) => {
            let mut r = if !is_rate || b >= a || a.is_nan() || b.is_nan() {
                b - a
            } else {
                *b
            };
            if is_rate {
                r /= interval as f64 / 1000.0;
            }
            push_f(enh, r);
        }
        (Pt2::H(_, a), Pt2::H(_, b)) => {
            let mut r = (**b).clone();
            if is_rate
                && (b.counter_reset_hint == CounterResetHint::Gauge
                    || a.counter_reset_hint == CounterResetHint::Gauge)
            {
                enh.annos.add(anno::not_counter(&name, pos));
            }
            if !is_rate
                && (b.counter_reset_hint != CounterResetHint::Gauge
                    || a.counter_reset_hint != CounterResetHint::Gauge)
            {
                enh.annos.add(anno::not_gauge(&name, pos));
            }
            if !is_rate || !hist::detect_reset(b, a) {
                match hist::sub(&mut r, a) {
                    Err(_) => {
                        enh.annos.add(anno::mixed_exponential_custom(&name, pos));
                        return Ok(());
                    }
                    Ok(o) => {
                        if o.nhcb_bounds_reconciled {
                            enh.annos
                                .add(anno::mismatched_custom_buckets(pos, HistogramOp::Sub));
                        }
                    }
                }
            }
            r.counter_reset_hint = CounterResetHint::Gauge;
            hist::compact(&mut r);
            if is_rate {
                hist::div(&mut r, interval as f64 / 1000.0);
            }
            push_h(enh, r);
        }
        _ => {
            enh.annos.add(anno::mixed_floats_histograms(&name, pos));
        }
    }
    Ok(())
}

/// `irate(m)`
pub fn irate(_: &[Vector], m: Option<&Series>, args: &[Expr], enh: &mut Helper) -> R {
    instant_value(m, args, enh, true)
}

/// `idelta(m)`
pub fn idelta(_: &[Vector], m: Option<&Series>, args: &[Expr], enh: &mut Helper) -> R {
    instant_value(m, args, enh, false)
}

/// Least-squares slope and intercept at `intercept_t`.
fn linear_regression(samples: &[FPoint], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].f;
    let mut const_y = true;
    for (i, p) in samples.iter().enumerate() {
        if const_y && i > 0 && p.f != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan::inc(x, sx, cx);
        (sy, cy) = kahan::inc(p.f, sy, cy);
        (sxy, cxy) = kahan::inc(x * p.f, sxy, cxy);
        (sx2, cx2) = kahan::inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// `deriv(m)`
pub fn deriv(_: &[Vector], m: Option<&Series>, args: &[Expr], enh: &mut Helper) -> R {
    let s = m.expect("range function without range");
    if s.floats.len() < 2 {
        if s.floats.len() == 1 && !s.histograms.is_empty() {
            enh.annos.add(anno::histogram_ignored_in_mixed_range(
                metric_name(&s.metric),
                args[0].pos(),
            ));
        }
        return Ok(());
    }
    let (slope, _) = linear_regression(&s.floats, s.floats[0].t);
    if !s.histograms.is_empty() {
        enh.annos.add(anno::histogram_ignored_in_mixed_range(
            metric_name(&s.metric),
            args[0].pos(),
        ));
    }
    push_f(enh, slope);
    Ok(())
}

/// `predict_linear(m, t)`
pub fn predict_linear(vals: &[Vector], m: Option<&Series>, args: &[Expr], enh: &mut Helper) -> R {
    let s = m.expect("range function without range");
    if vals.is_empty() || vals[0].is_empty() {
        return Ok(());
    }
    let d = scalar_arg(vals, 0);
    if s.floats.len() < 2 {
        if s.floats.len() == 1 && !s.histograms.is_empty() {
            enh.annos.add(anno::histogram_ignored_in_mixed_range(
                metric_name(&s.metric),
                args[0].pos(),
            ));
        }
        return Ok(());
    }
    let (slope, intercept) = linear_regression(&s.floats, enh.ts);
    if !s.histograms.is_empty() {
        enh.annos.add(anno::histogram_ignored_in_mixed_range(
            metric_name(&s.metric),
            args[0].pos(),
        ));
    }
    push_f(enh, slope * d + intercept);
    Ok(())
}

/// First float / histogram indices for anchored ranges (see Prometheus'
/// `pickFirstSampleIndices`); `None` when nothing lies after the range start.
fn pick_first(s: &Series, enh: &Helper) -> Option<(usize, usize)> {
    let ra = range(enh);
    if !ra.anchored {
        return Some((0, 0));
    }
    let range_start = enh.ts - (ra.range_ms + ra.offset_ms);
    let lf = s.floats.partition_point(|p| p.t <= range_start) as i64 - 1;
    let lh = s.histograms.partition_point(|p| p.t <= range_start) as i64 - 1;
    if lf + 1 >= s.floats.len() as i64 && lh + 1 >= s.histograms.len() as i64 {
        return None;
    }
    if lf < 0 && lh < 0 {
        return Some((0, 0));
    }
    if lh < 0 || (lf >= 0 && s.floats[lf as usize].t >= s.histograms[lh as usize].t) {
        Some((lf as usize, (lh + 1) as usize))
    } else {
        Some(((lf + 1) as usize, lh as usize))
    }
}

/// Merged walk over floats and histograms in time order.
fn walk_merged(
    s: &Series,
    ff: usize,
    fh: usize,
    mut f: impl FnMut(Option<f64>, Option<&FloatHistogram>),
) {
    let (mut i, mut j) = (ff, fh);
    while i < s.floats.len() || j < s.histograms.len() {
        if j >= s.histograms.len() || (i < s.floats.len() && s.floats[i].t < s.histograms[j].t) {
            f(Some(s.floats[i].f), None);
            i += 1;
        } else {
            f(None, Some(&s.histograms[j].h));
            j += 1;
        }
    }
}

/// `resets(m)`
pub fn resets(_: &[Vector], m: Option<&Series>, _: &[Expr], enh: &mut Helper) -> R {
    let s = m.expect("range function without range");
    if s.floats.is_empty() && s.histograms.is_empty() {
        return Ok(());
    }
    let Some((ff, fh)) = pick_first(s, enh) else {
        return Ok(());
    };
    let mut count = 0;
    let mut prev: Option<(Option<f64>, Option<FloatHistogram>)> = None;
    walk_merged(s, ff, fh, |f, h| {
        if let Some((pf, ph)) = &prev {
            match (pf, ph, f, h) {
                (Some(a), _, Some(b), _) => {
                    if b < *a {
                        count += 1;
                    }
                }
                (_, Some(a), _, Some(b)) => {
                    if hist::detect_reset(b, a) {
                        count += 1;
                    }
                }
                _ => count += 1,
            }
        }
        prev = Some((f, h.cloned()));
    });
    push_f(enh, count as f64);
    Ok(())
}

/// `changes(m)`
pub fn changes(_: &[Vector], m: Option<&Series>, _: &[Expr], enh: &mut Helper) -> R {
    let s = m.expect("range function without range");
    if s.floats.is_empty() && s.histograms.is_empty() {
        return Ok(());
    }
    let Some((ff, fh)) = pick_first(s, enh) else {
        return Ok(());
    };
    let mut count = 0;
    let mut prev: Option<(Option<f64>, Option<FloatHistogram>)> = None;
    walk_merged(s, ff, fh, |f, h| {
        if let Some((pf, ph)) = &prev {
            match (pf, ph, f, h) {
                (Some(a), _, Some(b), _) => {
                    if b != *a && !(a.is_nan() && b.is_nan()) {
                        count += 1;
                    }
                }
                (_, Some(a), _, Some(b)) => {
                    if !hist::equals(a, b) {
                        count += 1;
                    }
                }
                _ => count += 1,
            }
        }
        prev = Some((f, h.cloned()));
    });
    push_f(enh, count as f64);
    Ok(())
}

/// `double_exponential_smoothing(m, sf, tf)`
pub fn double_exponential_smoothing(
    vals: &[Vector],
    m: Option<&Series>,
    args: &[Expr],
    enh: &mut Helper,
) -> R {
    let s = m.expect("range function without range");
    if vals.len() < 2 || vals[0].is_empty() || vals[1].is_empty() {
        return Ok(());
    }
    let sf = scalar_arg(vals, 0);
    let tf = scalar_arg(vals, 1);
    if sf <= 0.0 || sf >= 1.0 {
        return Err(EngineError::Eval(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(EngineError::Eval(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    let l = s.floats.len();
    if l < 2 {
        if l == 1 && !s.histograms.is_empty() {
            enh.annos.add(anno::histogram_ignored_in_mixed_range(
                metric_name(&s.metric),
                args[0].pos(),
            ));
        }
        return Ok(());
    }
    let (mut s0, mut s1) = (0.0, s.floats[0].f);
    let mut b = s.floats[1].f - s.floats[0].f;
    for i in 1..l {
        let x = sf * s.floats[i].f;
        b = if i - 1 == 0 {
            b
        } else {
            tf * (s1 - s0) + (1.0 - tf) * b
        };
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    if !s.histograms.is_empty() {
        enh.annos.add(anno::histogram_ignored_in_mixed_range(
            metric_name(&s.metric),
            args[0].pos(),
        ));
    }
    push_f(enh, s1);
    Ok(())
}
