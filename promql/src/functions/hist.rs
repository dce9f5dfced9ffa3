//! Native-histogram arithmetic over [`FloatHistogram`] as PromQL needs it: scaling, addition
//! and subtraction with schema and zero-bucket reconciliation, compaction, counter-reset
//! detection, equality and bucket iteration with bounds.
//!
//! Buckets are handled as sorted `(index, count)` lists, which keeps the span bookkeeping in
//! two small conversion functions instead of spreading it over every operation.

use chunkenc::model::CUSTOM_BUCKETS_SCHEMA;
use chunkenc::{CounterResetHint, FloatHistogram, Span};

use super::kahan;

/// Adding or subtracting an exponential and a custom-bucket histogram is undefined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot apply this operation to histograms with a mix of exponential and custom bucket schemas"
)]
pub struct IncompatibleSchema;

/// Side results of an addition or subtraction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddOutcome {
    /// One operand said "counter reset", the other "not a counter reset".
    pub counter_reset_collision: bool,
    /// Custom bucket bounds differed and were reduced to their intersection.
    pub nhcb_bounds_reconciled: bool,
}

/// One bucket with its bounds, as iterated for quantiles and fractions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Whether the lower bound belongs to the bucket.
    pub lower_inclusive: bool,
    /// Whether the upper bound belongs to the bucket.
    pub upper_inclusive: bool,
    /// Observation count.
    pub count: f64,
    /// Bucket index within its schema.
    pub index: i32,
}

impl Bucket {
    /// Fraction of this bucket's width below `v`, linearly or on a log2 scale.
    pub fn fraction_below(&self, v: f64, linear: bool) -> f64 {
        if linear {
            return (v - self.lower) / (self.upper - self.lower);
        }
        let log_lower = self.lower.abs().log2();
        let log_upper = self.upper.abs().log2();
        let log_v = v.abs().log2();
        if v > 0.0 {
            (log_v - log_lower) / (log_upper - log_lower)
        } else {
            1.0 - ((log_v - log_upper) / (log_lower - log_upper))
        }
    }
}

/// Whether the histogram uses custom bucket bounds.
#[inline]
pub fn uses_custom(h: &FloatHistogram) -> bool {
    h.schema == CUSTOM_BUCKETS_SCHEMA
}

/// Expands spans and bucket counts into `(index, count)` pairs in index order.
pub fn indexed(spans: &[Span], buckets: &[f64]) -> Vec<(i32, f64)> {
    let mut out = Vec::with_capacity(buckets.len());
    let mut idx = 0i32;
    let mut bi = 0usize;
    for (si, s) in spans.iter().enumerate() {
        if si == 0 {
            idx = s.offset;
        } else {
            idx = idx.wrapping_add(s.offset);
        }
        for _ in 0..s.length {
            if bi >= buckets.len() {
                return out;
            }
            out.push((idx, buckets[bi]));
            bi += 1;
            idx = idx.wrapping_add(1);
        }
    }
    out
}

/// Rebuilds spans and counts from sorted `(index, count)` pairs; consecutive indices share a
/// span. Zero counts are kept (see [`compact`]).
pub fn from_indexed(v: &[(i32, f64)]) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut buckets = Vec::with_capacity(v.len());
    let mut next = 0i32;
    for &(idx, c) in v {
        if let Some(last) = spans.last_mut() {
            if idx == next {
                last.length += 1;
            } else {
                spans.push(Span {
                    offset: idx - next,
                    length: 1,
                });
            }
        } else {
            spans.push(Span {
                offset: idx,
                length: 1,
            });
        }
        buckets.push(c);
        next = idx + 1;
    }
    (spans, buckets)
}

fn target_idx(idx: i32, from: i32, to: i32) -> i32 {
    ((idx - 1) >> (from - to)) + 1
}

/// Merges buckets into a lower-resolution schema.
fn reduce(v: Vec<(i32, f64)>, from: i32, to: i32) -> Vec<(i32, f64)> {
    if from == to {
        return v;
    }
    let mut out: Vec<(i32, f64)> = Vec::with_capacity(v.len());
    for (idx, c) in v {
        let t = target_idx(idx, from, to);
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 += c,
            _ => out.push((t, c)),
        }
    }
    out
}

fn merge(a: &[(i32, f64)], b: &[(i32, f64)], negate_b: bool) -> Vec<(i32, f64)> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    let sign = if negate_b { -1.0 } else { 1.0 };
    while i < a.len() || j < b.len() {
        if j >= b.len() || (i < a.len() && a[i].0 < b[j].0) {
            out.push(a[i]);
            i += 1;
        } else if i >= a.len() || b[j].0 < a[i].0 {
            out.push((b[j].0, sign * b[j].1));
            j += 1;
        } else {
            out.push((a[i].0, a[i].1 + sign * b[j].1));
            i += 1;
            j += 1;
        }
    }
    out
}

