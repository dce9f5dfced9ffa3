//! Prometheus' prettier (`format_query`): an expression printed on one line when it fits in
//! 100 characters, else split: aggregations and calls put their arguments on their own
//! lines, binary operations put the operator between their operands, parentheses their
//! content, each level indented by two spaces.

use crate::ast::{AggregateExpr, BinaryExpr, Expr, VectorMatchCardinality};
use crate::printer::{labels_list, subquery_suffix};

/// Longest line kept whole.
const MAX_LINE: usize = 100;

/// `e` formatted as Prometheus' `Prettify` formats it.
pub fn prettify(e: &Expr) -> String {
    pretty(e, 0)
}

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

fn fits(e: &Expr) -> bool {
    e.to_string().len() <= MAX_LINE
}

fn pretty(e: &Expr, level: usize) -> String {
    let ind = indent(level);
    match e {
        Expr::Aggregate(a) if !fits(e) => {
            let mut s = format!("{ind}{}(\n", aggregation_head(a));
            if let Some(p) = &a.param {
                s.push_str(&pretty(p, level + 1));
                s.push_str(",\n");
            }
            s.push_str(&pretty(&a.expr, level + 1));
            s.push('\n');
            s.push_str(&ind);
            s.push(')');
            s
        }
        Expr::Binary(b) if !fits(e) => format!(
            "{}\n{ind}{}{}{}\n{}",
            pretty(&b.lhs, level + 1),
            b.op.as_str(),
            if b.return_bool { " bool" } else { "" },
            matching(b),
            pretty(&b.rhs, level + 1)
        ),
        Expr::Call(c) if !fits(e) => {
            let args: Vec<String> = c.args.iter().map(|a| pretty(a, level + 1)).collect();
            format!("{ind}{}(\n{}\n{ind})", c.func.name, args.join(",\n"))
        }
        Expr::Paren(p) if !fits(e) => format!("{ind}(\n{}\n{ind})", pretty(&p.expr, level + 1)),
        // As in Prometheus, a subquery that fits is not indented.
        Expr::Subquery(_) if fits(e) => e.to_string(),
        Expr::Subquery(s) => format!("{}{}", pretty(&s.expr, level), subquery_suffix(s)),
        Expr::StepInvariant(s) => pretty(&s.expr, level),
        Expr::Unary(u) => format!("{ind}{}{}", u.op.as_str(), pretty(&u.expr, level).trim()),
        _ => format!("{ind}{e}"),
    }
}

/// `sum`, `sum by (a, b) `, `sum without (a) ` (the space before `(` included).
fn aggregation_head(a: &AggregateExpr) -> String {
    if a.without {
        format!("{} without ({}) ", a.op.as_str(), labels_list(&a.grouping))
    } else if !a.grouping.is_empty() {
        format!("{} by ({}) ", a.op.as_str(), labels_list(&a.grouping))
    } else {
        a.op.as_str().to_string()
    }
}

/// ` on (a)`, ` ignoring (a) group_left (b)`, ...; nothing without labels or `on`, as
/// Prometheus' prettier does.
fn matching(b: &BinaryExpr) -> String {
    let Some(vm) = &b.vector_matching else {
        return String::new();
    };
    if vm.matching_labels.is_empty() && !vm.on {
        return String::new();
    }
    let mut s = format!(
        " {} ({})",
        if vm.on { "on" } else { "ignoring" },
        labels_list(&vm.matching_labels)
    );
    match vm.card {
        VectorMatchCardinality::ManyToOne => {
            s.push_str(&format!(" group_left ({})", labels_list(&vm.include)))
        }
        VectorMatchCardinality::OneToMany => {
            s.push_str(&format!(" group_right ({})", labels_list(&vm.include)))
        }
        _ => {}
    }
    s
}
