//! The PromQL abstract syntax tree: what the parser produces and the engine evaluates.
//!
//! The shapes follow Prometheus' `promql/parser/ast.go` so that the evaluator can be written
//! against the same model, with three Rust-specific choices:
//! - every duration (ranges, steps, offsets) is held in **milliseconds** (`i64`), the resolution
//!   the engine evaluates at; a literal is rounded to nanoseconds and then truncated to
//!   milliseconds, as Prometheus does between its parser and its engine;
//! - operators are small enums rather than lexer item types;
//! - `@` is split into `timestamp` (milliseconds) and `start_or_end`, as in Prometheus, so the
//!   engine can fill `timestamp` for `@ start()` / `@ end()` and the printer still prints the
//!   original form.
//!
//! Positions are byte offsets into the query string (`PosRange`), used for error messages.

use std::fmt;

use tsdb_index::Matcher;

use crate::parser::Function;
use crate::types::ValueType;

/// A half-open byte range `[start, end)` in the query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PosRange {
    /// First byte of the node.
    pub start: usize,
    /// One past the last byte of the node.
    pub end: usize,
}

impl PosRange {
    /// A range from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        PosRange { start, end }
    }

    /// `line:column` (both 1-based) of `start` in `query`, as Prometheus prints error positions.
    pub fn start_line_col(&self, query: &str) -> String {
        if query.is_empty() {
            return "unknown position".to_string();
        }
        if self.start > query.len() {
            return "invalid position".to_string();
        }
        let prefix = &query.as_bytes()[..self.start];
        let line = 1 + prefix.iter().filter(|&&b| b == b'\n').count();
        let last_break = prefix.iter().rposition(|&b| b == b'\n');
        let col = match last_break {
            Some(i) => self.start - i,
            None => self.start + 1,
        };
        format!("{line}:{col}")
    }
}

/// A PromQL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `sum by (job) (x)`, `topk(3, x)`, ...
    Aggregate(AggregateExpr),
    /// `a + b`, `a > bool b`, `a and on(x) b`, ...
    Binary(BinaryExpr),
    /// A function call, `rate(x[5m])`.
    Call(Call),
    /// A range selector, `x[5m]`.
    MatrixSelector(MatrixSelector),
    /// A subquery, `expr[1h:5m]`.
    Subquery(SubqueryExpr),
    /// A number, `1.5`, `0x1f`, `Inf`, or a duration used as a number, `5m`.
    NumberLiteral(NumberLiteral),
    /// `( expr )`.
    Paren(ParenExpr),
    /// A string, `"foo"`.
    StringLiteral(StringLiteral),
    /// `-expr` or `+expr` (on anything but a number literal, which absorbs the sign).
    Unary(UnaryExpr),
    /// An instant vector selector, `x{a="b"}`.
    VectorSelector(VectorSelector),
    /// A sub-tree whose value does not depend on the evaluation time. Never produced by the
    /// parser; the engine wraps sub-trees in it while preparing a query.
    StepInvariant(StepInvariantExpr),
    /// A duration expression (`5m * 2`, `step()`, `max_of(a, b)`), found inside `[...]`,
    /// after `offset` and, for `step()`, `range()`, `min_of`, `max_of`, as an expression.
    Duration(DurationExpr),
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `count_values`
    CountValues,
    /// `quantile`
    Quantile,
    /// `limitk` (experimental)
    Limitk,
    /// `limit_ratio` (experimental)
    LimitRatio,
}

impl AggregateOp {
    /// The keyword, lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// Looks an aggregation keyword up, case-insensitively.
    pub fn from_keyword(word: &str) -> Option<Self> {
        const ALL: [AggregateOp; 14] = [
            AggregateOp::Sum,
            AggregateOp::Avg,
            AggregateOp::Count,
            AggregateOp::Min,
            AggregateOp::Max,
            AggregateOp::Group,
            AggregateOp::Stddev,
            AggregateOp::Stdvar,
            AggregateOp::Topk,
            AggregateOp::Bottomk,
            AggregateOp::CountValues,
            AggregateOp::Quantile,
            AggregateOp::Limitk,
            AggregateOp::LimitRatio,
        ];
        ALL.into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    /// Whether the aggregation takes a parameter before the vector (`topk(3, x)`).
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::CountValues
                | AggregateOp::Quantile
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio
        )
    }

    /// Whether the aggregation needs the experimental-functions flag.
    pub fn is_experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }
}

