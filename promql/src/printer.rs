//! Writes an AST back as PromQL, character for character as Prometheus' `String()` methods
//! (`promql/parser/printer.go`) do: what `/api/v1/format_query` returns and what error
//! messages quote. Parsing the output yields the same tree (positions aside, matchers sorted).

use std::fmt::{self, Write};

use tsdb_index::Matcher;

use crate::ast::*;
use crate::parser::{format_duration_ms, format_float};

/// Go's `strconv.Quote` of a byte string: printable UTF-8 kept, other bytes escaped.
pub fn go_quote_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    for chunk in b.utf8_chunks() {
        let q = tsdb_index::labels::go_quote(chunk.valid());
        out.push_str(&q[1..q.len() - 1]);
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out.push('"');
    out
}

fn is_legacy_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Label names as Prometheus lists them in `by (...)`, `on (...)`: comma-separated, quoted
/// unless plain identifiers.
pub(crate) fn labels_list(labels: &[String]) -> String {
    struct List<'a>(&'a [String]);
    impl fmt::Display for List<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_labels(f, self.0)
        }
    }
    List(labels).to_string()
}

fn write_labels(f: &mut fmt::Formatter<'_>, labels: &[String]) -> fmt::Result {
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        if is_legacy_label_name(l) {
            f.write_str(l)?;
        } else {
            f.write_str(&tsdb_index::labels::go_quote(l))?;
        }
    }
    Ok(())
}

