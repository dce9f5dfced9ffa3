//! Query preparation, before any data is read: folding `start()`/`end()`/`range()`/`step()`,
//! evaluating duration expressions, resolving `@ start()`/`@ end()`, wrapping step-invariant
//! sub-trees, and computing the time range every selector (and every `info()` call's info
//! series) needs.

use std::borrow::Cow;

use tsdb_index::Matcher;

use crate::ast::{
    AtModifierPreprocessor, DurationExpr, DurationOp, Expr, NumberLiteral, StepInvariantExpr,
    VectorSelector,
};

use super::EngineError;

/// Functions whose value depends on the evaluation time even when their arguments do not.
pub(crate) const AT_MODIFIER_UNSAFE: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "end",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
];

/// Rewrites the expression for evaluation over `[start, end]` with `step` (all ms).
pub(crate) fn preprocess(
    mut e: Expr,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Expr, EngineError> {
    fold_context_functions(&mut e, start, end, step);
    resolve_durations(&mut e, step, end - start)?;
    let (_, wrap) = wrap_step_invariant(&mut e, start, end);
    if wrap {
        e = Expr::StepInvariant(StepInvariantExpr { expr: Box::new(e) });
    }
    Ok(e)
}

fn fold_context_functions(e: &mut Expr, start: i64, end: i64, step: i64) {
    if let Expr::Call(c) = e {
        let v = match c.func.name {
            "start" => Some(start as f64 / 1000.0),
            "end" => Some(end as f64 / 1000.0),
            "range" => Some((end - start) as f64 / 1000.0),
            "step" => Some(if start != end {
                step as f64 / 1000.0
            } else {
                0.0
            }),
            _ => None,
        };
        if let Some(val) = v {
            *e = Expr::NumberLiteral(NumberLiteral {
                val,
                duration: false,
                pos: c.pos,
            });
            return;
        }
    }
    if let Expr::Duration(d) = e {
        // A duration expression used as a scalar (`step()`, `min_of(...)`).
        if let Ok(v) = eval_duration_seconds(&Expr::Duration(d.clone()), step, end - start) {
            let pos = d.pos();
            *e = Expr::NumberLiteral(NumberLiteral {
                val: v,
                duration: false,
                pos,
            });
        }
        return;
    }
    e.for_each_child_mut(|c| fold_context_functions(c, start, end, step));
}

fn eval_duration_seconds(e: &Expr, step: i64, range: i64) -> Result<f64, EngineError> {
    match e {
        Expr::NumberLiteral(n) => Ok(n.val),
        Expr::Paren(p) => eval_duration_seconds(&p.expr, step, range),
        Expr::Unary(u) => {
            let v = eval_duration_seconds(&u.expr, step, range)?;
            Ok(if u.op == crate::ast::UnaryOp::Sub {
                -v
            } else {
                v
            })
        }
        Expr::Duration(d) => eval_duration(d, step, range),
        other => Err(EngineError::Eval(format!(
            "unexpected duration expression type {:?}",
            other.value_type()
        ))),
    }
}

fn eval_duration(d: &DurationExpr, step: i64, range: i64) -> Result<f64, EngineError> {
    let lhs = match &d.lhs {
        Some(l) => Some(eval_duration_seconds(l, step, range)?),
        None => None,
    };
    let rhs = match &d.rhs {
        Some(r) => eval_duration_seconds(r, step, range)?,
        None => 0.0,
    };
    let pos = d.pos();
    Ok(match d.op {
        DurationOp::Step => step as f64 / 1000.0,
        DurationOp::Range => range as f64 / 1000.0,
        DurationOp::MinOf => crate::functions::go_min(lhs.unwrap_or(0.0), rhs),
        DurationOp::MaxOf => crate::functions::go_max(lhs.unwrap_or(0.0), rhs),
        DurationOp::Add => lhs.map_or(rhs, |l| l + rhs),
        DurationOp::Sub => lhs.map_or(-rhs, |l| l - rhs),
        DurationOp::Mul => lhs.unwrap_or(0.0) * rhs,
        DurationOp::Div => {
            if rhs == 0.0 {
                return Err(EngineError::Eval(format!(
                    "{}:{}: division by zero",
                    pos.start, pos.end
                )));
            }
            lhs.unwrap_or(0.0) / rhs
        }
        DurationOp::Mod => {
            if rhs == 0.0 {
                return Err(EngineError::Eval(format!(
                    "{}:{}: modulo by zero",
                    pos.start, pos.end
                )));
            }
            lhs.unwrap_or(0.0) % rhs
        }
        DurationOp::Pow => lhs.unwrap_or(0.0).powf(rhs),
    })
}

fn duration_ms(
    d: &DurationExpr,
    step: i64,
    range: i64,
    allow_negative: bool,
) -> Result<i64, EngineError> {
    let v = eval_duration(d, step, range)?;
    let pos = d.pos();
    if v.is_nan() || v.is_infinite() {
        return Err(EngineError::Eval(format!(
            "{}:{}: duration is NaN or infinite",
            pos.start, pos.end
        )));
    }
    if v <= 0.0 && !allow_negative {
        return Err(EngineError::Eval(format!(
            "{}:{}: duration must be greater than 0",
            pos.start, pos.end
        )));
    }
    if v.abs() > 9.223372036854776e9 {
        return Err(EngineError::Eval(format!(
            "{}:{}: duration is out of range",
            pos.start, pos.end
        )));
    }
    Ok((v * 1000.0) as i64)
}

fn resolve_durations(e: &mut Expr, step: i64, range: i64) -> Result<(), EngineError> {
    match e {
        Expr::VectorSelector(vs) => {
            if let Some(d) = &vs.original_offset_expr {
                vs.original_offset_ms = duration_ms(d, step, range, true)?;
            }
        }
        Expr::MatrixSelector(ms) => {
            if let Some(d) = &ms.vector_selector.original_offset_expr {
                ms.vector_selector.original_offset_ms = duration_ms(d, step, range, true)?;
            }
            if let Some(d) = &ms.range_expr {
                ms.range_ms = duration_ms(d, step, range, false)?;
            }
        }
        Expr::Subquery(sq) => {
            if let Some(d) = &sq.original_offset_expr {
                sq.original_offset_ms = duration_ms(d, step, range, true)?;
            }
            if let Some(d) = &sq.step_expr {
                sq.step_ms = duration_ms(d, step, range, false)?;
            }
            if let Some(d) = &sq.range_expr {
                sq.range_ms = duration_ms(d, step, range, false)?;
            }
        }
        _ => {}
    }
    let mut res = Ok(());
    e.for_each_child_mut(|c| {
        if res.is_ok() {
            res = resolve_durations(c, step, range);
        }
    });
    res
}

fn unwrap_paren(e: &mut Expr) {
    while let Expr::Paren(p) = e {
        let inner = std::mem::replace(
            &mut *p.expr,
            Expr::NumberLiteral(NumberLiteral {
                val: 0.0,
                duration: false,
                pos: Default::default(),
            }),
        );
        *e = inner;
    }
}

fn resolve_at(ts: &mut Option<i64>, soe: Option<AtModifierPreprocessor>, start: i64, end: i64) {
    match soe {
        Some(AtModifierPreprocessor::Start) => *ts = Some(start),
        Some(AtModifierPreprocessor::End) => *ts = Some(end),
        None => {}
    }
}

fn wrap(e: &mut Expr) {
    let inner = std::mem::replace(
        e,
        Expr::NumberLiteral(NumberLiteral {
            val: 0.0,
            duration: false,
            pos: Default::default(),
        }),
    );
    *e = Expr::StepInvariant(StepInvariantExpr {
        expr: Box::new(inner),
    });
}

/// Returns (is step invariant, should be wrapped) like Prometheus' `preprocessExprHelper`.
fn wrap_step_invariant(e: &mut Expr, start: i64, end: i64) -> (bool, bool) {
    match e {
        Expr::VectorSelector(vs) => {
            resolve_at(&mut vs.timestamp, vs.start_or_end, start, end);
            let t = vs.timestamp.is_some();
            (t, t)
        }
        Expr::Aggregate(a) => {
            unwrap_paren(&mut a.expr);
            if let Some(p) = &mut a.param {
                unwrap_paren(p);
            }
            wrap_step_invariant(&mut a.expr, start, end)
        }
        Expr::Binary(b) => {
            let (il, wl) = wrap_step_invariant(&mut b.lhs, start, end);
            let (ir, wr) = wrap_step_invariant(&mut b.rhs, start, end);
            if il && ir {
                return (true, true);
            }
            if wl {
                wrap(&mut b.lhs);
            }
            if wr {
                wrap(&mut b.rhs);
            }
            (false, false)
        }
        Expr::Call(c) => {
            let name = c.func.name;
            let mut invariant = !AT_MODIFIER_UNSAFE.contains(&name);
            let mut ts_safe = name == "timestamp";
            let mut should = Vec::with_capacity(c.args.len());
            for a in c.args.iter_mut() {
                unwrap_paren(a);
                let (ai, aw) = wrap_step_invariant(a, start, end);
                should.push(aw);
                invariant = invariant && ai;
                if !ai || !matches!(a, Expr::VectorSelector(_)) {
                    ts_safe = false;
                }
            }
            if invariant || ts_safe {
                return (true, true);
            }
            for (a, w) in c.args.iter_mut().zip(should) {
                if w {
                    wrap(a);
                }
            }
            (false, false)
        }
        Expr::MatrixSelector(ms) => {
            let vs = &mut ms.vector_selector;
            resolve_at(&mut vs.timestamp, vs.start_or_end, start, end);
            (vs.timestamp.is_some(), false)
        }
        Expr::Subquery(sq) => {
            let (inv, _) = wrap_step_invariant(&mut sq.expr, start, end);
            if inv {
                wrap(&mut sq.expr);
            }
            resolve_at(&mut sq.timestamp, sq.start_or_end, start, end);
            (sq.timestamp.is_some(), false)
        }
        Expr::Paren(p) => wrap_step_invariant(&mut p.expr, start, end),
        Expr::Unary(u) => wrap_step_invariant(&mut u.expr, start, end),
        Expr::StringLiteral(_) | Expr::NumberLiteral(_) | Expr::Duration(_) => (true, false),
        Expr::StepInvariant(_) => (true, false),
    }
}

/// Sets every selector's and subquery's effective offset for evaluation at `eval_time`,
/// turning `@ t` into an offset relative to it (Prometheus' `setOffsetForAtModifier`).
pub(crate) fn set_offset_for_at_modifier(eval_time: i64, e: &mut Expr) {
    fn walk(e: &mut Expr, eval_time: i64, subqs: &mut Vec<(i64, Option<i64>)>) {
        let get = |ts: Option<i64>, orig: i64, subqs: &[(i64, Option<i64>)]| -> i64 {
            let Some(ts) = ts else { return orig };
            let mut subq_offset = 0i64;
            let mut subq_ts: Option<i64> = None;
            for (off, t) in subqs {
                subq_offset += off;
                if let Some(t) = t {
                    subq_offset = *off;
                    subq_ts = Some(*t);
                }
            }
            if let Some(st) = subq_ts {
                subq_offset += eval_time - st;
            }
            orig + (eval_time - ts) - subq_offset
        };
        match e {
            Expr::VectorSelector(vs) => {
                vs.offset_ms = get(vs.timestamp, vs.original_offset_ms, subqs);
            }
            Expr::MatrixSelector(ms) => {
                let vs = &mut ms.vector_selector;
                vs.offset_ms = get(vs.timestamp, vs.original_offset_ms, subqs);
            }
            Expr::Subquery(sq) => {
                sq.offset_ms = get(sq.timestamp, sq.original_offset_ms, subqs);
                subqs.push((sq.original_offset_ms, sq.timestamp));
                walk(&mut sq.expr, eval_time, subqs);
                subqs.pop();
                return;
            }
            _ => {}
        }
        e.for_each_child_mut(|c| walk(c, eval_time, subqs));
    }
    walk(e, eval_time, &mut Vec::new());
}

/// The time range `[start, end]` (ms) a selector reads, given the query range, the
/// subqueries around it and an enclosing range (0 for an instant selector).
pub(crate) struct SelectorRange {
    pub start: i64,
    pub end: i64,
}

/// One read from storage the evaluator will need: the series matching `matchers` over
/// `range`, stored under `key` (see [`super::eval::SelectorData`]).
pub(crate) struct SeriesRequest<'a> {
    /// Where the evaluator looks the series up.
    pub key: usize,
    /// Which series to read.
    pub matchers: Cow<'a, [Matcher]>,
    /// The time range to read.
    pub range: SelectorRange,
    /// The range of an enclosing matrix selector (0 for none).
    pub eval_range: i64,
    /// The function the series are read for, as a hint to storage.
    pub func: Option<&'static str>,
}

