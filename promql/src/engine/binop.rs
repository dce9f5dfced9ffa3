//! Binary operators: scalar/scalar, vector/scalar and vector/vector with one-to-one,
//! many-to-one and set matching, fill modifiers, `bool`, and native-histogram arithmetic.

use crate::engine::hashing::{map_with_capacity, FastMap, FastSet};
use std::sync::Arc;

use chunkenc::{CounterResetHint, FloatHistogram};
use tsdb_index::{Labels, LabelsBuilder};

use crate::ast::{BinaryExpr, BinaryOp, PosRange, VectorMatchCardinality, VectorMatching};
use crate::engine::annotations::{self as anno, Annotation, HistogramOp};
use crate::engine::eval::{drop_reserved, EvalResult, Evaluator};
use crate::engine::EngineError;
use crate::functions::{hist, Helper};
use crate::types::ValueType;
use crate::value::{Matrix, Sample, Vector};

/// Evaluates `lhs op rhs`.
pub(crate) fn eval_binary(ev: &mut Evaluator<'_>, b: &BinaryExpr) -> EvalResult<Matrix> {
    let (lt, rt) = (b.lhs.value_type(), b.rhs.value_type());
    let op = b.op;
    let pos = PosRange::new(b.lhs.pos().start, b.rhs.pos().end);
    let delayed = ev.delayed_name_removal;
    let return_bool = b.return_bool;
    match (lt, rt) {
        (ValueType::Scalar, ValueType::Scalar) => {
            ev.range_eval(None, &[&b.lhs, &b.rhs], |v, _, h| {
                let l = v[0].first().map_or(0.0, |s| s.f);
                let r = v[1].first().map_or(0.0, |s| s.f);
                h.out
                    .push(Sample::float(Labels::empty(), h.ts, scalar_binop(op, l, r)));
                Ok(())
            })
        }
        (ValueType::Vector, ValueType::Vector) => {
            let default_matching = VectorMatching {
                card: if op.is_set() {
                    VectorMatchCardinality::ManyToMany
                } else {
                    VectorMatchCardinality::OneToOne
                },
                matching_labels: Vec::new(),
                on: false,
                include: Vec::new(),
                fill_values: Default::default(),
            };
            let m = b.vector_matching.clone().unwrap_or(default_matching);
            let mref = &m;
            // Output label sets by (left, right) input label sets, kept across steps: a
            // series pair yields the same labels at every step.
            let mut result_cache: ResultCache = FastMap::default();
            ev.range_eval(Some(mref), &[&b.lhs, &b.rhs], |v, sigs, h| match op {
                BinaryOp::And => {
                    vector_and(&v[0], &v[1], &sigs[0], &sigs[1], h);
                    Ok(())
                }
                BinaryOp::Or => {
                    vector_or(&v[0], &v[1], &sigs[0], &sigs[1], h);
                    Ok(())
                }
                BinaryOp::Unless => {
                    vector_unless(&v[0], &v[1], &sigs[0], &sigs[1], h);
                    Ok(())
                }
                _ => vector_binop(
                    op,
                    &v[0],
                    &v[1],
                    mref,
                    return_bool,
                    &sigs[0],
                    &sigs[1],
                    h,
                    pos,
                    delayed,
                    &mut result_cache,
                ),
            })
        }
        (ValueType::Vector, ValueType::Scalar) => {
            ev.range_eval(None, &[&b.lhs, &b.rhs], |v, _, h| {
                let r = v[1].first().map_or(0.0, |s| s.f);
                vector_scalar_binop(op, &v[0], r, false, return_bool, h, pos, delayed);
                Ok(())
            })
        }
        (ValueType::Scalar, ValueType::Vector) => {
            ev.range_eval(None, &[&b.lhs, &b.rhs], |v, _, h| {
                let l = v[0].first().map_or(0.0, |s| s.f);
                vector_scalar_binop(op, &v[1], l, true, return_bool, h, pos, delayed);
                Ok(())
            })
        }
        _ => Err(EngineError::Eval(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            lt.documented(),
            rt.documented()
        ))),
    }
}