/// Upper bound of exponential bucket `idx` at `schema`.
pub fn exp_bound(idx: i32, schema: i32) -> f64 {
    if schema < 0 {
        let exp = (idx as i64) << (-schema);
        if exp == 1024 {
            return f64::MAX;
        }
        return ldexp(1.0, exp);
    }
    let frac_idx = idx & ((1 << schema) - 1);
    let frac = 2f64.powf(frac_idx as f64 / (1u64 << schema) as f64) / 2.0;
    let exp = ((idx as i64) >> schema) + 1;
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    ldexp(frac, exp)
}

fn ldexp(frac: f64, exp: i64) -> f64 {
    if exp > 2000 {
        return f64::INFINITY;
    }
    if exp < -2000 {
        return 0.0;
    }
    // Split to avoid overflow of the intermediate power of two.
    let e = exp as i32;
    let half = e / 2;
    frac * 2f64.powi(half) * 2f64.powi(e - half)
}

fn bound(idx: i32, schema: i32, custom: &[f64]) -> f64 {
    if schema == CUSTOM_BUCKETS_SCHEMA {
        let n = custom.len() as i32;
        if idx >= n {
            f64::INFINITY
        } else if idx < 0 {
            f64::NEG_INFINITY
        } else {
            custom[idx as usize]
        }
    } else {
        exp_bound(idx, schema)
    }
}

fn make_bucket(idx: i32, count: f64, schema: i32, positive: bool, custom: &[f64]) -> Bucket {
    let (lower, upper) = if positive {
        (bound(idx - 1, schema, custom), bound(idx, schema, custom))
    } else {
        (-bound(idx, schema, custom), -bound(idx - 1, schema, custom))
    };
    let (li, ui) = if schema == CUSTOM_BUCKETS_SCHEMA {
        (idx == 0, true)
    } else {
        (lower < 0.0, upper > 0.0)
    };
    Bucket {
        lower,
        upper,
        lower_inclusive: li,
        upper_inclusive: ui,
        count,
        index: idx,
    }
}

/// Positive buckets with bounds, ascending.
pub fn positive_buckets(h: &FloatHistogram) -> Vec<Bucket> {
    indexed(&h.positive_spans, &h.positive_buckets)
        .into_iter()
        .map(|(i, c)| make_bucket(i, c, h.schema, true, &h.custom_values))
        .collect()
}

/// Negative buckets with bounds, from the zero bucket downwards.
pub fn negative_buckets(h: &FloatHistogram) -> Vec<Bucket> {
    indexed(&h.negative_spans, &h.negative_buckets)
        .into_iter()
        .map(|(i, c)| make_bucket(i, c, h.schema, false, &h.custom_values))
        .collect()
}

/// The zero bucket.
pub fn zero_bucket(h: &FloatHistogram) -> Bucket {
    Bucket {
        lower: -h.zero_threshold,
        upper: h.zero_threshold,
        lower_inclusive: true,
        upper_inclusive: true,
        count: h.zero_count,
        index: 0,
    }
}

/// All buckets in ascending order of value: negative, zero (if populated), positive.
pub fn all_buckets(h: &FloatHistogram) -> Vec<Bucket> {
    let mut out = Vec::new();
    let zt = h.zero_threshold;
    let clamp = |mut b: Bucket| {
        if b.upper < 0.0 && b.upper > -zt {
            b.upper = -zt;
        } else if b.lower > 0.0 && b.lower < zt {
            b.lower = zt;
        }
        b
    };
    let mut neg = negative_buckets(h);
    neg.reverse();
    out.extend(neg.into_iter().map(clamp));
    if h.zero_count > 0.0 {
        out.push(zero_bucket(h));
    }
    out.extend(positive_buckets(h).into_iter().map(clamp));
    out
}

/// Multiplies all counts and the sum by `factor` in place.
pub fn mul(h: &mut FloatHistogram, factor: f64) {
    h.zero_count *= factor;
    h.count *= factor;
    h.sum *= factor;
    h.positive_buckets.iter_mut().for_each(|b| *b *= factor);
    h.negative_buckets.iter_mut().for_each(|b| *b *= factor);
    if factor < 0.0 {
        h.counter_reset_hint = CounterResetHint::Gauge;
    }
}

/// Divides all counts and the sum by `scalar` in place; division by zero drops all buckets.
pub fn div(h: &mut FloatHistogram, scalar: f64) {
    h.zero_count /= scalar;
    h.count /= scalar;
    h.sum /= scalar;
    if scalar == 0.0 {
        h.positive_buckets.clear();
        h.negative_buckets.clear();
        h.positive_spans.clear();
        h.negative_spans.clear();
        return;
    }
    h.positive_buckets.iter_mut().for_each(|b| *b /= scalar);
    h.negative_buckets.iter_mut().for_each(|b| *b /= scalar);
    if scalar < 0.0 {
        h.counter_reset_hint = CounterResetHint::Gauge;
    }
}

