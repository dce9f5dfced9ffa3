//! Helpers shared by the parser tests.

use promql::ast::*;

/// Clears positions and sorts selector matchers, so that trees can be compared regardless of
/// where in the text they came from and of the printer's matcher order; returns the tree's
/// debug form (in which NaN equals NaN). A unary `+` duration wrapper is dropped: Prometheus'
/// printer drops it too (`offset +step()` prints as `offset step()`).
pub fn normalize(mut e: Expr) -> String {
    norm(&mut e);
    format!("{e:?}")
}

fn norm_vs(v: &mut VectorSelector) {
    v.pos = PosRange::default();
    v.matchers.sort_by(|a, b| {
        (a.name.as_str(), a.kind.to_string(), a.value.as_str()).cmp(&(
            b.name.as_str(),
            b.kind.to_string(),
            b.value.as_str(),
        ))
    });
    if let Some(d) = &mut v.original_offset_expr {
        norm_dur(d);
    }
}

fn norm_dur(d: &mut DurationExpr) {
    while d.op == DurationOp::Add && d.lhs.is_none() && !d.wrapped {
        match d.rhs.as_deref() {
            Some(Expr::Duration(inner)) => *d = inner.clone(),
            _ => break,
        }
    }
    d.start_pos = 0;
    d.end_pos = 0;
    for e in [&mut d.lhs, &mut d.rhs].into_iter().flatten() {
        norm(e);
    }
}

fn norm(e: &mut Expr) {
    match e {
        Expr::Aggregate(a) => a.pos = PosRange::default(),
        Expr::Call(c) => c.pos = PosRange::default(),
        Expr::MatrixSelector(m) => {
            m.end_pos = 0;
            norm_vs(&mut m.vector_selector);
            if let Some(d) = &mut m.range_expr {
                norm_dur(d);
            }
        }
        Expr::Subquery(s) => {
            s.end_pos = 0;
            for d in [
                &mut s.range_expr,
                &mut s.step_expr,
                &mut s.original_offset_expr,
            ]
            .into_iter()
            .flatten()
            {
                norm_dur(d);
            }
        }
        Expr::NumberLiteral(n) => n.pos = PosRange::default(),
        Expr::Paren(p) => p.pos = PosRange::default(),
        Expr::StringLiteral(s) => s.pos = PosRange::default(),
        Expr::Unary(u) => u.start_pos = 0,
        Expr::VectorSelector(v) => norm_vs(v),
        Expr::Duration(d) => norm_dur(d),
        Expr::Binary(_) | Expr::StepInvariant(_) => {}
    }
    e.for_each_child_mut(norm);
}