fn btos(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Scalar/scalar arithmetic and comparison.
pub(crate) fn scalar_binop(op: BinaryOp, l: f64, r: f64) -> f64 {
    match op {
        BinaryOp::Add => l + r,
        BinaryOp::Sub => l - r,
        BinaryOp::Mul => l * r,
        BinaryOp::Div => l / r,
        BinaryOp::Pow => l.powf(r),
        BinaryOp::Mod => go_mod(l, r),
        BinaryOp::Eql => btos(l == r),
        BinaryOp::Neq => btos(l != r),
        BinaryOp::Gtr => btos(l > r),
        BinaryOp::Lss => btos(l < r),
        BinaryOp::Gte => btos(l >= r),
        BinaryOp::Lte => btos(l <= r),
        BinaryOp::Atan2 => l.atan2(r),
        _ => f64::NAN,
    }
}

/// Go's `math.Mod`: the result has the sign of `l`.
fn go_mod(l: f64, r: f64) -> f64 {
    l % r
}

fn changes_metric_schema(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Pow
            | BinaryOp::Mod
            | BinaryOp::Atan2
    )
}

/// Result of one element operation.
struct ElemResult {
    f: f64,
    h: Option<Arc<FloatHistogram>>,
    keep: bool,
    /// A non-fatal note (the result is still used).
    info: Option<Annotation>,
    /// The operation failed for this pair: report and drop the result.
    err: Option<Annotation>,
}

fn elem(f: f64, h: Option<Arc<FloatHistogram>>, keep: bool) -> ElemResult {
    ElemResult {
        f,
        h,
        keep,
        info: None,
        err: None,
    }
}

fn incompatible(l: &str, op: BinaryOp, r: &str, pos: PosRange) -> ElemResult {
    ElemResult {
        f: 0.0,
        h: None,
        keep: false,
        info: None,
        err: Some(anno::new::incompatible_types_binop(l, op.as_str(), r, pos)),
    }
}

