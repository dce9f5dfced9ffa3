//! The type checker: Prometheus' `checkAST`, run on a syntactically valid tree. It visits
//! the tree in the same order as Prometheus so that the first error reported is the same, and
//! it normalises the tree as Prometheus does (set operators become many-to-many; vector
//! matching is dropped when a side is a scalar; `info()`'s selector argument is exempt from
//! the empty-matcher rule).

use super::ParseError;
use crate::ast::*;
use crate::lexer::go_quote_str;
use crate::types::ValueType;

type CResult<T> = Result<T, ParseError>;

/// Type-checks `expr` (parsed from `input`).
pub(crate) fn check_ast(input: &str, expr: &mut Expr) -> CResult<()> {
    Checker { input }.check(expr).map(|_| ())
}

struct Checker<'a> {
    input: &'a str,
}

impl Checker<'_> {
    fn err(&self, pos: PosRange, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.input, pos, msg)
    }

    fn expect_type(&self, e: &mut Expr, want: ValueType, context: &str) -> CResult<()> {
        let t = self.check(e)?;
        if t != want {
            return Err(self.err(
                e.pos(),
                format!(
                    "expected type {} in {context}, got {}",
                    want.documented(),
                    t.documented()
                ),
            ));
        }
        Ok(())
    }

    /// The span of a binary operator and its modifiers, between the operands.
    fn op_range(&self, b: &BinaryExpr) -> PosRange {
        let bytes = self.input.as_bytes();
        let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
        let mut start = b.lhs.pos().end;
        while start < bytes.len() && is_space(bytes[start]) {
            start += 1;
        }
        let mut end = b.rhs.pos().start.saturating_sub(1);
        while end > 0 && end < bytes.len() && is_space(bytes[end]) {
            end -= 1;
        }
        PosRange::new(start, end)
    }

    fn check(&self, node: &mut Expr) -> CResult<ValueType> {
        let typ = node.value_type();
        let pos = node.pos();
        match node {
            Expr::Aggregate(a) => {
                self.expect_type(&mut a.expr, ValueType::Vector, "aggregation expression")?;
                if let Some(param) = &mut a.param {
                    match a.op {
                        AggregateOp::CountValues => {
                            self.expect_type(param, ValueType::String, "aggregation parameter")?
                        }
                        _ => self.expect_type(param, ValueType::Scalar, "aggregation parameter")?,
                    }
                }
            }
            Expr::Binary(b) => self.check_binary(b)?,
            Expr::Call(c) => self.check_call(c, pos)?,
            Expr::Paren(p) => {
                self.check(&mut p.expr)?;
            }
            Expr::Unary(u) => {
                let t = self.check(&mut u.expr)?;
                if t != ValueType::Scalar && t != ValueType::Vector {
                    return Err(self.err(
                        pos,
                        format!(
                            "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                            go_quote_str(t.documented())
                        ),
                    ));
                }
            }
            Expr::Subquery(s) => {
                let t = self.check(&mut s.expr)?;
                if t != ValueType::Vector {
                    return Err(self.err(
                        pos,
                        format!(
                            "subquery is only allowed on instant vector, got {} instead",
                            t.as_str()
                        ),
                    ));
                }
            }
            Expr::MatrixSelector(m) => self.check_selector(&m.vector_selector)?,
            Expr::VectorSelector(v) => self.check_selector(v)?,
            Expr::StepInvariant(s) => {
                self.check(&mut s.expr)?;
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Duration(_) => {}
        }
        Ok(typ)
    }

    fn check_selector(&self, v: &VectorSelector) -> CResult<()> {
        if !v.name.is_empty() {
            let n = v.matchers.len().saturating_sub(1);
            if let Some(m) = v.matchers[..n].iter().find(|m| m.name == "__name__") {
                return Err(self.err(
                    v.pos,
                    format!(
                        "metric name must not be set twice: {} or {}",
                        go_quote_str(&v.name),
                        go_quote_str(&m.value)
                    ),
                ));
            }
            return Ok(());
        }
        if !v.bypass_empty_matcher_check && v.matchers.iter().all(|m| m.matches("")) {
            return Err(self.err(
                v.pos,
                "vector selector must contain at least one non-empty matcher",
            ));
        }
        Ok(())
    }

    fn check_binary(&self, b: &mut BinaryExpr) -> CResult<()> {
        let lt = self.check(&mut b.lhs)?;
        let rt = self.check(&mut b.rhs)?;
        let pos = PosRange::new(b.lhs.pos().start, b.rhs.pos().end);
        if b.return_bool && !b.op.is_comparison() {
            return Err(self.err(
                self.op_range(b),
                "bool modifier can only be used on comparison operators",
            ));
        }
        if b.op.is_comparison()
            && !b.return_bool
            && b.rhs.value_type() == ValueType::Scalar
            && b.lhs.value_type() == ValueType::Scalar
        {
            return Err(self.err(
                self.op_range(b),
                "comparisons between scalars must use BOOL modifier",
            ));
        }
        let op_range = self.op_range(b);
        if let Some(vm) = &mut b.vector_matching {
            if b.op.is_set() && vm.card == VectorMatchCardinality::OneToOne {
                vm.card = VectorMatchCardinality::ManyToMany;
            }
            if vm.on {
                if let Some(l) = vm.matching_labels.iter().find(|l| vm.include.contains(l)) {
                    return Err(self.err(
                        op_range,
                        format!(
                            "label {} must not occur in ON and GROUP clause at once",
                            go_quote_str(l)
                        ),
                    ));
                }
            }
        }
        if lt != ValueType::Scalar && lt != ValueType::Vector {
            return Err(self.err(
                b.lhs.pos(),
                "binary expression must contain only scalar and instant vector types",
            ));
        }
        if rt != ValueType::Scalar && rt != ValueType::Vector {
            return Err(self.err(
                b.rhs.pos(),
                "binary expression must contain only scalar and instant vector types",
            ));
        }
        let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
        if let Some(vm) = &b.vector_matching {
            let has_fill = vm.fill_values.lhs.is_some() || vm.fill_values.rhs.is_some();
            if !both_vectors {
                if !vm.matching_labels.is_empty() {
                    return Err(
                        self.err(pos, "vector matching only allowed between instant vectors")
                    );
                }
                if has_fill {
                    return Err(self.err(
                        pos,
                        "filling in missing series only allowed between instant vectors",
                    ));
                }
                b.vector_matching = None;
            } else if b.op.is_set() {
                if matches!(
                    vm.card,
                    VectorMatchCardinality::OneToMany | VectorMatchCardinality::ManyToOne
                ) {
                    return Err(self.err(
                        pos,
                        format!(
                            "no grouping allowed for {} operation",
                            go_quote_str(b.op.as_str())
                        ),
                    ));
                }
                if vm.card != VectorMatchCardinality::ManyToMany {
                    return Err(self.err(pos, "set operations must always be many-to-many"));
                }
                if has_fill {
                    return Err(self.err(
                        pos,
                        "filling in missing series not allowed for set operators",
                    ));
                }
            }
        }
        if (lt == ValueType::Scalar || rt == ValueType::Scalar) && b.op.is_set() {
            return Err(self.err(
                pos,
                format!(
                    "set operator {} not allowed in binary scalar expression",
                    go_quote_str(b.op.as_str())
                ),
            ));
        }
        Ok(())
    }

    fn check_call(&self, c: &mut Call, pos: PosRange) -> CResult<()> {
        let f = c.func;
        let nargs = f.arg_types.len();
        let got = c.args.len();
        if f.variadic == 0 {
            if nargs != got {
                return Err(self.err(
                    pos,
                    format!(
                        "expected {nargs} argument(s) in call to {}, got {got}",
                        go_quote_str(f.name)
                    ),
                ));
            }
        } else {
            let na = nargs - 1;
            if na > got {
                return Err(self.err(
                    pos,
                    format!(
                        "expected at least {na} argument(s) in call to {}, got {got}",
                        go_quote_str(f.name)
                    ),
                ));
            }
            let max = na as i64 + f.variadic as i64;
            if f.variadic > 0 && max < got as i64 {
                return Err(self.err(
                    pos,
                    format!(
                        "expected at most {max} argument(s) in call to {}, got {got}",
                        go_quote_str(f.name)
                    ),
                ));
            }
        }
        if f.name == "info" && got > 1 {
            let t = c.args[1].value_type();
            if t != ValueType::Vector {
                return Err(self.err(
                    pos,
                    format!(
                        "expected type {} in call to function {}, got {}",
                        ValueType::Vector.documented(),
                        go_quote_str(f.name),
                        t.documented()
                    ),
                ));
            }
            let arg_pos = c.args[1].pos();
            match &mut c.args[1] {
                Expr::VectorSelector(vs) if !vs.name.is_empty() => {
                    return Err(self.err(
                        arg_pos,
                        "expected label selectors only, got vector selector instead",
                    ))
                }
                Expr::VectorSelector(vs) => vs.bypass_empty_matcher_check = true,
                _ => return Err(self.err(arg_pos, "expected label selectors only")),
            }
        }
        for (i, arg) in c.args.iter_mut().enumerate() {
            let want = if i >= nargs {
                if f.variadic == 0 {
                    break;
                }
                f.arg_types[nargs - 1]
            } else {
                f.arg_types[i]
            };
            let t = self.check(arg)?;
            if t != want {
                return Err(self.err(
                    arg.pos(),
                    format!(
                        "expected type {} in call to function {}, got {}",
                        want.documented(),
                        go_quote_str(f.name),
                        t.documented()
                    ),
                ));
            }
        }
        Ok(())
    }
}
