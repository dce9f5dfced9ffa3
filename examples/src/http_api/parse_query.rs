//! `/api/v1/parse_query`: a query's syntax tree as JSON, in the shape Prometheus' API gives
//! it (what its UI's tree view reads): one object per node with a `type` and the node's
//! fields, selectors with their matchers, durations in ms.

use promql::ast::{AtModifierPreprocessor, Expr, VectorSelector};
use serde_json::{json, Value as Json};
use tsdb_index::Matcher;

/// The tree of `e`.
pub fn translate(e: &Expr) -> Json {
    match e {
        Expr::Aggregate(a) => json!({
            "type": "aggregation",
            "op": a.op.as_str(),
            "expr": translate(&a.expr),
            "param": a.param.as_deref().map_or(Json::Null, translate),
            "grouping": a.grouping,
            "without": a.without,
        }),
        Expr::Binary(b) => json!({
            "type": "binaryExpr",
            "op": b.op.as_str(),
            "lhs": translate(&b.lhs),
            "rhs": translate(&b.rhs),
            "matching": b.vector_matching.as_ref().map_or(Json::Null, |m| json!({
                "card": m.card.as_str(),
                "labels": m.matching_labels,
                "on": m.on,
                "include": m.include,
            })),
            "bool": b.return_bool,
        }),
        Expr::Call(c) => json!({
            "type": "call",
            "func": {
                "name": c.func.name,
                "argTypes": c.func.arg_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                "variadic": c.func.variadic,
                "returnType": c.func.return_type.as_str(),
            },
            "args": c.args.iter().map(translate).collect::<Vec<_>>(),
        }),
        Expr::MatrixSelector(m) => {
            let mut o = selector(&m.vector_selector, "matrixSelector");
            o["range"] = json!(m.range_ms);
            o
        }
        Expr::Subquery(s) => json!({
            "type": "subquery",
            "expr": translate(&s.expr),
            "range": s.range_ms,
            "offset": s.original_offset_ms,
            "step": s.step_ms,
            "timestamp": s.timestamp,
            "startOrEnd": start_or_end(s.start_or_end),
        }),
        Expr::NumberLiteral(n) => json!({"type": "numberLiteral", "val": go_float(n.val)}),
        Expr::Paren(p) => json!({"type": "parenExpr", "expr": translate(&p.expr)}),
        Expr::StringLiteral(s) => json!({"type": "stringLiteral", "val": s.val}),
        Expr::Unary(u) => json!({
            "type": "unaryExpr",
            "op": u.op.as_str(),
            "expr": translate(&u.expr),
        }),
        Expr::VectorSelector(v) => selector(v, "vectorSelector"),
        // Never produced by the parser (the engine adds it while preparing a query).
        Expr::StepInvariant(s) => translate(&s.expr),
        // Duration expressions (an experimental syntax) have no node type in Prometheus' API.
        Expr::Duration(_) => Json::Null,
    }
}

fn selector(v: &VectorSelector, kind: &str) -> Json {
    json!({
        "type": kind,
        "name": v.name,
        "offset": v.original_offset_ms,
        "matchers": v.matchers.iter().map(matcher).collect::<Vec<_>>(),
        "timestamp": v.timestamp,
        "startOrEnd": start_or_end(v.start_or_end),
    })
}

fn matcher(m: &Matcher) -> Json {
    json!({"name": m.name.as_str(), "value": m.value.as_str(), "type": m.kind.to_string()})
}

fn start_or_end(s: Option<AtModifierPreprocessor>) -> Json {
    match s {
        Some(AtModifierPreprocessor::Start) => json!("start"),
        Some(AtModifierPreprocessor::End) => json!("end"),
        None => Json::Null,
    }
}

/// A float as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it: shortest digits, never
/// an exponent.
fn go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}