fn vector_elem_binop(
    op: BinaryOp,
    l: f64,
    r: f64,
    hl: Option<&Arc<FloatHistogram>>,
    hr: Option<&Arc<FloatHistogram>>,
    pos: PosRange,
) -> ElemResult {
    match (hl, hr) {
        (None, None) => match op {
            BinaryOp::Add => elem(l + r, None, true),
            BinaryOp::Sub => elem(l - r, None, true),
            BinaryOp::Mul => elem(l * r, None, true),
            BinaryOp::Div => elem(l / r, None, true),
            BinaryOp::Pow => elem(l.powf(r), None, true),
            BinaryOp::Mod => elem(go_mod(l, r), None, true),
            BinaryOp::Eql => elem(l, None, l == r),
            BinaryOp::Neq => elem(l, None, l != r),
            BinaryOp::Gtr => elem(l, None, l > r),
            BinaryOp::Lss => elem(l, None, l < r),
            BinaryOp::Gte => elem(l, None, l >= r),
            BinaryOp::Lte => elem(l, None, l <= r),
            BinaryOp::Atan2 => elem(l.atan2(r), None, true),
            _ => incompatible("float", op, "float", pos),
        },
        (None, Some(hr)) => match op {
            BinaryOp::Mul => {
                let mut h = (**hr).clone();
                hist::mul(&mut h, l);
                hist::compact(&mut h);
                elem(0.0, Some(Arc::new(h)), true)
            }
            _ => incompatible("float", op, "histogram", pos),
        },
        (Some(hl), None) => match op {
            BinaryOp::Mul => {
                let mut h = (**hl).clone();
                hist::mul(&mut h, r);
                hist::compact(&mut h);
                elem(0.0, Some(Arc::new(h)), true)
            }
            BinaryOp::Div => {
                let mut h = (**hl).clone();
                hist::div(&mut h, r);
                hist::compact(&mut h);
                elem(0.0, Some(Arc::new(h)), true)
            }
            BinaryOp::TrimUpper | BinaryOp::TrimLower => {
                let mut h = (**hl).clone();
                hist::trim_buckets(&mut h, r, op == BinaryOp::TrimUpper);
                elem(0.0, Some(Arc::new(h)), true)
            }
            _ => incompatible("histogram", op, "float", pos),
        },
        (Some(hl), Some(hr)) => match op {
            BinaryOp::Add | BinaryOp::Sub => {
                let mut h = (**hl).clone();
                let res = if op == BinaryOp::Add {
                    hist::add(&mut h, hr)
                } else {
                    hist::sub(&mut h, hr)
                };
                match res {
                    Err(_) => ElemResult {
                        f: 0.0,
                        h: None,
                        keep: false,
                        info: None,
                        err: Some(anno::new::incompatible_bucket_layout(op.as_str(), pos)),
                    },
                    Ok(o) => {
                        let hop = if op == BinaryOp::Add {
                            HistogramOp::Add
                        } else {
                            h.counter_reset_hint = CounterResetHint::Gauge;
                            HistogramOp::Sub
                        };
                        hist::compact(&mut h);
                        ElemResult {
                            f: 0.0,
                            h: Some(Arc::new(h)),
                            keep: true,
                            info: o
                                .nhcb_bounds_reconciled
                                .then(|| anno::new::mismatched_custom_buckets(pos, hop)),
                            err: o
                                .counter_reset_collision
                                .then(|| anno::new::counter_reset_collision(pos, hop)),
                        }
                    }
                }
            }
            BinaryOp::Eql => elem(0.0, Some(hl.clone()), hist::equals(hl, hr)),
            BinaryOp::Neq => elem(0.0, Some(hl.clone()), !hist::equals(hl, hr)),
            _ => incompatible("histogram", op, "histogram", pos),
        },
    }
}

fn vector_and(lhs: &Vector, rhs: &Vector, ls: &[usize], rs: &[usize], h: &mut Helper) {
    if lhs.is_empty() || rhs.is_empty() {
        return;
    }
    let present: FastSet<usize> = rs.iter().copied().collect();
    for (i, s) in lhs.iter().enumerate() {
        if present.contains(&ls[i]) {
            h.out.push(s.clone());
        }
    }
}

fn vector_or(lhs: &Vector, rhs: &Vector, ls: &[usize], rs: &[usize], h: &mut Helper) {
    if lhs.is_empty() {
        h.out.extend(rhs.iter().cloned());
        return;
    }
    if rhs.is_empty() {
        h.out.extend(lhs.iter().cloned());
        return;
    }
    let present: FastSet<usize> = ls.iter().copied().collect();
    h.out.extend(lhs.iter().cloned());
    for (j, s) in rhs.iter().enumerate() {
        if !present.contains(&rs[j]) {
            h.out.push(s.clone());
        }
    }
}

fn vector_unless(lhs: &Vector, rhs: &Vector, ls: &[usize], rs: &[usize], h: &mut Helper) {
    if lhs.is_empty() || rhs.is_empty() {
        h.out.extend(lhs.iter().cloned());
        return;
    }
    let present: FastSet<usize> = rs.iter().copied().collect();
    for (i, s) in lhs.iter().enumerate() {
        if !present.contains(&ls[i]) {
            h.out.push(s.clone());
        }
    }
}

/// Output label sets of a binary operation by (left, right) input label sets.
type ResultCache = FastMap<(Labels, Labels), Labels>;

fn match_labels(l: &Labels, on: bool, names: &[String]) -> Labels {
    let keep: Vec<(&str, &str)> = l
        .iter()
        .filter(|x| {
            let listed = names.iter().any(|n| n == x.name);
            if on {
                listed
            } else {
                !listed && x.name != "__name__"
            }
        })
        .map(|x| (x.name, x.value))
        .collect();
    Labels::from_sorted(keep)
}