/// Removes empty buckets and merges adjacent spans.
pub fn compact(h: &mut FloatHistogram) {
    let mut p = indexed(&h.positive_spans, &h.positive_buckets);
    p.retain(|(_, c)| *c != 0.0);
    (h.positive_spans, h.positive_buckets) = from_indexed(&p);
    let mut n = indexed(&h.negative_spans, &h.negative_buckets);
    n.retain(|(_, c)| *c != 0.0);
    (h.negative_spans, h.negative_buckets) = from_indexed(&n);
}

fn adjust_counter_reset(h: &mut FloatHistogram, other: &FloatHistogram) -> bool {
    use CounterResetHint::*;
    let (a, b) = (h.counter_reset_hint, other.counter_reset_hint);
    if a == b || a == Gauge {
        return false;
    }
    if b == Gauge {
        h.counter_reset_hint = Gauge;
        return false;
    }
    if a == Unknown {
        return false;
    }
    h.counter_reset_hint = Unknown;
    b != Unknown
}

/// Zero count `h` would have with a zero threshold of at least `larger`, and the threshold
/// actually needed so that it does not cut through a populated bucket.
fn zero_count_for_larger_threshold(h: &FloatHistogram, mut larger: f64) -> (f64, f64) {
    if larger == h.zero_threshold {
        return (h.zero_count, larger);
    }
    'outer: loop {
        let mut zc = h.zero_count;
        for b in positive_buckets(h) {
            if b.lower >= larger {
                break;
            }
            zc += b.count;
            if b.upper > larger {
                if b.count != 0.0 {
                    larger = b.upper;
                }
                break;
            }
        }
        for b in negative_buckets(h) {
            if b.upper <= -larger {
                break;
            }
            zc += b.count;
            if b.lower < -larger {
                if b.count != 0.0 {
                    larger = -b.lower;
                    continue 'outer;
                }
                break;
            }
        }
        return (zc, larger);
    }
}

fn trim_buckets_in_zero_bucket(h: &mut FloatHistogram) {
    let zt = h.zero_threshold;
    let schema = h.schema;
    let mut p = indexed(&h.positive_spans, &h.positive_buckets);
    p.retain(|(i, _)| exp_bound(*i - 1, schema) >= zt);
    (h.positive_spans, h.positive_buckets) = from_indexed(&p);
    let mut n = indexed(&h.negative_spans, &h.negative_buckets);
    n.retain(|(i, _)| exp_bound(*i - 1, schema) >= zt);
    (h.negative_spans, h.negative_buckets) = from_indexed(&n);
}

/// Makes the zero buckets of `h` and `other` agree; returns `other`'s zero count under the
/// common threshold (`other` itself is left alone).
fn reconcile_zero_buckets(h: &mut FloatHistogram, other: &FloatHistogram) -> f64 {
    let mut other_zc = other.zero_count;
    let mut other_zt = other.zero_threshold;
    let mut guard = 0;
    while other_zt != h.zero_threshold && guard < 64 {
        guard += 1;
        if h.zero_threshold > other_zt {
            (other_zc, other_zt) = zero_count_for_larger_threshold(other, h.zero_threshold);
        }
        if other_zt > h.zero_threshold {
            let (zc, zt) = zero_count_for_larger_threshold(h, other_zt);
            h.zero_count = zc;
            h.zero_threshold = zt;
            trim_buckets_in_zero_bucket(h);
        }
    }
    other_zc
}

fn intersect_bounds(a: &[f64], b: &[f64]) -> Vec<f64> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(a[i]);
            i += 1;
            j += 1;
        } else if a[i] < b[j] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Maps custom buckets onto coarser `target` bounds (a subset of `bounds`).
fn map_custom(v: &[(i32, f64)], bounds: &[f64], target: &[f64], sign: f64, out: &mut [f64]) {
    for &(idx, c) in v {
        let mut t = target.len();
        if (idx as usize) < bounds.len() && idx >= 0 {
            let b = bounds[idx as usize];
            if let Some(p) = target.iter().position(|x| *x >= b) {
                t = p;
            }
        }
        out[t] += sign * c;
    }
}