impl fmt::Display for AggregateOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Binary operators, in Prometheus' three families: arithmetic, comparison and set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `<`
    Lss,
    /// `>`
    Gtr,
    /// `<=`
    Lte,
    /// `>=`
    Gte,
    /// `</`: trims a native histogram's buckets above a bound.
    TrimUpper,
    /// `>/`: trims a native histogram's buckets below a bound.
    TrimLower,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinaryOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Lss => "<",
            BinaryOp::Gtr => ">",
            BinaryOp::Lte => "<=",
            BinaryOp::Gte => ">=",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }

    /// `==`, `!=`, `<`, `>`, `<=`, `>=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eql
                | BinaryOp::Neq
                | BinaryOp::Lss
                | BinaryOp::Gtr
                | BinaryOp::Lte
                | BinaryOp::Gte
        )
    }

    /// `and`, `or`, `unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }

    /// Binding strength; a higher number binds tighter. `^` is right-associative, all others
    /// left-associative (Prometheus' grammar precedence table).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql
            | BinaryOp::Neq
            | BinaryOp::Lss
            | BinaryOp::Gtr
            | BinaryOp::Lte
            | BinaryOp::Gte
            | BinaryOp::TrimUpper
            | BinaryOp::TrimLower => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// Whether `a op b op c` groups as `a op (b op c)`.
    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Pow
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `+x` (identity).
    Add,
    /// `-x` (negation).
    Sub,
}

impl UnaryOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Add => "+",
            UnaryOp::Sub => "-",
        }
    }
}

/// `@ start()` or `@ end()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtModifierPreprocessor {
    /// `@ start()`: the query's start time.
    Start,
    /// `@ end()`: the query's end time.
    End,
}

/// `sum without (a) (x)`, `topk by (b) (3, x)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    /// The aggregation.
    pub op: AggregateOp,
    /// The vector aggregated over.
    pub expr: Box<Expr>,
    /// The parameter of `topk`, `bottomk`, `quantile`, `count_values`, `limitk`, `limit_ratio`.
    pub param: Option<Box<Expr>>,
    /// Labels of `by (...)` / `without (...)`, in query order.
    pub grouping: Vec<String>,
    /// `without` rather than `by`.
    pub without: bool,
    /// Where the expression is.
    pub pos: PosRange,
}

/// How the two sides of a vector/vector operation are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VectorMatchCardinality {
    /// Default for arithmetic and comparison.
    OneToOne,
    /// `group_left`.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

impl VectorMatchCardinality {
    /// `one-to-one`, `many-to-one`, ... as Prometheus names them in errors.
    pub fn as_str(self) -> &'static str {
        match self {
            VectorMatchCardinality::OneToOne => "one-to-one",
            VectorMatchCardinality::ManyToOne => "many-to-one",
            VectorMatchCardinality::OneToMany => "one-to-many",
            VectorMatchCardinality::ManyToMany => "many-to-many",
        }
    }
}

/// Values filled in for a missing series on one side (`fill`, `fill_left`, `fill_right`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VectorMatchFillValues {
    /// Used when the right-hand side has no match.
    pub rhs: Option<f64>,
    /// Used when the left-hand side has no match.
    pub lhs: Option<f64>,
}

/// The `on`/`ignoring`/`group_*`/`fill*` modifiers of a vector/vector binary operation.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    /// Cardinality of the match.
    pub card: VectorMatchCardinality,
    /// Labels of `on (...)` or `ignoring (...)`.
    pub matching_labels: Vec<String>,
    /// `on` rather than `ignoring`.
    pub on: bool,
    /// Extra labels of `group_left (...)` / `group_right (...)`.
    pub include: Vec<String>,
    /// Fill values for unmatched series.
    pub fill_values: VectorMatchFillValues,
}