/// What fixes a read's time range besides the query range and the subqueries around it.
struct ReadAnchor {
    timestamp: Option<i64>,
    offset_ms: i64,
    anchored: bool,
    smoothed: bool,
}

impl ReadAnchor {
    fn of(vs: &VectorSelector) -> Self {
        ReadAnchor {
            timestamp: vs.timestamp,
            offset_ms: vs.original_offset_ms,
            anchored: vs.anchored,
            smoothed: vs.smoothed,
        }
    }
}

/// Lists every read the expression needs, like Prometheus' `getTimeRangesForSelector` for
/// selectors. An `info()` call reads its info series instead of its label-selector
/// argument, which only describes them and is never evaluated.
pub(crate) fn for_each_series_request<'a>(
    e: &'a Expr,
    start: i64,
    end: i64,
    lookback: i64,
    f: &mut impl FnMut(SeriesRequest<'a>),
) {
    type Subqueries = Vec<(i64, i64, Option<i64>)>;
    fn range_for(
        q: (i64, i64, i64),
        a: &ReadAnchor,
        eval_range: i64,
        subqs: &Subqueries,
    ) -> SelectorRange {
        let (mut start, mut end, lookback) = q;
        let (mut so, mut sr, mut sts) = (0i64, 0i64, None);
        for (off, rng, t) in subqs {
            so += off;
            sr += rng;
            if let Some(t) = t {
                so = *off;
                sr = *rng;
                sts = Some(*t);
            }
        }
        if let Some(t) = sts {
            start = t;
            end = t;
        }
        if let Some(t) = a.timestamp {
            start = t;
            end = t;
        } else {
            start = start - so - sr;
            end -= so;
        }
        if eval_range == 0 {
            start -= lookback - 1;
            if a.smoothed {
                end += lookback;
            }
        } else if a.anchored {
            start -= lookback + eval_range - 1;
        } else if a.smoothed {
            start -= lookback + eval_range - 1;
            end += lookback;
        } else {
            start -= eval_range - 1;
        }
        start -= a.offset_ms;
        end -= a.offset_ms;
        SelectorRange { start, end }
    }
    fn walk<'a>(
        e: &'a Expr,
        q: (i64, i64, i64),
        subqs: &mut Subqueries,
        f: &mut impl FnMut(SeriesRequest<'a>),
    ) {
        match e {
            Expr::VectorSelector(vs) => f(SeriesRequest {
                key: super::eval::selector_key(vs),
                matchers: Cow::Borrowed(&vs.matchers),
                range: range_for(q, &ReadAnchor::of(vs), 0, subqs),
                eval_range: 0,
                func: None,
            }),
            Expr::MatrixSelector(ms) => {
                let vs = &ms.vector_selector;
                f(SeriesRequest {
                    key: super::eval::selector_key(vs),
                    matchers: Cow::Borrowed(&vs.matchers),
                    range: range_for(q, &ReadAnchor::of(vs), ms.range_ms, subqs),
                    eval_range: ms.range_ms,
                    func: None,
                })
            }
            Expr::Subquery(sq) => {
                subqs.push((sq.original_offset_ms, sq.range_ms, sq.timestamp));
                walk(&sq.expr, q, subqs, f);
                subqs.pop();
            }
            Expr::Call(c) if c.func.name == "info" => {
                // The info series are looked up like an instant selector standing where the
                // call is, moved by the `@` and offset that govern the first argument.
                let (timestamp, offset_ms) = super::info::reference_time(&c.args[0]);
                let anchor = ReadAnchor {
                    timestamp,
                    offset_ms,
                    anchored: false,
                    smoothed: false,
                };
                f(SeriesRequest {
                    key: super::eval::info_key(c),
                    matchers: Cow::Owned(super::info::info_series_matchers(c)),
                    range: range_for(q, &anchor, 0, subqs),
                    eval_range: 0,
                    func: Some("info"),
                });
                walk(&c.args[0], q, subqs, f);
            }
            _ => e.for_each_child(|c| walk(c, q, subqs, f)),
        }
    }
    walk(e, (start, end, lookback), &mut Vec::new(), f);
}