fn add_impl(
    h: &mut FloatHistogram,
    other: &FloatHistogram,
    negate: bool,
) -> Result<AddOutcome, IncompatibleSchema> {
    if uses_custom(h) != uses_custom(other) {
        return Err(IncompatibleSchema);
    }
    let mut outcome = AddOutcome {
        counter_reset_collision: adjust_counter_reset(h, other),
        ..Default::default()
    };
    let sign = if negate { -1.0 } else { 1.0 };
    if !uses_custom(h) {
        let ozc = reconcile_zero_buckets(h, other);
        h.zero_count += sign * ozc;
    }
    h.count += sign * other.count;
    h.sum += sign * other.sum;
    if uses_custom(h) {
        let a = indexed(&h.positive_spans, &h.positive_buckets);
        let b = indexed(&other.positive_spans, &other.positive_buckets);
        if h.custom_values == other.custom_values {
            (h.positive_spans, h.positive_buckets) = from_indexed(&merge(&a, &b, negate));
        } else {
            outcome.nhcb_bounds_reconciled = true;
            let target = intersect_bounds(&h.custom_values, &other.custom_values);
            let mut dense = vec![0.0; target.len() + 1];
            map_custom(&a, &h.custom_values, &target, 1.0, &mut dense);
            map_custom(&b, &other.custom_values, &target, sign, &mut dense);
            let v: Vec<(i32, f64)> = dense
                .iter()
                .enumerate()
                .filter(|(_, c)| **c != 0.0)
                .map(|(i, c)| (i as i32, *c))
                .collect();
            (h.positive_spans, h.positive_buckets) = from_indexed(&v);
            h.custom_values = target;
        }
        return Ok(outcome);
    }
    let schema = h.schema.min(other.schema);
    // The zero bucket may have grown; drop other's buckets inside it (already counted).
    let zt = h.zero_threshold;
    let keep_pos = |v: Vec<(i32, f64)>, s: i32| -> Vec<(i32, f64)> {
        v.into_iter()
            .filter(|(i, _)| zt == 0.0 || exp_bound(*i, s) > zt)
            .collect()
    };
    let hp = reduce(
        indexed(&h.positive_spans, &h.positive_buckets),
        h.schema,
        schema,
    );
    let hn = reduce(
        indexed(&h.negative_spans, &h.negative_buckets),
        h.schema,
        schema,
    );
    let op = keep_pos(
        reduce(
            indexed(&other.positive_spans, &other.positive_buckets),
            other.schema,
            schema,
        ),
        schema,
    );
    let on = keep_pos(
        reduce(
            indexed(&other.negative_spans, &other.negative_buckets),
            other.schema,
            schema,
        ),
        schema,
    );
    h.schema = schema;
    (h.positive_spans, h.positive_buckets) = from_indexed(&merge(&hp, &op, negate));
    (h.negative_spans, h.negative_buckets) = from_indexed(&merge(&hn, &on, negate));
    Ok(outcome)
}

/// `h += other`, reconciling schema and zero threshold.
pub fn add(
    h: &mut FloatHistogram,
    other: &FloatHistogram,
) -> Result<AddOutcome, IncompatibleSchema> {
    add_impl(h, other, false)
}

/// `h -= other`, reconciling schema and zero threshold. The caller sets the gauge hint.
pub fn sub(
    h: &mut FloatHistogram,
    other: &FloatHistogram,
) -> Result<AddOutcome, IncompatibleSchema> {
    add_impl(h, other, true)
}

/// A copy of `h` reduced to the lower-resolution `schema`.
pub fn copy_to_schema(h: &FloatHistogram, schema: i32) -> FloatHistogram {
    if schema == h.schema || uses_custom(h) {
        return h.clone();
    }
    let mut c = h.clone();
    c.schema = schema;
    c.counter_reset_hint = CounterResetHint::Unknown;
    (c.positive_spans, c.positive_buckets) = from_indexed(&reduce(
        indexed(&h.positive_spans, &h.positive_buckets),
        h.schema,
        schema,
    ));
    (c.negative_spans, c.negative_buckets) = from_indexed(&reduce(
        indexed(&h.negative_spans, &h.negative_buckets),
        h.schema,
        schema,
    ));
    c
}

/// Bit-exact equality of two (compacted) histograms, ignoring span layout details.
pub fn equals(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    if a.schema != b.schema
        || a.count.to_bits() != b.count.to_bits()
        || a.sum.to_bits() != b.sum.to_bits()
    {
        return false;
    }
    if uses_custom(a) && a.custom_values != b.custom_values {
        return false;
    }
    if a.zero_threshold != b.zero_threshold || a.zero_count.to_bits() != b.zero_count.to_bits() {
        return false;
    }
    let same = |x: Vec<(i32, f64)>, y: Vec<(i32, f64)>| {
        x.len() == y.len()
            && x.iter()
                .zip(y.iter())
                .all(|(p, q)| p.0 == q.0 && p.1.to_bits() == q.1.to_bits())
    };
    same(
        indexed(&a.positive_spans, &a.positive_buckets),
        indexed(&b.positive_spans, &b.positive_buckets),
    ) && same(
        indexed(&a.negative_spans, &a.negative_buckets),
        indexed(&b.negative_spans, &b.negative_buckets),
    )
}