/// `lhs op rhs`.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Box<Expr>,
    /// Right operand.
    pub rhs: Box<Expr>,
    /// Matching when both sides are instant vectors; `None` when either side is a scalar.
    pub vector_matching: Option<VectorMatching>,
    /// `bool` modifier on a comparison: return 0/1 instead of filtering.
    pub return_bool: bool,
}

/// A duration expression operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationOp {
    /// `a + b`, or unary `+b` when `lhs` is `None`.
    Add,
    /// `a - b`, or unary `-b` when `lhs` is `None`.
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `a % b`
    Mod,
    /// `a ^ b`
    Pow,
    /// `step()`: the query's step.
    Step,
    /// `range()`: the query's range (end - start).
    Range,
    /// `min_of(a, b)`
    MinOf,
    /// `max_of(a, b)`
    MaxOf,
}

impl DurationOp {
    /// The operator or function name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            DurationOp::Add => "+",
            DurationOp::Sub => "-",
            DurationOp::Mul => "*",
            DurationOp::Div => "/",
            DurationOp::Mod => "%",
            DurationOp::Pow => "^",
            DurationOp::Step => "step",
            DurationOp::Range => "range",
            DurationOp::MinOf => "min_of",
            DurationOp::MaxOf => "max_of",
        }
    }
}

/// An arithmetic expression over durations (in seconds), evaluated by the engine once per
/// query. Operands (`lhs`, `rhs`) are number literals (seconds) or nested duration expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationExpr {
    /// The operation.
    pub op: DurationOp,
    /// Left operand; `None` for unary `+`/`-`, `step()` and `range()`.
    pub lhs: Option<Box<Expr>>,
    /// Right operand; `None` for `step()` and `range()`.
    pub rhs: Option<Box<Expr>>,
    /// Written in parentheses (kept so the printer reproduces them).
    pub wrapped: bool,
    /// Start of a unary operator, `step()`, `range()`, `min_of`/`max_of`, or the `(`.
    pub start_pos: usize,
    /// End of `step()`, `range()`, `min_of(...)`/`max_of(...)` or the `)`.
    pub end_pos: usize,
}

/// A function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function's signature.
    pub func: &'static Function,
    /// The arguments.
    pub args: Vec<Expr>,
    /// Where the call is.
    pub pos: PosRange,
}

/// `selector[range]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSelector {
    /// The selector (its offset, `@`, `anchored` and `smoothed` apply to the range).
    pub vector_selector: VectorSelector,
    /// The range in milliseconds (0 when `range_expr` is set).
    pub range_ms: i64,
    /// The range when written as a duration expression.
    pub range_expr: Option<Box<DurationExpr>>,
    /// End of the whole expression, modifiers included.
    pub end_pos: usize,
}

/// `expr[range:step]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubqueryExpr {
    /// The inner expression.
    pub expr: Box<Expr>,
    /// The range in milliseconds (0 when `range_expr` is set).
    pub range_ms: i64,
    /// The range when written as a duration expression.
    pub range_expr: Option<Box<DurationExpr>>,
    /// The offset as written, in milliseconds.
    pub original_offset_ms: i64,
    /// The offset when written as a duration expression.
    pub original_offset_expr: Option<Box<DurationExpr>>,
    /// The effective offset, in milliseconds: 0 from the parser; the engine sets it while
    /// preparing a query (original offset combined with `@` and enclosing subqueries).
    pub offset_ms: i64,
    /// `@ <timestamp>` in milliseconds (also filled by the engine for `@ start()`/`@ end()`).
    pub timestamp: Option<i64>,
    /// `@ start()` / `@ end()` as written.
    pub start_or_end: Option<AtModifierPreprocessor>,
    /// The step in milliseconds; 0 means the default evaluation interval.
    pub step_ms: i64,
    /// The step when written as a duration expression.
    pub step_expr: Option<Box<DurationExpr>>,
    /// End of the whole expression, modifiers included.
    pub end_pos: usize,
}