/// A matcher as Prometheus' `Matcher.String()`: the name quoted unless it is a plain
/// identifier, the value always quoted.
pub fn matcher_string(m: &Matcher) -> String {
    let plain = !m.name.is_empty()
        && m.name
            .char_indices()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    let name = if plain {
        m.name.clone()
    } else {
        tsdb_index::labels::go_quote(&m.name)
    };
    format!("{name}{}{}", m.kind, tsdb_index::labels::go_quote(&m.value))
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(v, 'g', -1, 64)`): shortest digits, in
/// exponent form when the decimal exponent is below -4 or at least 6 (`1e+06`).
fn go_float_v(v: f64) -> String {
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
    // Shortest round-trip digits and the decimal exponent, from Rust's `{:e}`.
    let e = format!("{:e}", v.abs());
    let (mant, exp) = e.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let sign = if v < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    format!("{sign}{}", format_float(v.abs()))
}

/// A subquery's suffix: `[range:step]`, then `@` and `offset` modifiers.
pub(crate) fn subquery_suffix(s: &crate::ast::SubqueryExpr) -> String {
    struct Suffix<'a>(&'a crate::ast::SubqueryExpr);
    impl fmt::Display for Suffix<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let s = self.0;
            let step = if s.step_ms != 0 {
                format_duration_ms(s.step_ms)
            } else if let Some(e) = &s.step_expr {
                e.to_string()
            } else {
                String::new()
            };
            write!(
                f,
                "[{}:{step}]",
                range_string(s.range_ms, s.range_expr.as_deref())
            )?;
            write_at(f, s.timestamp, s.start_or_end)?;
            write_offset(f, s.original_offset_ms, s.original_offset_expr.as_deref())
        }
    }
    Suffix(s).to_string()
}

fn write_at(
    f: &mut fmt::Formatter<'_>,
    ts: Option<i64>,
    pre: Option<AtModifierPreprocessor>,
) -> fmt::Result {
    match (ts, pre) {
        (Some(ts), _) => write!(f, " @ {:.3}", ts as f64 / 1000.0),
        (None, Some(AtModifierPreprocessor::Start)) => f.write_str(" @ start()"),
        (None, Some(AtModifierPreprocessor::End)) => f.write_str(" @ end()"),
        (None, None) => Ok(()),
    }
}

fn write_offset(f: &mut fmt::Formatter<'_>, ms: i64, expr: Option<&DurationExpr>) -> fmt::Result {
    match expr {
        Some(e) => write!(f, " offset {e}"),
        None if ms > 0 => write!(f, " offset {}", format_duration_ms(ms)),
        None if ms < 0 => write!(f, " offset -{}", format_duration_ms(-ms)),
        None => Ok(()),
    }
}

fn range_string(ms: i64, expr: Option<&DurationExpr>) -> String {
    match expr {
        Some(e) => e.to_string(),
        None => format_duration_ms(ms),
    }
}

impl VectorSelector {
    /// The selector without its modifiers: `name{sorted matchers}`.
    fn write_base(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut strs: Vec<String> = self
            .matchers
            .iter()
            .filter(|m| {
                !(m.name == "__name__"
                    && m.kind == tsdb_index::MatchType::Equal
                    && m.value == self.name
                    && !m.value.is_empty())
            })
            .map(matcher_string)
            .collect();
        f.write_str(&self.name)?;
        if !strs.is_empty() {
            strs.sort();
            write!(f, "{{{}}}", strs.join(","))?;
        }
        Ok(())
    }

    fn write_extended(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.anchored {
            f.write_str(" anchored")
        } else if self.smoothed {
            f.write_str(" smoothed")
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_base(f)?;
        write_at(f, self.timestamp, self.start_or_end)?;
        self.write_extended(f)?;
        write_offset(
            f,
            self.original_offset_ms,
            self.original_offset_expr.as_deref(),
        )
    }
}

impl fmt::Display for DurationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wrapped {
            f.write_str("(")?;
        }
        match (self.op, &self.lhs, &self.rhs) {
            (DurationOp::Step, _, _) => f.write_str("step()")?,
            (DurationOp::Range, _, _) => f.write_str("range()")?,
            (DurationOp::MinOf | DurationOp::MaxOf, Some(l), Some(r)) => {
                write!(f, "{}({l}, {r})", self.op.as_str())?
            }
            (DurationOp::Sub, None, Some(r)) => write!(f, "-{r}")?,
            (DurationOp::Add, None, Some(r)) => write!(f, "{r}")?,
            (op, Some(l), Some(r)) => write!(f, "{l} {} {r}", op.as_str())?,
            // Shapes the parser never builds; print what there is.
            (op, l, r) => {
                if let Some(l) = l {
                    write!(f, "{l} ")?;
                }
                f.write_str(op.as_str())?;
                if let Some(r) = r {
                    write!(f, " {r}")?;
                }
            }
        }
        if self.wrapped {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for NumberLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.duration {
            // model.Duration(val * 1e9): float nanoseconds truncated, then milliseconds.
            let ms = |v: f64| ((v * 1e9) as i64) / 1_000_000;
            if self.val < 0.0 {
                return write!(f, "-{}", format_duration_ms(ms(-self.val)));
            }
            return f.write_str(&format_duration_ms(ms(self.val)));
        }
        f.write_str(&format_float(self.val))
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Aggregate(a) => {
                f.write_str(a.op.as_str())?;
                if a.without {
                    f.write_str(" without (")?;
                    write_labels(f, &a.grouping)?;
                    f.write_str(") ")?;
                } else if !a.grouping.is_empty() {
                    f.write_str(" by (")?;
                    write_labels(f, &a.grouping)?;
                    f.write_str(") ")?;
                }
                f.write_str("(")?;
                if let Some(p) = &a.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            Expr::Binary(b) => {
                write!(f, "{} {}", b.lhs, b.op.as_str())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(vm) = &b.vector_matching {
                    let grouped = matches!(
                        vm.card,
                        VectorMatchCardinality::ManyToOne | VectorMatchCardinality::OneToMany
                    );
                    if !vm.matching_labels.is_empty() || vm.on || grouped {
                        f.write_str(if vm.on { " on (" } else { " ignoring (" })?;
                        write_labels(f, &vm.matching_labels)?;
                        f.write_str(")")?;
                    }
                    if grouped {
                        f.write_str(if vm.card == VectorMatchCardinality::ManyToOne {
                            " group_left ("
                        } else {
                            " group_right ("
                        })?;
                        write_labels(f, &vm.include)?;
                        f.write_str(")")?;
                    }
                    let fv = vm.fill_values;
                    match (fv.lhs, fv.rhs) {
                        (Some(l), Some(r)) if l == r => write!(f, " fill ({})", go_float_v(l))?,
                        (l, r) => {
                            if let Some(l) = l {
                                write!(f, " fill_left ({})", go_float_v(l))?;
                            }
                            if let Some(r) = r {
                                write!(f, " fill_right ({})", go_float_v(r))?;
                            }
                        }
                    }
                }
                write!(f, " {}", b.rhs)
            }
            Expr::Call(c) => {
                write!(f, "{}(", c.func.name)?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Expr::MatrixSelector(m) => {
                let vs = &m.vector_selector;
                vs.write_base(f)?;
                write!(f, "[{}]", range_string(m.range_ms, m.range_expr.as_deref()))?;
                vs.write_extended(f)?;
                write_at(f, vs.timestamp, vs.start_or_end)?;
                write_offset(f, vs.original_offset_ms, vs.original_offset_expr.as_deref())
            }
            Expr::Subquery(s) => write!(f, "{}{}", s.expr, subquery_suffix(s)),
            Expr::NumberLiteral(n) => write!(f, "{n}"),
            Expr::Paren(p) => write!(f, "({})", p.expr),
            Expr::StringLiteral(s) => match &s.bytes {
                Some(b) => f.write_str(&go_quote_bytes(b)),
                None => f.write_str(&tsdb_index::labels::go_quote(&s.val)),
            },
            Expr::Unary(u) => write!(f, "{}{}", u.op.as_str(), u.expr),
            Expr::VectorSelector(v) => write!(f, "{v}"),
            Expr::StepInvariant(s) => write!(f, "{}", s.expr),
            Expr::Duration(d) => write!(f, "{d}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_v_floats() {
        assert_eq!(go_float_v(0.0), "0");
        assert_eq!(go_float_v(1.5), "1.5");
        assert_eq!(go_float_v(-2.0), "-2");
        assert_eq!(go_float_v(1e21), "1e+21");
        assert_eq!(go_float_v(1e6), "1e+06");
        assert_eq!(go_float_v(1234567.0), "1.234567e+06");
        assert_eq!(go_float_v(123456.0), "123456");
        assert_eq!(go_float_v(0.00001), "1e-05");
        assert_eq!(go_float_v(f64::NAN), "NaN");
    }

    #[test]
    fn quoting_invalid_bytes() {
        assert_eq!(go_quote_bytes(b"a\xc5z"), "\"a\\xc5z\"");
    }
}