/// Whether `h` shows a counter reset relative to `prev` (hint first, then the counts).
pub fn detect_reset(h: &FloatHistogram, prev: &FloatHistogram) -> bool {
    match h.counter_reset_hint {
        CounterResetHint::CounterReset => return true,
        CounterResetHint::NotCounterReset => return false,
        _ => {}
    }
    if h.count < prev.count {
        return true;
    }
    if uses_custom(h) {
        if !uses_custom(prev) {
            return true;
        }
        if h.custom_values != prev.custom_values {
            let target = intersect_bounds(&h.custom_values, &prev.custom_values);
            let mut a = vec![0.0; target.len() + 1];
            let mut b = vec![0.0; target.len() + 1];
            map_custom(
                &indexed(&h.positive_spans, &h.positive_buckets),
                &h.custom_values,
                &target,
                1.0,
                &mut a,
            );
            map_custom(
                &indexed(&prev.positive_spans, &prev.positive_buckets),
                &prev.custom_values,
                &target,
                1.0,
                &mut b,
            );
            return a.iter().zip(b.iter()).any(|(x, y)| x < y);
        }
    } else if uses_custom(prev) {
        return true;
    }
    if h.schema > prev.schema {
        return true;
    }
    if h.zero_threshold < prev.zero_threshold {
        return true;
    }
    let (prev_zc, new_zt) = zero_count_for_larger_threshold(prev, h.zero_threshold);
    if new_zt != h.zero_threshold {
        return true;
    }
    if h.zero_count < prev_zc {
        return true;
    }
    let zt = h.zero_threshold;
    let custom = uses_custom(h);
    for (cs, cb, ps, pb) in [
        (
            &h.positive_spans,
            &h.positive_buckets,
            &prev.positive_spans,
            &prev.positive_buckets,
        ),
        (
            &h.negative_spans,
            &h.negative_buckets,
            &prev.negative_spans,
            &prev.negative_buckets,
        ),
    ] {
        let skip = |v: Vec<(i32, f64)>| -> Vec<(i32, f64)> {
            if custom || zt == 0.0 {
                v
            } else {
                v.into_iter()
                    .filter(|(i, _)| exp_bound(*i, h.schema) > zt)
                    .collect()
            }
        };
        let curr = skip(indexed(cs, cb));
        let p = if custom {
            indexed(ps, pb)
        } else {
            skip(reduce(indexed(ps, pb), prev.schema, h.schema))
        };
        let mut j = 0;
        for (idx, pc) in p {
            while j < curr.len() && curr[j].0 < idx {
                j += 1;
            }
            if j < curr.len() && curr[j].0 == idx {
                if curr[j].1 < pc {
                    return true;
                }
            } else if pc != 0.0 {
                return true;
            }
        }
    }
    false
}

/// Whether any count or the sum is infinite.
pub fn has_overflow(h: &FloatHistogram) -> bool {
    h.zero_count.is_infinite()
        || h.count.is_infinite()
        || h.sum.is_infinite()
        || h.positive_buckets.iter().any(|v| v.is_infinite())
        || h.negative_buckets.iter().any(|v| v.is_infinite())
}

/// Renders a histogram as Prometheus' `FloatHistogram.String` does (used by `count_values`).
pub fn to_display_string(h: &FloatHistogram) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = write!(s, "{{count:{}, sum:{}", fmt_g(h.count), fmt_g(h.sum));
    let neg = negative_buckets(h);
    for b in neg.iter().rev().filter(|b| b.count != 0.0) {
        let _ = write!(s, ", {}", bucket_string(b));
    }
    if h.zero_count != 0.0 {
        let _ = write!(s, ", {}", bucket_string(&zero_bucket(h)));
    }
    for b in positive_buckets(h).iter().filter(|b| b.count != 0.0) {
        let _ = write!(s, ", {}", bucket_string(b));
    }
    s.push('}');
    s
}

fn bucket_string(b: &Bucket) -> String {
    format!(
        "{}{},{}{}:{}",
        if b.lower_inclusive { '[' } else { '(' },
        fmt_g(b.lower),
        fmt_g(b.upper),
        if b.upper_inclusive { ']' } else { ')' },
        fmt_g(b.count)
    )
}

/// Formats a float like Go's `%g` (shortest representation, exponent for large/small).
pub fn fmt_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-4..21).contains(&exp) {
        let s = format!("{:e}", v);
        // Rust: 1e21 / 1.5e-7; Go: 1e+21 / 1.5e-07.
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = if let Some(d) = e.strip_prefix('-') {
                ('-', d)
            } else {
                ('+', e)
            };
            let digits = if digits.len() < 2 {
                format!("0{digits}")
            } else {
                digits.to_string()
            };
            return format!("{m}e{sign}{digits}");
        }
        s
    } else {
        format!("{}", v)
    }
}