/// A number.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberLiteral {
    /// The value (seconds, for a duration).
    pub val: f64,
    /// Written as a duration (`5m`): printed back as one.
    pub duration: bool,
    /// Where the literal is (including an absorbed unary sign).
    pub pos: PosRange,
}

/// `( expr )`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParenExpr {
    /// The inner expression.
    pub expr: Box<Expr>,
    /// Where the parentheses are.
    pub pos: PosRange,
}

/// A string literal, unquoted.
#[derive(Debug, Clone, PartialEq)]
pub struct StringLiteral {
    /// The value, escapes resolved (lossily converted when `bytes` is set).
    pub val: String,
    /// The exact bytes, only when `\x`/octal escapes made them invalid UTF-8 (Prometheus
    /// reports such strings with Go's `%q`, e.g. `invalid label name "a\xc5z"`).
    pub bytes: Option<Vec<u8>>,
    /// Where the literal is (quotes included).
    pub pos: PosRange,
}

/// `-expr` / `+expr`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnaryExpr {
    /// The operator.
    pub op: UnaryOp,
    /// The operand.
    pub expr: Box<Expr>,
    /// Position of the operator.
    pub start_pos: usize,
}

/// A sub-tree that evaluates to the same value at every step (set by the engine only).
#[derive(Debug, Clone, PartialEq)]
pub struct StepInvariantExpr {
    /// The wrapped expression.
    pub expr: Box<Expr>,
}

/// `name{matchers} @ t offset d`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    /// The metric name written before the braces (empty if none).
    pub name: String,
    /// The label matchers; when `name` is set, its `__name__="name"` matcher comes last.
    pub matchers: Vec<Matcher>,
    /// The offset as written, in milliseconds (negative for `offset -5m`).
    pub original_offset_ms: i64,
    /// The offset when written as a duration expression.
    pub original_offset_expr: Option<Box<DurationExpr>>,
    /// The effective offset, in milliseconds: 0 from the parser; the engine sets it while
    /// preparing a query (original offset combined with `@` and enclosing subqueries).
    pub offset_ms: i64,
    /// `@ <timestamp>` in milliseconds (also filled by the engine for `@ start()`/`@ end()`).
    pub timestamp: Option<i64>,
    /// `@ start()` / `@ end()` as written.
    pub start_or_end: Option<AtModifierPreprocessor>,
    /// Set for the label-selector argument of `info()`, which need not have a matcher that
    /// rejects the empty string.
    pub bypass_empty_matcher_check: bool,
    /// `anchored` modifier.
    pub anchored: bool,
    /// `smoothed` modifier.
    pub smoothed: bool,
    /// Where the selector is, modifiers included.
    pub pos: PosRange,
}

