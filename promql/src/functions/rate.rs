//! Counter and gauge functions over a range: rate/increase/delta (with Prometheus'
//! extrapolation), irate/idelta, deriv, predict_linear, resets, changes and
//! double_exponential_smoothing, plus the anchored/smoothed range variants.

use std::sync::Arc;

use chunkenc::{CounterResetHint, FloatHistogram};
use tsdb_index::Labels;

use super::{hist, kahan, metric_name, scalar_arg, Helper, RangeArg, Window};
use crate::ast::{Expr, PosRange};
use crate::engine::annotations::{new as anno, Annotations, HistogramOp};
use crate::engine::EngineError;
use crate::value::{FPoint, HPoint, Sample, Vector};

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

fn extended_rate(s: &Window<'_>, enh: &mut Helper, is_counter: bool, is_rate: bool) -> R {
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
    s: &Window<'_>,
    args: &[Expr],
    enh: &mut Helper,
    is_counter: bool,
    is_rate: bool,
) -> R {
    let ra = range(enh);
    let pos = args[0].pos();
    let name = metric_name(s.metric).to_string();
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
    starts: &[i64],
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
        let st_reset = starts.len() > 1
            && is_start_timestamp_reset(starts[0], points[0].t, starts[1], points[1].t);
        if st_reset || hist::detect_reset(second, &prev) {
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
        let mut overlap_seen = false;
        for (i, p) in points[1..].iter().enumerate() {
            let prev_t = points[i].t;
            if !overlap_seen
                && i + 1 < starts.len()
                && start_time_overlaps(starts[i], prev_t, starts[i + 1])
            {
                annos.add(anno::start_time_overlap(metric, pos));
                overlap_seen = true;
            }
            let st_reset = i + 1 < starts.len()
                && is_start_timestamp_reset(starts[i], prev_t, starts[i + 1], p.t);
            if st_reset || hist::detect_reset(&p.h, prev_ref) {
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
    m: Option<&Window<'_>>,
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
                .add(anno::mixed_floats_histograms(metric_name(s.metric), pos));
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
    extrapolated_rate_plain(s, args, enh, is_counter, is_rate)
}

/// Whether the start timestamps say the counter was reset between the previous sample
/// and the current one. A start time pointing exactly at the previous sample is a reset
/// for delta-style series (the previous sample had a known start time of its own), not for
/// cumulative series whose start is unknown.
fn is_start_timestamp_reset(prev_st: i64, prev_t: i64, cur_st: i64, cur_t: i64) -> bool {
    // Unknown, invalid (after the sample) or OTel's "unknown start" (equal to the sample).
    if cur_st == 0 || cur_st >= cur_t {
        return false;
    }
    if cur_st != prev_t {
        return cur_st > prev_t;
    }
    // A previous start time after its own sample is invalid: treat it as unknown.
    if prev_st > prev_t {
        return false;
    }
    prev_st != 0 && prev_st != prev_t
}

/// Whether a sample's start time lies before the previous sample without being the
/// previous sample's start time (neither a delta nor a cumulative series would do that).
fn start_time_overlaps(prev_st: i64, prev_t: i64, cur_st: i64) -> bool {
    cur_st != 0 && cur_st < prev_t && cur_st != prev_st
}

/// rate/increase/delta over a plain (neither anchored nor smoothed) range, with
/// Prometheus' extrapolation towards the range boundaries. A counter whose first sample
/// has a start time inside the range starts from zero at that time instead of being
/// extrapolated to the left.
fn extrapolated_rate_plain(
    s: &Window<'_>,
    args: &[Expr],
    enh: &mut Helper,
    is_counter: bool,
    is_rate: bool,
) -> R {
    let ra = range(enh);
    let pos = args[0].pos();
    let range_start = enh.ts - (ra.range_ms + ra.offset_ms);
    let range_end = enh.ts - ra.offset_ms;
    if !s.histograms.is_empty() && !s.floats.is_empty() {
        enh.annos
            .add(anno::mixed_floats_histograms(metric_name(s.metric), pos));
        return Ok(());
    }
    let mut result_f = 0.0;
    let mut result_h: Option<FloatHistogram> = None;
    let mut starts: &[i64] = &[];
    let (first_t, last_t, n_minus_one);
    if !s.histograms.is_empty() {
        n_minus_one = s.histograms.len() - 1;
        first_t = s.histograms[0].t;
        last_t = s.histograms[n_minus_one].t;
        starts = s.histogram_starts;
        if s.histograms.len() > 1 {
            let mut annos = Annotations::new();
            let r = histogram_rate(
                s.histograms,
                starts,
                is_counter,
                metric_name(s.metric),
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
            starts = s.float_starts;
            let mut overlap_seen = false;
            for (i, w) in s.floats.windows(2).enumerate() {
                let (prev, cur) = (w[0], w[1]);
                let has_starts = i + 1 < starts.len();
                if !overlap_seen
                    && has_starts
                    && start_time_overlaps(starts[i], prev.t, starts[i + 1])
                {
                    enh.annos
                        .add(anno::start_time_overlap(metric_name(s.metric), pos));
                    overlap_seen = true;
                }
                if cur.f < prev.f
                    || (has_starts
                        && is_start_timestamp_reset(starts[i], prev.t, starts[i + 1], cur.t))
                {
                    result_f += prev.f;
                }
            }
        }
    } else {
        return Ok(());
    }
    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let mut sampled = (last_t - first_t) as f64 / 1000.0;
    let avg = if n_minus_one > 0 {
        sampled / n_minus_one as f64
    } else {
        0.0
    };
    let threshold = avg * 1.1;
    let first_st = starts.first().copied().unwrap_or(0);
    if is_counter && first_st != 0 && first_st > range_start && first_st < first_t {
        // The counter started inside the range (the range start is exclusive): assume a
        // zero sample at its start time instead of extrapolating to the left. With a single
        // sample the average spacing is 0, so there is no extrapolation to the right either.
        duration_to_start = 0.0;
        sampled = (last_t - first_st) as f64 / 1000.0;
        if !s.floats.is_empty() {
            result_f += s.floats[0].f;
        } else {
            let first = &s.histograms[0].h;
            match &mut result_h {
                None => result_h = Some((**first).clone()),
                Some(h) => match hist::add(h, first) {
                    Err(_) => {
                        enh.annos
                            .add(anno::mixed_exponential_custom(metric_name(s.metric), pos));
                        return Ok(());
                    }
                    Ok(o) => {
                        if o.nhcb_bounds_reconciled {
                            enh.annos
                                .add(anno::mismatched_custom_buckets(pos, HistogramOp::Add));
                        }
                    }
                },
            }
        }
    } else if n_minus_one == 0 {
        // One sample and no usable start time: nothing to compute.
        return Ok(());
    } else {
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
pub fn rate(_: &[Vector], m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
    extrapolated_rate(m, args, enh, true, true)
}

/// `increase(m)`
pub fn increase(_: &[Vector], m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
    extrapolated_rate(m, args, enh, true, false)
}

/// `delta(m)`
pub fn delta(_: &[Vector], m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
    extrapolated_rate(m, args, enh, false, false)
}

/// A float or histogram sample with its start timestamp (0 = unknown).
enum Pt2 {
    F(i64, f64, i64),
    H(i64, Arc<FloatHistogram>, i64),
}

impl Pt2 {
    fn t(&self) -> i64 {
        match self {
            Pt2::F(t, ..) | Pt2::H(t, ..) => *t,
        }
    }

    fn st(&self) -> i64 {
        match self {
            Pt2::F(_, _, st) | Pt2::H(_, _, st) => *st,
        }
    }
}

fn instant_value(m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper, is_rate: bool) -> R {
    let s = m.expect("range function without range");
    if s.floats.len() + s.histograms.len() < 2 {
        return Ok(());
    }
    let mut ss: Vec<Pt2> = Vec::with_capacity(2);
    let from = s.floats.len().saturating_sub(2);
    for (i, p) in s.floats.iter().enumerate().skip(from) {
        ss.push(Pt2::F(
            p.t,
            p.f,
            s.float_starts.get(i).copied().unwrap_or(0),
        ));
    }
    let from = s.histograms.len().saturating_sub(2);
    for (i, p) in s.histograms.iter().enumerate().skip(from) {
        let st = s.histogram_starts.get(i).copied().unwrap_or(0);
        let x = Pt2::H(p.t, p.h.clone(), st);
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
    let name = metric_name(s.metric).to_string();
    let st_reset = is_start_timestamp_reset(ss[0].st(), ss[0].t(), ss[1].st(), ss[1].t());
    match (&ss[0], &ss[1]) {
        (Pt2::F(_, a, _), Pt2::F(_, b, _)) => {
            // A counter reset (a decrease, or one the start times show) leaves the later value.
            let mut r = if !is_rate || !(b < a || st_reset) {
                b - a
            } else {
                *b
            };
            if is_rate {
                r /= interval as f64 / 1000.0;
            }
            push_f(enh, r);
        }
        (Pt2::H(_, a, _), Pt2::H(_, b, _)) => {
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
            if !is_rate || (!st_reset && !hist::detect_reset(b, a)) {
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
pub fn irate(_: &[Vector], m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
    instant_value(m, args, enh, true)
}

/// `idelta(m)`
pub fn idelta(_: &[Vector], m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
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
pub fn deriv(_: &[Vector], m: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
    let s = m.expect("range function without range");
    if s.floats.len() < 2 {
        if s.floats.len() == 1 && !s.histograms.is_empty() {
            enh.annos.add(anno::histogram_ignored_in_mixed_range(
                metric_name(s.metric),
                args[0].pos(),
            ));
        }
        return Ok(());
    }
    let (slope, _) = linear_regression(s.floats, s.floats[0].t);
    if !s.histograms.is_empty() {
        enh.annos.add(anno::histogram_ignored_in_mixed_range(
            metric_name(s.metric),
            args[0].pos(),
        ));
    }
    push_f(enh, slope);
    Ok(())
}

/// `predict_linear(m, t)`
pub fn predict_linear(
    vals: &[Vector],
    m: Option<&Window<'_>>,
    args: &[Expr],
    enh: &mut Helper,
) -> R {
    let s = m.expect("range function without range");
    if vals.is_empty() || vals[0].is_empty() {
        return Ok(());
    }
    let d = scalar_arg(vals, 0);
    if s.floats.len() < 2 {
        if s.floats.len() == 1 && !s.histograms.is_empty() {
            enh.annos.add(anno::histogram_ignored_in_mixed_range(
                metric_name(s.metric),
                args[0].pos(),
            ));
        }
        return Ok(());
    }
    let (slope, intercept) = linear_regression(s.floats, enh.ts);
    if !s.histograms.is_empty() {
        enh.annos.add(anno::histogram_ignored_in_mixed_range(
            metric_name(s.metric),
            args[0].pos(),
        ));
    }
    push_f(enh, slope * d + intercept);
    Ok(())
}

/// First float / histogram indices for anchored ranges (see Prometheus'
/// `pickFirstSampleIndices`); `None` when nothing lies after the range start.
fn pick_first(s: &Window<'_>, enh: &Helper) -> Option<(usize, usize)> {
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

/// One sample of a merged walk: timestamp, start timestamp (0 = unknown) and value.
struct Walked<'a> {
    t: i64,
    st: i64,
    f: Option<f64>,
    h: Option<&'a FloatHistogram>,
}

/// Merged walk over floats and histograms in time order, with each sample's start
/// timestamp (0 where there is none).
fn walk_merged<'a>(s: &Window<'a>, ff: usize, fh: usize, mut f: impl FnMut(Walked<'a>)) {
    let (mut i, mut j) = (ff, fh);
    while i < s.floats.len() || j < s.histograms.len() {
        if j >= s.histograms.len() || (i < s.floats.len() && s.floats[i].t < s.histograms[j].t) {
            f(Walked {
                t: s.floats[i].t,
                st: s.float_starts.get(i).copied().unwrap_or(0),
                f: Some(s.floats[i].f),
                h: None,
            });
            i += 1;
        } else {
            f(Walked {
                t: s.histograms[j].t,
                st: s.histogram_starts.get(j).copied().unwrap_or(0),
                f: None,
                h: Some(&s.histograms[j].h),
            });
            j += 1;
        }
    }
}

/// `resets(m)`: decreases, histogram counter resets, switches between floats and
/// histograms, and resets the start timestamps show.
pub fn resets(_: &[Vector], m: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    let s = m.expect("range function without range");
    if s.floats.is_empty() && s.histograms.is_empty() {
        return Ok(());
    }
    let Some((ff, fh)) = pick_first(s, enh) else {
        return Ok(());
    };
    let count = {
        let mut count = 0;
        let mut prev: Option<Walked<'_>> = None;
        walk_merged(s, ff, fh, |cur| {
            if let Some(p) = &prev {
                let st_reset = is_start_timestamp_reset(p.st, p.t, cur.st, cur.t);
                match (p.f, p.h, cur.f, cur.h) {
                    (Some(a), _, Some(b), _) => {
                        if b < a || st_reset {
                            count += 1;
                        }
                    }
                    (_, Some(a), _, Some(b)) => {
                        if st_reset || hist::detect_reset(b, a) {
                            count += 1;
                        }
                    }
                    _ => count += 1,
                }
            }
            prev = Some(cur);
        });
        count
    };
    push_f(enh, count as f64);
    Ok(())
}

/// `changes(m)`
pub fn changes(_: &[Vector], m: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    let s = m.expect("range function without range");
    if s.floats.is_empty() && s.histograms.is_empty() {
        return Ok(());
    }
    let Some((ff, fh)) = pick_first(s, enh) else {
        return Ok(());
    };
    let mut count = 0;
    let mut prev: Option<Walked<'_>> = None;
    walk_merged(s, ff, fh, |cur| {
        if let Some(p) = &prev {
            match (p.f, p.h, cur.f, cur.h) {
                (Some(a), _, Some(b), _) => {
                    if b != a && !(a.is_nan() && b.is_nan()) {
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
        prev = Some(cur);
    });
    push_f(enh, count as f64);
    Ok(())
}

/// `double_exponential_smoothing(m, sf, tf)`
pub fn double_exponential_smoothing(
    vals: &[Vector],
    m: Option<&Window<'_>>,
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
                metric_name(s.metric),
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
            metric_name(s.metric),
            args[0].pos(),
        ));
    }
    push_f(enh, s1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{is_start_timestamp_reset, start_time_overlaps};

    #[test]
    fn start_timestamp_resets() {
        // Unknown, after the sample, or equal to it (OTel's unknown start): no reset.
        assert!(!is_start_timestamp_reset(0, 1000, 0, 2000));
        assert!(!is_start_timestamp_reset(0, 1000, 2500, 2000));
        assert!(!is_start_timestamp_reset(0, 1000, 2000, 2000));
        // Cumulative: the start time lies before the previous sample.
        assert!(!is_start_timestamp_reset(500, 1000, 500, 2000));
        // A start time after the previous sample: the counter restarted.
        assert!(is_start_timestamp_reset(500, 1000, 1500, 2000));
        // Pointing at the previous sample: a delta if that one had a start time of its own...
        assert!(is_start_timestamp_reset(500, 1000, 1000, 2000));
        // ...not a cumulative series with unknown start, nor after an invalid start time.
        assert!(!is_start_timestamp_reset(0, 1000, 1000, 2000));
        assert!(!is_start_timestamp_reset(1000, 1000, 1000, 2000));
        assert!(!is_start_timestamp_reset(1500, 1000, 1000, 2000));
    }

    #[test]
    fn start_time_overlap() {
        assert!(!start_time_overlaps(0, 1000, 0));
        assert!(!start_time_overlaps(500, 1000, 1000)); // delta
        assert!(!start_time_overlaps(500, 1000, 500)); // cumulative
        assert!(start_time_overlaps(500, 1000, 200));
    }
}