/// Keeps only observations below (`upper == true`, operator `</`) or above (`>/`) `rhs`,
/// interpolating inside the bucket that contains it, and re-estimates count and sum.
pub fn trim_buckets(h: &mut FloatHistogram, rhs: f64, upper: bool) {
    let custom = uses_custom(h);
    let (mut count, mut sum) = (0.0, 0.0);
    let mut trimmed = false;
    let (mut has_pos, mut has_neg) = (false, false);
    for positive in [true, false] {
        let buckets = if positive {
            positive_buckets(h)
        } else {
            negative_buckets(h)
        };
        for (i, b) in buckets.iter().enumerate() {
            if b.count == 0.0 {
                continue;
            }
            if positive {
                has_pos = true;
            } else {
                has_neg = true;
            }
            let keep_all = if upper {
                b.upper <= rhs
            } else {
                b.lower >= rhs
            };
            let partial = if upper { b.lower < rhs } else { b.upper > rhs };
            let slot = if positive {
                &mut h.positive_buckets[i]
            } else {
                &mut h.negative_buckets[i]
            };
            if keep_all {
                count += b.count;
                sum += trim_midpoint(b.lower, b.upper, positive, custom) * b.count;
            } else if partial {
                let (keep, mid) = bucket_trim(b, rhs, upper, positive, custom);
                count += keep;
                sum += mid * keep;
                if *slot != keep {
                    *slot = keep;
                    trimmed = true;
                }
            } else {
                *slot = 0.0;
                trimmed = true;
            }
        }
    }
    if h.zero_count > 0.0 {
        let (keep, mid) = zero_bucket_trim(&zero_bucket(h), rhs, has_neg, has_pos, upper);
        if h.zero_count != keep {
            h.zero_count = keep;
            trimmed = true;
        }
        sum += mid * keep;
        count += keep;
    }
    if trimmed {
        h.count = count;
        h.sum = sum;
        compact(h);
    }
}

fn trim_midpoint(lo: f64, hi: f64, positive: bool, linear: bool) -> f64 {
    if lo.is_infinite() {
        if hi.is_infinite() {
            return 0.0;
        }
        return if hi > 0.0 { hi / 2.0 } else { hi };
    }
    if hi.is_infinite() {
        return lo;
    }
    if linear {
        return (lo + hi) / 2.0;
    }
    let g = (lo * hi).abs().sqrt();
    if positive {
        g
    } else {
        -g
    }
}

fn infinity_bucket_trim(upper_trim: bool, b: &Bucket, rhs: f64) -> (f64, f64) {
    let zero_if_inf = |x: f64| if x.is_infinite() { 0.0 } else { x };
    if b.lower == f64::NEG_INFINITY {
        if upper_trim {
            if rhs >= b.upper {
                return (b.count, 0.0);
            }
            if rhs > 0.0 && b.upper > 0.0 && b.upper.is_finite() {
                return (b.count * rhs / b.upper, rhs / 2.0);
            }
            if b.upper <= 0.0 {
                return (b.count, rhs);
            }
            return (0.0, zero_if_inf(b.upper));
        }
        if rhs <= b.lower {
            return (b.count, 0.0);
        }
        if rhs >= 0.0 && b.upper > rhs && b.upper.is_finite() {
            return (b.count * (1.0 - rhs / b.upper), (rhs + b.upper) / 2.0);
        }
        return (0.0, zero_if_inf(b.upper));
    }
    if upper_trim {
        return (0.0, zero_if_inf(b.lower));
    }
    if rhs >= b.lower {
        return (b.count, rhs);
    }
    (0.0, zero_if_inf(b.lower))
}

fn bucket_trim(b: &Bucket, rhs: f64, upper_trim: bool, positive: bool, custom: bool) -> (f64, f64) {
    if b.lower == f64::NEG_INFINITY || b.upper == f64::INFINITY {
        return infinity_bucket_trim(upper_trim, b, rhs);
    }
    let under = if rhs <= b.lower {
        0.0
    } else if rhs >= b.upper {
        b.count
    } else {
        b.count * b.fraction_below(rhs, custom)
    };
    if upper_trim {
        (under, trim_midpoint(b.lower, rhs, positive, custom))
    } else {
        (
            b.count - under,
            trim_midpoint(rhs, b.upper, positive, custom),
        )
    }
}