#[allow(clippy::too_many_arguments)]
fn vector_binop(
    op: BinaryOp,
    lhs: &Vector,
    rhs: &Vector,
    m: &VectorMatching,
    return_bool: bool,
    lsig: &[usize],
    rsig: &[usize],
    h: &mut Helper,
    pos: PosRange,
    delayed: bool,
    result_cache: &mut ResultCache,
) -> EvalResult<()> {
    let fill = m.fill_values;
    if (lhs.is_empty() && rhs.is_empty())
        || ((lhs.is_empty() || rhs.is_empty()) && fill.rhs.is_none() && fill.lhs.is_none())
    {
        return Ok(());
    }
    let one_to_many = m.card == VectorMatchCardinality::OneToMany;
    let (lhs, rhs, lsig, rsig) = if one_to_many {
        (rhs, lhs, rsig, lsig)
    } else {
        (lhs, rhs, lsig, rsig)
    };
    // Like Prometheus, the fill values do not follow the swap: `fill_right` fills whatever
    // side ends up on the right after it.
    let (fill_rhs, fill_lhs) = (fill.rhs, fill.lhs);
    let mut right: FastMap<usize, &Sample> = map_with_capacity(rhs.len());
    for (i, rs) in rhs.iter().enumerate() {
        if let Some(dup) = right.get(&rsig[i]) {
            let side = if one_to_many { "left" } else { "right" };
            let matched = match_labels(&rs.metric, m.on, &m.matching_labels);
            let (mut a, mut b) = (rs.metric.to_string(), dup.metric.to_string());
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            return Err(EngineError::Eval(format!(
                "found duplicate series for the match group {matched} on the {side} hand-side of the operation: [{a}, {b}];many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
        right.insert(rsig[i], rs);
    }
    let mut matched_one: FastSet<usize> = FastSet::default();
    let mut matched_many: FastMap<usize, FastSet<Labels>> = FastMap::default();
    let mut last_anno: Option<Annotation> = None;

    let mut do_op = |ls: &Sample,
                     rs: &Sample,
                     sig: usize,
                     out: &mut Vector,
                     matched_one: &mut FastSet<usize>,
                     matched_many: &mut FastMap<usize, FastSet<Labels>>|
     -> EvalResult<()> {
        let (mut fl, mut fr) = (ls.f, rs.f);
        let (mut hl, mut hr) = (ls.h.as_ref(), rs.h.as_ref());
        if one_to_many {
            std::mem::swap(&mut fl, &mut fr);
            std::mem::swap(&mut hl, &mut hr);
        }
        let mut r = vector_elem_binop(op, fl, fr, hl, hr, pos);
        if let Some(e) = r.err.take() {
            last_anno = Some(e);
            return Ok(());
        }
        if let Some(i) = r.info.take() {
            last_anno = Some(i);
        }
        if return_bool {
            r.h = None;
            r.f = btos(r.keep);
        }
        let drop_name = !delayed && return_bool;
        let key = (ls.metric.clone(), rs.metric.clone());
        let metric = match result_cache.get(&key) {
            Some(l) => l.clone(),
            None => {
                let l = result_metric(&ls.metric, &rs.metric, op, m, drop_name);
                result_cache.insert(key, l.clone());
                l
            }
        };
        if m.card == VectorMatchCardinality::OneToOne {
            if !matched_one.insert(sig) {
                return Err(EngineError::Eval(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
        } else if !matched_many.entry(sig).or_default().insert(metric.clone()) {
            return Err(EngineError::Eval(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        if !r.keep && !return_bool {
            return Ok(());
        }
        out.push(Sample {
            metric,
            t: ls.t,
            f: r.f,
            h: r.h,
            drop_name: return_bool,
        });
        Ok(())
    };

    let mut out = std::mem::take(&mut h.out);
    for (i, ls) in lhs.iter().enumerate() {
        let sig = lsig[i];
        let rs_owned;
        let rs = match right.get(&sig) {
            Some(rs) => *rs,
            None => {
                let Some(f) = fill_rhs else { continue };
                rs_owned = Sample {
                    metric: match_labels(&ls.metric, m.on, &m.matching_labels),
                    t: ls.t,
                    f,
                    h: None,
                    drop_name: false,
                };
                &rs_owned
            }
        };
        do_op(ls, rs, sig, &mut out, &mut matched_one, &mut matched_many)?;
    }
    if let Some(f) = fill_lhs {
        for (i, rs) in rhs.iter().enumerate() {
            let sig = rsig[i];
            let already = if m.card == VectorMatchCardinality::OneToOne {
                matched_one.contains(&sig)
            } else {
                matched_many.get(&sig).is_some_and(|s| !s.is_empty())
            };
            if already {
                continue;
            }
            let ls = Sample {
                metric: match_labels(&rs.metric, m.on, &m.matching_labels),
                t: rs.t,
                f,
                h: None,
                drop_name: false,
            };
            do_op(&ls, rs, sig, &mut out, &mut matched_one, &mut matched_many)?;
        }
    }
    h.out = out;
    if let Some(a) = last_anno {
        h.annos.add(a);
    }
    Ok(())
}

fn result_metric(
    lhs: &Labels,
    rhs: &Labels,
    op: BinaryOp,
    m: &VectorMatching,
    drop_name: bool,
) -> Labels {
    let mut b = LabelsBuilder::from(lhs);
    if drop_name || changes_metric_schema(op) {
        b.del("__name__");
        b.del("__type__");
        b.del("__unit__");
    }
    if m.card == VectorMatchCardinality::OneToOne {
        if m.on {
            let names: Vec<String> = lhs.iter().map(|l| l.name.to_string()).collect();
            for n in names {
                if !m.matching_labels.contains(&n) {
                    b.del(&n);
                }
            }
        } else {
            for n in &m.matching_labels {
                b.del(n);
            }
        }
    }
    for ln in &m.include {
        match rhs.get(ln) {
            Some(v) if !v.is_empty() => {
                b.set(ln, v);
            }
            _ => {
                b.del(ln);
            }
        }
    }
    b.build()
}

#[allow(clippy::too_many_arguments)]
fn vector_scalar_binop(
    op: BinaryOp,
    lhs: &Vector,
    scalar: f64,
    swap: bool,
    return_bool: bool,
    h: &mut Helper,
    pos: PosRange,
    delayed: bool,
) {
    let mut last: Option<Annotation> = None;
    for s in lhs {
        let (mut lf, mut rf) = (s.f, scalar);
        let mut lh = s.h.as_ref();
        let mut rh: Option<&Arc<FloatHistogram>> = None;
        if swap {
            std::mem::swap(&mut lf, &mut rf);
            std::mem::swap(&mut lh, &mut rh);
        }
        let mut r = vector_elem_binop(op, lf, rf, lh, rh, pos);
        if let Some(e) = r.err.take() {
            last = Some(e);
            continue;
        }
        if op.is_comparison() && swap {
            r.f = rf;
            r.h = rh.cloned();
        }
        if return_bool {
            r.f = btos(r.keep);
            r.h = None;
            r.keep = true;
        }
        if r.keep {
            let mut out = s.clone();
            out.f = r.f;
            out.h = r.h;
            if changes_metric_schema(op) || return_bool {
                if !delayed {
                    out.metric = drop_reserved(&out.metric);
                }
                out.drop_name = true;
            }
            h.out.push(out);
        }
    }
    // Prometheus only surfaces the error of a vector/scalar operation when it is not a
    // warning; incompatible-type infos are reported.
    if let Some(a) = last {
        h.annos.add(a);
    }
}