impl Expr {
    /// The type the expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Aggregate(_) => ValueType::Vector,
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => c.func.return_type,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::NumberLiteral(_) | Expr::Duration(_) => ValueType::Scalar,
            Expr::Paren(p) => p.expr.value_type(),
            Expr::StringLiteral(_) => ValueType::String,
            Expr::Unary(u) => u.expr.value_type(),
            Expr::VectorSelector(_) => ValueType::Vector,
            Expr::StepInvariant(s) => s.expr.value_type(),
        }
    }

    /// Where the expression is in the query string.
    pub fn pos(&self) -> PosRange {
        match self {
            Expr::Aggregate(a) => a.pos,
            Expr::Binary(b) => PosRange::new(b.lhs.pos().start, b.rhs.pos().end),
            Expr::Call(c) => c.pos,
            Expr::MatrixSelector(m) => PosRange::new(m.vector_selector.pos.start, m.end_pos),
            Expr::Subquery(s) => PosRange::new(s.expr.pos().start, s.end_pos),
            Expr::NumberLiteral(n) => n.pos,
            Expr::Paren(p) => p.pos,
            Expr::StringLiteral(s) => s.pos,
            Expr::Unary(u) => PosRange::new(u.start_pos, u.expr.pos().end),
            Expr::VectorSelector(v) => v.pos,
            Expr::StepInvariant(s) => s.expr.pos(),
            Expr::Duration(d) => d.pos(),
        }
    }

    /// Calls `f` on each direct child, in query order.
    pub fn for_each_child<'a>(&'a self, mut f: impl FnMut(&'a Expr)) {
        match self {
            Expr::Aggregate(a) => {
                f(&a.expr);
                if let Some(p) = &a.param {
                    f(p);
                }
            }
            Expr::Binary(b) => {
                f(&b.lhs);
                f(&b.rhs);
            }
            Expr::Call(c) => c.args.iter().for_each(f),
            Expr::Subquery(s) => f(&s.expr),
            Expr::Paren(p) => f(&p.expr),
            Expr::Unary(u) => f(&u.expr),
            Expr::StepInvariant(s) => f(&s.expr),
            Expr::MatrixSelector(_)
            | Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_)
            | Expr::Duration(_) => {}
        }
    }

    /// Calls `f` on each direct child, mutably, in query order.
    pub fn for_each_child_mut(&mut self, mut f: impl FnMut(&mut Expr)) {
        match self {
            Expr::Aggregate(a) => {
                f(&mut a.expr);
                if let Some(p) = &mut a.param {
                    f(p);
                }
            }
            Expr::Binary(b) => {
                f(&mut b.lhs);
                f(&mut b.rhs);
            }
            Expr::Call(c) => c.args.iter_mut().for_each(f),
            Expr::Subquery(s) => f(&mut s.expr),
            Expr::Paren(p) => f(&mut p.expr),
            Expr::Unary(u) => f(&mut u.expr),
            Expr::StepInvariant(s) => f(&mut s.expr),
            Expr::MatrixSelector(_)
            | Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_)
            | Expr::Duration(_) => {}
        }
    }

    /// Visits the tree depth-first, parents before children. The path holds the ancestors of
    /// the visited node (outermost first). Returning `false` from `f` skips that node's
    /// children. The walk recurses as deep as the tree; parsed trees are depth-bounded.
    pub fn inspect<'a>(&'a self, f: &mut impl FnMut(&'a Expr, &[&'a Expr]) -> bool) {
        fn walk<'a>(
            e: &'a Expr,
            path: &mut Vec<&'a Expr>,
            f: &mut impl FnMut(&'a Expr, &[&'a Expr]) -> bool,
        ) {
            if !f(e, path) {
                return;
            }
            path.push(e);
            let mut children = Vec::new();
            e.for_each_child(|c| children.push(c));
            for c in children {
                walk(c, path, f);
            }
            path.pop();
        }
        walk(self, &mut Vec::new(), f);
    }

    /// The matchers of every vector selector in the tree (including those under range
    /// selectors), in query order: what the engine must fetch.
    pub fn selectors(&self) -> Vec<&VectorSelector> {
        let mut out = Vec::new();
        self.inspect(&mut |e, _| {
            match e {
                Expr::VectorSelector(v) => out.push(v),
                Expr::MatrixSelector(m) => out.push(&m.vector_selector),
                _ => {}
            }
            true
        });
        out
    }
}

impl DurationExpr {
    /// Where the expression is in the query string.
    pub fn pos(&self) -> PosRange {
        match (&self.lhs, &self.rhs) {
            (None, None) => PosRange::new(self.start_pos, self.end_pos),
            (Some(l), None) => PosRange::new(self.start_pos, l.pos().end),
            (None, Some(r)) => PosRange::new(self.start_pos, r.pos().end),
            (Some(l), Some(r)) => PosRange::new(l.pos().start, r.pos().end),
        }
    }
}

impl MatrixSelector {
    /// Where the expression is in the query string.
    pub fn pos(&self) -> PosRange {
        PosRange::new(self.vector_selector.pos.start, self.end_pos)
    }
}

impl SubqueryExpr {
    /// Where the expression is in the query string.
    pub fn pos(&self) -> PosRange {
        PosRange::new(self.expr.pos().start, self.end_pos)
    }
}