fn zero_bucket_trim(
    z: &Bucket,
    rhs: f64,
    has_neg: bool,
    has_pos: bool,
    upper_trim: bool,
) -> (f64, f64) {
    let (mut lo, mut hi) = (z.lower, z.upper);
    if has_neg && !has_pos {
        hi = 0.0;
    }
    if has_pos && !has_neg {
        lo = 0.0;
    }
    if upper_trim {
        if rhs <= lo {
            return (0.0, 0.0);
        }
        if rhs >= hi {
            return (z.count, (lo + hi) / 2.0);
        }
        (z.count * (rhs - lo) / (hi - lo), (lo + rhs) / 2.0)
    } else {
        if rhs <= lo {
            return (z.count, (lo + hi) / 2.0);
        }
        if rhs >= hi {
            return (0.0, 0.0);
        }
        (z.count * (hi - rhs) / (hi - lo), (rhs + hi) / 2.0)
    }
}

/// `h += other` with Kahan–Neumaier compensation kept in `c` (same schema and zero
/// threshold as `h` afterwards). Used for sums and means of many histograms.
pub fn kahan_add(
    h: &mut FloatHistogram,
    other: &FloatHistogram,
    c: &mut FloatHistogram,
) -> Result<AddOutcome, IncompatibleSchema> {
    if uses_custom(h) != uses_custom(other) {
        return Err(IncompatibleSchema);
    }
    let mut outcome = AddOutcome {
        counter_reset_collision: adjust_counter_reset(h, other),
        ..Default::default()
    };
    if uses_custom(h) && h.custom_values != other.custom_values {
        // Mismatched custom bounds: fold the compensation in and add plainly.
        let comp = std::mem::take(c);
        add(h, &comp)?;
        let o = add(h, other)?;
        outcome.nhcb_bounds_reconciled = true;
        *c = empty_like(h);
        outcome.counter_reset_collision |= o.counter_reset_collision;
        return Ok(outcome);
    }
    if !uses_custom(h) {
        // Bring the compensation to h's layout first, then reconcile with other.
        if c.schema != h.schema || c.zero_threshold != h.zero_threshold {
            let comp = std::mem::replace(c, empty_like(h));
            add(h, &comp)?;
        }
        let before = (h.schema, h.zero_threshold);
        let ozc = reconcile_zero_buckets(h, other);
        if other.schema < h.schema || (h.schema, h.zero_threshold) != before {
            // The layout of h changes: fold the compensation in before continuing.
            let comp = std::mem::replace(c, empty_like(h));
            add(h, &comp)?;
        }
        (h.zero_count, c.zero_count) = kahan::inc(ozc, h.zero_count, c.zero_count);
    }
    (h.count, c.count) = kahan::inc(other.count, h.count, c.count);
    (h.sum, c.sum) = kahan::inc(other.sum, h.sum, c.sum);
    let schema = if uses_custom(h) {
        h.schema
    } else {
        h.schema.min(other.schema)
    };
    let zt = h.zero_threshold;
    let custom = uses_custom(h);
    let keep = |v: Vec<(i32, f64)>| -> Vec<(i32, f64)> {
        if custom || zt == 0.0 {
            v
        } else {
            v.into_iter()
                .filter(|(i, _)| exp_bound(*i, schema) > zt)
                .collect()
        }
    };
    for positive in [true, false] {
        let (hs, hb, cs, cb, os, ob) = if positive {
            (
                &h.positive_spans,
                &h.positive_buckets,
                &c.positive_spans,
                &c.positive_buckets,
                &other.positive_spans,
                &other.positive_buckets,
            )
        } else {
            (
                &h.negative_spans,
                &h.negative_buckets,
                &c.negative_spans,
                &c.negative_buckets,
                &other.negative_spans,
                &other.negative_buckets,
            )
        };
        let hv = if custom {
            indexed(hs, hb)
        } else {
            reduce(indexed(hs, hb), h.schema, schema)
        };
        let cv = if custom {
            indexed(cs, cb)
        } else {
            reduce(indexed(cs, cb), c.schema, schema)
        };
        let ov = if custom {
            indexed(os, ob)
        } else {
            keep(reduce(indexed(os, ob), other.schema, schema))
        };
        // Union of indices.
        let mut idx: Vec<i32> = hv
            .iter()
            .chain(cv.iter())
            .chain(ov.iter())
            .map(|x| x.0)
            .collect();
        idx.sort_unstable();
        idx.dedup();
        let get =
            |v: &[(i32, f64)], i: i32| v.binary_search_by_key(&i, |x| x.0).map_or(0.0, |p| v[p].1);
        let mut nh = Vec::with_capacity(idx.len());
        let mut nc = Vec::with_capacity(idx.len());
        for i in idx {
            let (s, k) = kahan::inc(get(&ov, i), get(&hv, i), get(&cv, i));
            nh.push((i, s));
            nc.push((i, k));
        }
        let (s1, b1) = from_indexed(&nh);
        let (s2, b2) = from_indexed(&nc);
        if positive {
            (h.positive_spans, h.positive_buckets) = (s1, b1);
            (c.positive_spans, c.positive_buckets) = (s2, b2);
        } else {
            (h.negative_spans, h.negative_buckets) = (s1, b1);
            (c.negative_spans, c.negative_buckets) = (s2, b2);
        }
    }
    h.schema = schema;
    c.schema = schema;
    c.zero_threshold = h.zero_threshold;
    c.custom_values = h.custom_values.clone();
    Ok(outcome)
}

/// An all-zero histogram with `h`'s schema, zero threshold and custom bounds.
pub fn empty_like(h: &FloatHistogram) -> FloatHistogram {
    FloatHistogram {
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        custom_values: h.custom_values.clone(),
        ..Default::default()
    }
}

/// Adds `c` into `h` without letting the compensation's hint change `h`'s.
fn fold(h: &mut FloatHistogram, c: &FloatHistogram) {
    let mut c = c.clone();
    c.counter_reset_hint = h.counter_reset_hint;
    let _ = add(h, &c);
}

/// Compensated running sum or mean of histograms (Prometheus' `KahanAdd` with the switch
/// to an incremental mean once the plain sum overflows).
#[derive(Debug, Clone)]
pub struct HistAccumulator {
    sum: FloatHistogram,
    c: FloatHistogram,
    n: f64,
    incremental: bool,
}

impl HistAccumulator {
    /// Starts with one histogram.
    pub fn new(first: &FloatHistogram) -> Self {
        HistAccumulator {
            sum: first.clone(),
            c: empty_like(first),
            n: 1.0,
            incremental: false,
        }
    }

    /// Adds to the sum.
    pub fn add(&mut self, h: &FloatHistogram) -> Result<AddOutcome, IncompatibleSchema> {
        self.n += 1.0;
        kahan_add(&mut self.sum, h, &mut self.c)
    }

    /// Adds to the mean.
    pub fn add_mean(&mut self, h: &FloatHistogram) -> Result<AddOutcome, IncompatibleSchema> {
        self.n += 1.0;
        if !self.incremental {
            let mut v = self.sum.clone();
            let mut c = self.c.clone();
            let o = kahan_add(&mut v, h, &mut c)?;
            if !has_overflow(&v) {
                self.sum = v;
                self.c = c;
                return Ok(o);
            }
            self.incremental = true;
            div(&mut self.sum, self.n - 1.0);
            div(&mut self.c, self.n - 1.0);
        }
        let q = (self.n - 1.0) / self.n;
        mul(&mut self.c, q);
        mul(&mut self.sum, q);
        let mut to_add = h.clone();
        div(&mut to_add, self.n);
        kahan_add(&mut self.sum, &to_add, &mut self.c)
    }

    /// The compensated sum.
    pub fn sum(mut self) -> FloatHistogram {
        fold(&mut self.sum, &self.c);
        self.sum
    }

    /// The compensated mean.
    pub fn mean(mut self) -> FloatHistogram {
        if !self.incremental {
            div(&mut self.sum, self.n);
            div(&mut self.c, self.n);
        }
        fold(&mut self.sum, &self.c);
        self.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fh(schema: i32, offset: i32, buckets: &[f64]) -> FloatHistogram {
        FloatHistogram {
            schema,
            count: buckets.iter().sum(),
            positive_spans: vec![Span {
                offset,
                length: buckets.len() as u32,
            }],
            positive_buckets: buckets.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn add_reduces_to_coarser_schema() {
        let mut a = fh(1, 0, &[1.0, 2.0, 3.0, 4.0]);
        let b = fh(0, 0, &[10.0, 20.0]);
        add(&mut a, &b).unwrap();
        assert_eq!(a.schema, 0);
        // Schema 1 indices 0,1,2,3 map to schema 0 indices 0,1,1,2.
        assert_eq!(
            indexed(&a.positive_spans, &a.positive_buckets),
            vec![(0, 11.0), (1, 25.0), (2, 4.0)]
        );
    }

    #[test]
    fn exponential_bounds() {
        assert_eq!(exp_bound(1, 0), 2.0);
        assert_eq!(exp_bound(0, 0), 1.0);
        assert!((exp_bound(1, 1) - 2f64.sqrt()).abs() < 1e-15);
        assert_eq!(exp_bound(1, -1), 4.0);
    }

    #[test]
    fn detects_missing_bucket_as_reset() {
        let prev = fh(0, 0, &[1.0, 2.0]);
        let curr = fh(0, 1, &[5.0]);
        assert!(detect_reset(&curr, &prev));
        let curr = fh(0, 0, &[1.0, 2.0, 1.0]);
        assert!(!detect_reset(&curr, &prev));
    }

    #[test]
    fn go_g_format() {
        assert_eq!(fmt_g(1.5), "1.5");
        assert_eq!(fmt_g(1e21), "1e+21");
        assert_eq!(fmt_g(0.0001), "0.0001");
        assert_eq!(fmt_g(1.5e-7), "1.5e-07");
    }
}
