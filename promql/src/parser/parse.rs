//! The recursive-descent parser with precedence climbing for binary operators.
//!
//! Prometheus generates its parser with yacc; this one is hand-written but follows the same
//! grammar and its conflict resolutions:
//! - binary operators by precedence (`or` < `and`/`unless` < comparisons and trims < `+ -` <
//!   `* / % atan2` < `^`), left-associative except `^`;
//! - unary `+`/`-` binds like `*`, so `-a ^ b` is `-(a ^ b)` and `-a * b` is `(-a) * b`;
//! - postfix modifiers (`[range]`, `[range:step]`, `offset`, `@`, `anchored`, `smoothed`) bind
//!   tighter than any operator;
//! - after `offset`, a literal, `step()`, `range()`, `min_of(..)`/`max_of(..)` (optionally
//!   signed) ends the offset, so `x offset 5m * 2` is `(x offset 5m) * 2`, while an unsigned
//!   parenthesised duration continues as duration arithmetic;
//! - keywords are valid metric names where an expression starts, unless they open an
//!   aggregation or a function call.
//!
//! The first error is returned, with Prometheus' message and position; type checking (see
//! `check`) runs only on a syntactically valid tree, as in Prometheus.

use tsdb_index::{MatchType, Matcher};

use super::check::check_ast;
use super::literals::{parse_duration_ms, parse_number, seconds_to_ms, unquote};
use super::{get_function, Options, ParseError};
use crate::ast::*;
use crate::lexer::{go_quote_str, Lexer, Token, TokenKind};

/// The deepest expression tree accepted. Prometheus has no limit; we bound it so that neither
/// the parser nor any recursive walk over the tree can exhaust the stack.
pub const MAX_DEPTH: usize = 400;

/// Parses a PromQL expression with the default (Prometheus 3.14) options.
///
/// ```
/// let e = promql::parser::parse("sum by (job) (rate(http_requests_total[5m]))").unwrap();
/// assert_eq!(e.to_string(), "sum by (job) (rate(http_requests_total[5m]))");
/// ```
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    parse_with(input, Options::default())
}

/// Parses and type-checks a PromQL expression.
pub fn parse_with(input: &str, opts: Options) -> Result<Expr, ParseError> {
    let mut p = Parser::new(input, opts)?;
    if p.tok.kind == TokenKind::Eof {
        return Err(ParseError::new(
            input,
            PosRange::default(),
            "no expression found in input",
        ));
    }
    let mut expr = p.parse_expr(0)?;
    if p.tok.kind != TokenKind::Eof {
        return Err(p.unexpected("", ""));
    }
    check_ast(input, &mut expr)?;
    Ok(expr)
}

/// Parses a series selector (`up{job="x"}`, as in the HTTP API's `match[]`) to its matchers.
pub fn parse_metric_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    let mut p = Parser::new(input, Options::default())?;
    let vs = match p.tok.kind {
        TokenKind::LeftBrace => p.parse_vector_selector(None)?,
        k if is_metric_identifier(k) => {
            let name = p.bump()?;
            p.parse_vector_selector(Some(name))?
        }
        _ => return Err(p.unexpected("", "")),
    };
    if p.tok.kind != TokenKind::Eof {
        return Err(p.unexpected("", ""));
    }
    Ok(vs.matchers)
}

/// Tokens that may serve as a metric name (Prometheus' `metric_identifier`).
fn is_metric_identifier(k: TokenKind) -> bool {
    use TokenKind::*;
    matches!(
        k,
        Avg | Bottomk
            | By
            | Count
            | CountValues
            | Fill
            | FillLeft
            | FillRight
            | Group
            | Identifier
            | Land
            | Lor
            | Lunless
            | Max
            | MetricIdentifier
            | Min
            | Offset
            | Quantile
            | Stddev
            | Stdvar
            | Sum
            | Topk
            | Without
            | Start
            | End
            | Limitk
            | LimitRatio
            | Step
            | Range
            | Anchored
            | Smoothed
            | MaxOf
            | MinOf
    )
}

/// Tokens that may serve as a label name in a grouping list (Prometheus' `maybe_label`).
fn is_maybe_label(k: TokenKind) -> bool {
    use TokenKind::*;
    (is_metric_identifier(k) && k != Without)
        || matches!(k, Bool | GroupLeft | GroupRight | Ignoring | On | Atan2)
}

fn aggregate_op(k: TokenKind) -> Option<AggregateOp> {
    use TokenKind::*;
    Some(match k {
        Sum => AggregateOp::Sum,
        Avg => AggregateOp::Avg,
        Count => AggregateOp::Count,
        Min => AggregateOp::Min,
        Max => AggregateOp::Max,
        Group => AggregateOp::Group,
        Stddev => AggregateOp::Stddev,
        Stdvar => AggregateOp::Stdvar,
        Topk => AggregateOp::Topk,
        Bottomk => AggregateOp::Bottomk,
        CountValues => AggregateOp::CountValues,
        Quantile => AggregateOp::Quantile,
        Limitk => AggregateOp::Limitk,
        LimitRatio => AggregateOp::LimitRatio,
        _ => return None,
    })
}

fn binary_op(k: TokenKind) -> Option<BinaryOp> {
    use TokenKind::*;
    Some(match k {
        Add => BinaryOp::Add,
        Sub => BinaryOp::Sub,
        Mul => BinaryOp::Mul,
        Div => BinaryOp::Div,
        Mod => BinaryOp::Mod,
        Pow => BinaryOp::Pow,
        Atan2 => BinaryOp::Atan2,
        Eqlc => BinaryOp::Eql,
        Neq => BinaryOp::Neq,
        Lss => BinaryOp::Lss,
        Gtr => BinaryOp::Gtr,
        Lte => BinaryOp::Lte,
        Gte => BinaryOp::Gte,
        TrimUpper => BinaryOp::TrimUpper,
        TrimLower => BinaryOp::TrimLower,
        Land => BinaryOp::And,
        Lor => BinaryOp::Or,
        Lunless => BinaryOp::Unless,
        _ => return None,
    })
}

fn duration_op(k: TokenKind) -> Option<(DurationOp, u8)> {
    use TokenKind::*;
    Some(match k {
        Add => (DurationOp::Add, 4),
        Sub => (DurationOp::Sub, 4),
        Mul => (DurationOp::Mul, 5),
        Div => (DurationOp::Div, 5),
        Mod => (DurationOp::Mod, 5),
        Pow => (DurationOp::Pow, 6),
        _ => return None,
    })
}

/// The precedence of unary operators (that of `*`): their operand absorbs only `^`.
const UNARY_OPERAND_PREC: u8 = 6;

/// `|val|` beyond which a duration in seconds does not fit Go's `time.Duration`.
fn duration_out_of_range(secs: f64) -> bool {
    secs.abs() > (1u64 << 63) as f64 / 1e9
}

struct Parser<'a> {
    input: &'a str,
    lex: Lexer<'a>,
    /// The current token (the lookahead).
    tok: Token,
    /// A second token of lookahead, fetched on demand.
    peeked: Option<Token>,
    /// End of the last consumed token.
    last_end: usize,
    opts: Options,
    /// Depth of the tree under construction at the current position.
    depth: usize,
    /// Enclosing constructs that have their own "unexpected ... in <context>" message, as
    /// the error productions of Prometheus' grammar: the innermost one names a syntax error
    /// that has no more specific message.
    contexts: Vec<(&'static str, &'static str)>,
}

type PResult<T> = Result<T, ParseError>;

impl<'a> Parser<'a> {
    fn new(input: &'a str, opts: Options) -> PResult<Self> {
        let mut p = Parser {
            input,
            lex: Lexer::new(input),
            tok: Token {
                kind: TokenKind::Eof,
                start: 0,
                end: 0,
            },
            peeked: None,
            last_end: 0,
            opts,
            depth: 0,
            contexts: Vec::new(),
        };
        p.tok = p.fetch()?;
        Ok(p)
    }

    fn err(&self, pos: PosRange, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.input, pos, msg)
    }

    fn tok_pos(&self, t: Token) -> PosRange {
        PosRange::new(t.start, t.end)
    }

    /// Reads the next non-comment token from the lexer; a lexical error becomes a parse error
    /// spanning from the bad token to the end of the input, as in Prometheus.
    fn fetch(&mut self) -> PResult<Token> {
        loop {
            let t = self.lex.next_token();
            match t.kind {
                TokenKind::Comment => continue,
                TokenKind::Error => {
                    return Err(self.err(
                        PosRange::new(t.start, self.input.len()),
                        self.lex.error_message().to_string(),
                    ))
                }
                _ => return Ok(t),
            }
        }
    }

    /// Consumes the current token and returns it.
    fn bump(&mut self) -> PResult<Token> {
        let t = self.tok;
        self.last_end = t.end;
        self.tok = match self.peeked.take() {
            Some(p) => p,
            None => self.fetch()?,
        };
        Ok(t)
    }

    /// The token after the current one.
    fn peek2(&mut self) -> PResult<Token> {
        if let Some(t) = self.peeked {
            return Ok(t);
        }
        let t = self.fetch()?;
        self.peeked = Some(t);
        Ok(t)
    }

    fn text(&self, t: Token) -> &'a str {
        t.text(self.input)
    }

    /// Prometheus' "unexpected <token>[ in <context>][, expected <what>]" at the current token.
    fn unexpected(&self, context: &str, expected: &str) -> ParseError {
        let (context, expected) = match self.contexts.last() {
            Some(&(c, e)) if context.is_empty() && expected.is_empty() => (c, e),
            _ => (context, expected),
        };
        let mut msg = format!("unexpected {}", self.tok.describe(self.input));
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        self.err(self.tok_pos(self.tok), msg)
    }

    fn expect(&mut self, kind: TokenKind, context: &str, expected: &str) -> PResult<Token> {
        if self.tok.kind != kind {
            return Err(self.unexpected(context, expected));
        }
        self.bump()
    }

    fn deeper(&mut self, by: usize) -> PResult<()> {
        self.depth += by;
        if self.depth > MAX_DEPTH {
            return Err(self.err(
                self.tok_pos(self.tok),
                format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    // ---- expressions ----

    fn parse_expr(&mut self, min_prec: u8) -> PResult<Expr> {
        let saved = self.depth;
        self.deeper(1)?;
        let mut lhs = self.parse_unary()?;
        while let Some(op) = binary_op(self.tok.kind) {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.bump()?;
            let matching = self.parse_bin_modifiers()?;
            self.deeper(1)?;
            let next = if op.is_right_associative() {
                prec
            } else {
                prec + 1
            };
            let rhs = self.parse_expr(next)?;
            let (vector_matching, return_bool) = matching;
            let b = BinaryExpr {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                vector_matching: Some(vector_matching),
                return_bool,
            };
            let has_fill = b
                .vector_matching
                .as_ref()
                .is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some());
            lhs = Expr::Binary(b);
            if has_fill && !self.opts.enable_binop_fill_modifiers {
                return Err(self.err(
                    lhs.pos(),
                    "binop fill modifiers are experimental and not enabled",
                ));
            }
        }
        self.depth = saved;
        Ok(lhs)
    }

    fn parse_unary(&mut self) -> PResult<Expr> {
        let op = match self.tok.kind {
            TokenKind::Add => UnaryOp::Add,
            TokenKind::Sub => UnaryOp::Sub,
            _ => {
                let primary = self.parse_primary()?;
                return self.parse_postfix(primary);
            }
        };
        let op_tok = self.bump()?;
        let operand = self.parse_expr(UNARY_OPERAND_PREC)?;
        Ok(match operand {
            Expr::NumberLiteral(mut n) => {
                if op == UnaryOp::Sub {
                    n.val = -n.val;
                }
                n.pos.start = op_tok.start;
                Expr::NumberLiteral(n)
            }
            other => Expr::Unary(UnaryExpr {
                op,
                expr: Box::new(other),
                start_pos: op_tok.start,
            }),
        })
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        use TokenKind as K;
        let t = self.tok;
        match t.kind {
            K::Number | K::Duration => {
                self.bump()?;
                Ok(Expr::NumberLiteral(self.number_literal(t)?))
            }
            K::String => {
                self.bump()?;
                Ok(Expr::StringLiteral(self.string_literal(t)?))
            }
            K::LeftParen => {
                self.bump()?;
                let inner = self.parse_expr(0)?;
                let close = self.expect(K::RightParen, "", "")?;
                Ok(Expr::Paren(ParenExpr {
                    expr: Box::new(inner),
                    pos: PosRange::new(t.start, close.end),
                }))
            }
            K::LeftBrace => Ok(Expr::VectorSelector(self.parse_vector_selector(None)?)),
            k if aggregate_op(k).is_some()
                && matches!(self.peek2()?.kind, K::LeftParen | K::By | K::Without) =>
            {
                self.parse_aggregate()
            }
            K::Identifier | K::Start | K::End | K::Step | K::Range | K::MaxOf | K::MinOf
                if self.peek2()?.kind == K::LeftParen =>
            {
                self.parse_call()
            }
            k if is_metric_identifier(k) => {
                self.bump()?;
                Ok(Expr::VectorSelector(self.parse_vector_selector(Some(t))?))
            }
            _ => Err(self.unexpected("", "")),
        }
    }

    fn number_literal(&self, t: Token) -> PResult<NumberLiteral> {
        let text = self.text(t);
        let pos = self.tok_pos(t);
        if t.kind == TokenKind::Duration {
            let ms = parse_duration_ms(text).map_err(|e| self.err(pos, e))?;
            return Ok(NumberLiteral {
                val: ms as f64 / 1000.0,
                duration: true,
                pos,
            });
        }
        let val =
            parse_number(text).map_err(|e| self.err(pos, format!("error parsing number: {e}")))?;
        Ok(NumberLiteral {
            val,
            duration: false,
            pos,
        })
    }

    fn unquote_token(&self, t: Token) -> PResult<Vec<u8>> {
        let text = self.text(t);
        unquote(text).map_err(|e| {
            self.err(
                self.tok_pos(t),
                format!("error unquoting string {}: {e}", go_quote_str(text)),
            )
        })
    }

    fn string_literal(&self, t: Token) -> PResult<StringLiteral> {
        let bytes = self.unquote_token(t)?;
        let (val, bytes) = match String::from_utf8(bytes) {
            Ok(s) => (s, None),
            Err(e) => {
                let b = e.into_bytes();
                (String::from_utf8_lossy(&b).into_owned(), Some(b))
            }
        };
        Ok(StringLiteral {
            val,
            bytes,
            pos: self.tok_pos(t),
        })
    }

    fn unquote_utf8(&self, t: Token) -> PResult<String> {
        let b = self.unquote_token(t)?;
        Ok(match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    // ---- binary operator modifiers ----

    fn parse_bin_modifiers(&mut self) -> PResult<(VectorMatching, bool)> {
        use TokenKind as K;
        let mut vm = VectorMatching {
            card: VectorMatchCardinality::OneToOne,
            matching_labels: Vec::new(),
            on: false,
            include: Vec::new(),
            fill_values: VectorMatchFillValues::default(),
        };
        let mut return_bool = false;
        if self.tok.kind == K::Bool {
            self.bump()?;
            return_bool = true;
        }
        if matches!(self.tok.kind, K::On | K::Ignoring) {
            vm.on = self.bump()?.kind == K::On;
            vm.matching_labels = self.parse_grouping_labels()?;
            if matches!(self.tok.kind, K::GroupLeft | K::GroupRight) {
                vm.card = if self.bump()?.kind == K::GroupLeft {
                    VectorMatchCardinality::ManyToOne
                } else {
                    VectorMatchCardinality::OneToMany
                };
                if self.tok.kind == K::LeftParen {
                    vm.include = self.parse_grouping_labels()?;
                }
            }
        }
        match self.tok.kind {
            K::Fill => {
                self.bump()?;
                let v = self.parse_fill_value()?;
                vm.fill_values.lhs = Some(v);
                vm.fill_values.rhs = Some(v);
            }
            K::FillLeft => {
                self.bump()?;
                vm.fill_values.lhs = Some(self.parse_fill_value()?);
                if self.tok.kind == K::FillRight {
                    self.bump()?;
                    vm.fill_values.rhs = Some(self.parse_fill_value()?);
                }
            }
            K::FillRight => {
                self.bump()?;
                vm.fill_values.rhs = Some(self.parse_fill_value()?);
                if self.tok.kind == K::FillLeft {
                    self.bump()?;
                    vm.fill_values.lhs = Some(self.parse_fill_value()?);
                }
            }
            _ => {}
        }
        Ok((vm, return_bool))
    }

    fn parse_fill_value(&mut self) -> PResult<f64> {
        use TokenKind as K;
        self.expect(K::LeftParen, "", "")?;
        let negate = match self.tok.kind {
            K::Sub => {
                self.bump()?;
                true
            }
            K::Add => {
                self.bump()?;
                false
            }
            _ => false,
        };
        if !matches!(self.tok.kind, K::Number | K::Duration) {
            return Err(self.unexpected("", ""));
        }
        let t = self.bump()?;
        let n = self.number_literal(t)?;
        self.expect(K::RightParen, "", "")?;
        Ok(if negate { -n.val } else { n.val })
    }

    /// `( label, ... )` after `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`.
    fn parse_grouping_labels(&mut self) -> PResult<Vec<String>> {
        use TokenKind as K;
        if self.tok.kind != K::LeftParen {
            return Err(self.unexpected("grouping opts", "\"(\""));
        }
        self.bump()?;
        let mut labels = Vec::new();
        if self.tok.kind == K::RightParen {
            self.bump()?;
            return Ok(labels);
        }
        loop {
            let t = self.tok;
            let name = if t.kind == K::String {
                self.bump()?;
                let name = self.unquote_utf8(t)?;
                if name.is_empty() {
                    return Err(self.err(
                        self.tok_pos(t),
                        format!("invalid label name for grouping: {}", go_quote_str(&name)),
                    ));
                }
                name
            } else if is_maybe_label(t.kind) {
                self.bump()?;
                self.text(t).to_string()
            } else {
                return Err(self.unexpected("grouping opts", "label"));
            };
            labels.push(name);
            match self.tok.kind {
                K::Comma => {
                    self.bump()?;
                    if self.tok.kind == K::RightParen {
                        self.bump()?;
                        return Ok(labels);
                    }
                }
                K::RightParen => {
                    self.bump()?;
                    return Ok(labels);
                }
                _ => return Err(self.unexpected("grouping opts", "\",\" or \")\"")),
            }
        }
    }

    // ---- aggregations and calls ----

    /// `( arg, ... )`.
    fn parse_call_args(&mut self) -> PResult<Vec<Expr>> {
        use TokenKind as K;
        self.expect(K::LeftParen, "", "")?;
        let mut args = Vec::new();
        if self.tok.kind == K::RightParen {
            self.bump()?;
            return Ok(args);
        }
        loop {
            args.push(self.parse_expr(0)?);
            match self.tok.kind {
                K::Comma => {
                    let comma = self.bump()?;
                    if self.tok.kind == K::RightParen {
                        return Err(self.err(
                            self.tok_pos(comma),
                            "trailing commas not allowed in function call args",
                        ));
                    }
                }
                K::RightParen => {
                    self.bump()?;
                    return Ok(args);
                }
                _ => return Err(self.unexpected("", "")),
            }
        }
    }

    fn parse_aggregate(&mut self) -> PResult<Expr> {
        use TokenKind as K;
        let op_tok = self.bump()?;
        let op = aggregate_op(op_tok.kind).expect("caller checked the token");
        self.contexts.push(("aggregation", ""));
        let mut grouping = Vec::new();
        let mut without = false;
        let args = if matches!(self.tok.kind, K::By | K::Without) {
            without = self.bump()?.kind == K::Without;
            grouping = self.parse_grouping_labels()?;
            if self.tok.kind != K::LeftParen {
                return Err(self.unexpected("aggregation", ""));
            }
            self.parse_call_args()?
        } else {
            let args = self.parse_call_args()?;
            if matches!(self.tok.kind, K::By | K::Without) {
                without = self.bump()?.kind == K::Without;
                grouping = self.parse_grouping_labels()?;
            }
            args
        };
        self.contexts.pop();
        let pos = PosRange::new(op_tok.start, self.last_end);
        if args.is_empty() {
            return Err(self.err(pos, "no arguments for aggregate expression provided"));
        }
        let mut desired = 1;
        if op.has_param() {
            if !self.opts.enable_experimental_functions && op.is_experimental() {
                return Err(self.err(
                    pos,
                    format!(
                        "{op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
                    ),
                ));
            }
            desired = 2;
        }
        if args.len() != desired {
            return Err(self.err(
                pos,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {desired}, got {}",
                    args.len()
                ),
            ));
        }
        let mut args = args.into_iter();
        let param = if desired == 2 {
            args.next().map(Box::new)
        } else {
            None
        };
        let expr = Box::new(args.next().expect("argument count checked"));
        Ok(Expr::Aggregate(AggregateExpr {
            op,
            expr,
            param,
            grouping,
            without,
            pos,
        }))
    }

    fn parse_call(&mut self) -> PResult<Expr> {
        let name_tok = self.bump()?;
        let args = self.parse_call_args()?;
        let name = self.text(name_tok);
        let name_pos = self.tok_pos(name_tok);
        let Some(func) = get_function(name) else {
            return Err(self.err(
                name_pos,
                format!("unknown function with name {}", go_quote_str(name)),
            ));
        };
        if func.experimental && !self.opts.enable_experimental_functions {
            return Err(self.err(
                name_pos,
                format!("function {} is not enabled", go_quote_str(name)),
            ));
        }
        Ok(Expr::Call(Call {
            func,
            args,
            pos: PosRange::new(name_tok.start, self.last_end),
        }))
    }

    // ---- selectors ----

    /// A selector after its optional name token: `{matchers}` if present.
    fn parse_vector_selector(&mut self, name: Option<Token>) -> PResult<VectorSelector> {
        use TokenKind as K;
        let mut matchers = Vec::new();
        let start = name.map_or(self.tok.start, |t| t.start);
        let mut end = name.map_or(0, |t| t.end);
        if self.tok.kind == K::LeftBrace {
            self.bump()?;
            if self.tok.kind != K::RightBrace {
                loop {
                    matchers.push(self.parse_label_matcher()?);
                    match self.tok.kind {
                        K::Comma => {
                            self.bump()?;
                            if self.tok.kind == K::RightBrace {
                                break;
                            }
                        }
                        K::RightBrace => break,
                        _ => return Err(self.unexpected("label matching", "\",\" or \"}\"")),
                    }
                }
            }
            end = self
                .expect(K::RightBrace, "label matching", "\",\" or \"}\"")?
                .end;
        }
        let name = name.map(|t| self.text(t).to_string()).unwrap_or_default();
        if !name.is_empty() {
            matchers.push(Matcher::equal("__name__", name.clone()));
        }
        Ok(VectorSelector {
            name,
            matchers,
            original_offset_ms: 0,
            original_offset_expr: None,
            offset_ms: 0,
            timestamp: None,
            start_or_end: None,
            bypass_empty_matcher_check: false,
            anchored: false,
            smoothed: false,
            pos: PosRange::new(start, end),
        })
    }

    fn parse_label_matcher(&mut self) -> PResult<Matcher> {
        use TokenKind as K;
        let label = self.tok;
        let name = match label.kind {
            K::Identifier => {
                self.bump()?;
                if !matches!(self.tok.kind, K::Eql | K::Neq | K::EqlRegex | K::NeqRegex) {
                    return Err(self.unexpected("label matching", "label matching operator"));
                }
                self.text(label).to_string()
            }
            K::String => {
                self.bump()?;
                let name = self.unquote_utf8(label)?;
                if !matches!(self.tok.kind, K::Eql | K::Neq | K::EqlRegex | K::NeqRegex) {
                    // A lone string is the metric name.
                    return Ok(Matcher::equal("__name__", name));
                }
                name
            }
            _ => return Err(self.unexpected("label matching", "identifier or \"}\"")),
        };
        let kind = match self.bump()?.kind {
            K::Eql => MatchType::Equal,
            K::Neq => MatchType::NotEqual,
            K::EqlRegex => MatchType::Regexp,
            _ => MatchType::NotRegexp,
        };
        if self.tok.kind != K::String {
            return Err(self.unexpected("label matching", "string"));
        }
        let value_tok = self.bump()?;
        let value = self.unquote_utf8(value_tok)?;
        Matcher::new(kind, name, value)
            .map_err(|e| self.err(PosRange::new(label.start, value_tok.end), e.to_string()))
    }

    // ---- postfix modifiers ----

    fn parse_postfix(&mut self, mut expr: Expr) -> PResult<Expr> {
        use TokenKind as K;
        let saved = self.depth;
        loop {
            expr = match self.tok.kind {
                K::LeftBracket => {
                    self.deeper(1)?;
                    self.parse_range_or_subquery(expr)?
                }
                K::Offset => self.parse_offset(expr)?,
                K::At => self.parse_at(expr)?,
                K::Anchored | K::Smoothed => {
                    let t = self.bump()?;
                    self.set_extended_modifier(expr, t.kind == K::Anchored)?
                }
                _ => break,
            };
        }
        self.depth = saved;
        Ok(expr)
    }

    fn parse_range_or_subquery(&mut self, expr: Expr) -> PResult<Expr> {
        use TokenKind as K;
        let open = self.bump()?;
        if !starts_duration_expr(self.tok.kind) {
            return Err(self.unexpected(
                "subquery or range selector",
                "number, duration, step(), or range()",
            ));
        }
        const RANGE_CTX: (&str, &str) = (
            "subquery or range selector",
            "number, duration, step(), or range()",
        );
        self.contexts.push(RANGE_CTX);
        let range = self.parse_positive_duration()?;
        self.contexts.pop();
        match self.tok.kind {
            K::RightBracket => {
                let close = self.bump()?;
                let msg = match &expr {
                    Expr::VectorSelector(vs) => {
                        if vs.original_offset_ms != 0 || vs.original_offset_expr.is_some() {
                            Some("no offset modifiers allowed before range")
                        } else if vs.timestamp.is_some() || vs.start_or_end.is_some() {
                            Some("no @ modifiers allowed before range")
                        } else {
                            None
                        }
                    }
                    _ => Some("ranges only allowed for vector selectors"),
                };
                if let Some(msg) = msg {
                    return Err(self.err(PosRange::new(open.start, close.end), msg));
                }
                let Expr::VectorSelector(vs) = expr else {
                    unreachable!("checked above")
                };
                let (range_ms, range_expr) = split_duration(range);
                Ok(Expr::MatrixSelector(MatrixSelector {
                    vector_selector: vs,
                    range_ms,
                    range_expr,
                    end_pos: close.end,
                }))
            }
            K::Colon => {
                self.bump()?;
                let (step_ms, step_expr) = if self.tok.kind == K::RightBracket {
                    (0, None)
                } else {
                    if !starts_duration_expr(self.tok.kind) {
                        return Err(self.unexpected(
                            "subquery selector",
                            "number, duration, step(), range(), or \"]\"",
                        ));
                    }
                    self.contexts.push((
                        "subquery selector",
                        "number, duration, step(), range(), or \"]\"",
                    ));
                    let step = self.parse_positive_duration()?;
                    self.contexts.pop();
                    split_duration(step)
                };
                let close = self.expect(K::RightBracket, "subquery selector", "\"]\"")?;
                let (range_ms, range_expr) = split_duration(range);
                Ok(Expr::Subquery(SubqueryExpr {
                    expr: Box::new(expr),
                    range_ms,
                    range_expr,
                    original_offset_ms: 0,
                    original_offset_expr: None,
                    offset_ms: 0,
                    timestamp: None,
                    start_or_end: None,
                    step_ms,
                    step_expr,
                    end_pos: close.end,
                }))
            }
            _ => Err(self.unexpected("subquery or range", "\":\" or \"]\"")),
        }
    }

    /// A duration expression that must be positive when it is a plain literal.
    fn parse_positive_duration(&mut self) -> PResult<Expr> {
        let e = self.parse_duration_expr(0)?;
        if let Expr::NumberLiteral(n) = &e {
            if n.val <= 0.0 || n.val.is_nan() {
                return Err(self.err(n.pos, "duration must be greater than 0"));
            }
        }
        Ok(e)
    }

    fn parse_offset(&mut self, expr: Expr) -> PResult<Expr> {
        use TokenKind as K;
        self.bump()?;
        self.contexts
            .push(("offset", "number, duration, step(), or range()"));
        let sign = match self.tok.kind {
            K::Add | K::Sub => Some(self.bump()?),
            _ => None,
        };
        let value: Expr = match self.tok.kind {
            K::Number | K::Duration => {
                let t = self.bump()?;
                let mut n = self.number_literal(t)?;
                if let Some(s) = sign {
                    if s.kind == K::Sub {
                        n.val = -n.val;
                    }
                    if duration_out_of_range(n.val) {
                        return Err(self.err(self.tok_pos(s), "duration out of range"));
                    }
                    n.pos.start = s.start;
                } else if duration_out_of_range(n.val) {
                    return Err(self.err(n.pos, "duration out of range"));
                }
                Expr::NumberLiteral(n)
            }
            K::Step | K::Range => {
                let de = self.parse_step_or_range()?;
                let de = match sign {
                    Some(s) => DurationExpr {
                        op: sign_op(s.kind),
                        lhs: None,
                        rhs: Some(Box::new(Expr::Duration(de))),
                        wrapped: false,
                        start_pos: s.start,
                        end_pos: 0,
                    },
                    None => de,
                };
                self.experimental_duration(de.pos())?;
                Expr::Duration(de)
            }
            K::MaxOf | K::MinOf => {
                let de = self.parse_min_max_of()?;
                let de = match sign {
                    Some(s) => DurationExpr {
                        op: sign_op(s.kind),
                        lhs: None,
                        end_pos: de.rhs.as_ref().map_or(de.end_pos, |r| r.pos().end),
                        rhs: Some(Box::new(Expr::Duration(de))),
                        wrapped: false,
                        start_pos: s.start,
                    },
                    None => de,
                };
                self.experimental_duration(de.pos())?;
                Expr::Duration(de)
            }
            K::LeftParen if sign.is_some() => {
                let s = sign.expect("guarded");
                self.bump()?;
                let inner = self.parse_duration_expr(0)?;
                self.expect(K::RightParen, "", "")?;
                self.apply_unary_to_duration(s, inner, true)?
            }
            K::LeftParen | K::Add | K::Sub => {
                // A parenthesised (or doubly signed) duration expression: it continues with
                // duration arithmetic, as the generated parser shifts in that state.
                let first = match sign {
                    Some(s) => {
                        let operand = self.parse_duration_expr(UNARY_OPERAND_PREC)?;
                        self.apply_unary_to_duration(s, operand, false)?
                    }
                    None => self.parse_duration_primary()?,
                };
                self.continue_duration_expr(first, 0)?
            }
            _ => {
                return Err(self.unexpected("offset", "number, duration, step(), or range()"));
            }
        };
        self.contexts.pop();
        match value {
            Expr::NumberLiteral(n) => self.add_offset(expr, seconds_to_ms(n.val), None),
            Expr::Duration(d) => self.add_offset(expr, 0, Some(Box::new(d))),
            _ => unreachable!("duration expressions are literals or DurationExpr"),
        }
    }

    fn add_offset(
        &mut self,
        mut expr: Expr,
        ms: i64,
        de: Option<Box<DurationExpr>>,
    ) -> PResult<Expr> {
        let end = self.last_end;
        let pos = expr.pos();
        let (orig, orig_expr, end_pos) = match &mut expr {
            Expr::VectorSelector(vs) => (
                &mut vs.original_offset_ms,
                &mut vs.original_offset_expr,
                &mut vs.pos.end,
            ),
            Expr::MatrixSelector(m) => (
                &mut m.vector_selector.original_offset_ms,
                &mut m.vector_selector.original_offset_expr,
                &mut m.end_pos,
            ),
            Expr::Subquery(s) => (
                &mut s.original_offset_ms,
                &mut s.original_offset_expr,
                &mut s.end_pos,
            ),
            _ => {
                return Err(self.err(
                    pos,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if *orig != 0 || orig_expr.is_some() {
            return Err(self.err(pos, "offset may not be set multiple times"));
        }
        *orig = ms;
        *orig_expr = de;
        *end_pos = end;
        Ok(expr)
    }

    fn parse_at(&mut self, mut expr: Expr) -> PResult<Expr> {
        use TokenKind as K;
        self.bump()?;
        enum At {
            Ts(f64),
            Pre(AtModifierPreprocessor),
        }
        self.contexts.push(("@", "timestamp"));
        let at = match self.tok.kind {
            K::Start | K::End => {
                let t = self.bump()?;
                if self.tok.kind != K::LeftParen {
                    return Err(self.unexpected("@", "timestamp"));
                }
                self.bump()?;
                if self.tok.kind != K::RightParen {
                    return Err(self.unexpected("@", "timestamp"));
                }
                self.bump()?;
                At::Pre(if t.kind == K::Start {
                    AtModifierPreprocessor::Start
                } else {
                    AtModifierPreprocessor::End
                })
            }
            K::Add | K::Sub | K::Number | K::Duration => {
                let negate = match self.tok.kind {
                    K::Sub => {
                        self.bump()?;
                        true
                    }
                    K::Add => {
                        self.bump()?;
                        false
                    }
                    _ => false,
                };
                if !matches!(self.tok.kind, K::Number | K::Duration) {
                    return Err(self.unexpected("@", "timestamp"));
                }
                let t = self.bump()?;
                let v = self.number_literal(t)?.val;
                At::Ts(if negate { -v } else { v })
            }
            _ => return Err(self.unexpected("@", "timestamp")),
        };
        self.contexts.pop();
        let pos = expr.pos();
        if let At::Ts(ts) = at {
            if !ts.is_finite() || ts >= i64::MAX as f64 || ts <= i64::MIN as f64 {
                return Err(self.err(
                    pos,
                    format!("timestamp out of bounds for @ modifier: {}", go_float_f(ts)),
                ));
            }
        }
        let end = self.last_end;
        let (timestamp, start_or_end, end_pos) = match &mut expr {
            Expr::VectorSelector(vs) => (&mut vs.timestamp, &mut vs.start_or_end, &mut vs.pos.end),
            Expr::MatrixSelector(m) => (
                &mut m.vector_selector.timestamp,
                &mut m.vector_selector.start_or_end,
                &mut m.end_pos,
            ),
            Expr::Subquery(s) => (&mut s.timestamp, &mut s.start_or_end, &mut s.end_pos),
            _ => {
                return Err(self.err(
                    pos,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if timestamp.is_some() || start_or_end.is_some() {
            return Err(self.err(pos, "@ <timestamp> may not be set multiple times"));
        }
        match at {
            // Prometheus' timestamp.FromFloatSeconds.
            At::Ts(ts) => *timestamp = Some((ts * 1000.0).round() as i64),
            At::Pre(p) => *start_or_end = Some(p),
        }
        *end_pos = end;
        Ok(expr)
    }

    fn set_extended_modifier(&mut self, mut expr: Expr, anchored: bool) -> PResult<Expr> {
        let name = if anchored { "anchored" } else { "smoothed" };
        let pos = expr.pos();
        if !self.opts.enable_extended_range_selectors {
            return Err(self.err(
                pos,
                format!("{name} modifier is experimental and not enabled"),
            ));
        }
        let vs = match &mut expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(m) => &mut m.vector_selector,
            Expr::Subquery(_) => {
                return Err(self.err(
                    pos,
                    format!("{name} modifier is not supported for subqueries"),
                ))
            }
            _ => return Err(self.err(pos, format!("{name} modifier not implemented"))),
        };
        if anchored {
            vs.anchored = true;
        } else {
            vs.smoothed = true;
        }
        if vs.anchored && vs.smoothed {
            return Err(self.err(
                pos,
                "anchored and smoothed modifiers cannot be used together",
            ));
        }
        Ok(expr)
    }

    // ---- duration expressions ----

    fn experimental_duration(&self, pos: PosRange) -> PResult<()> {
        if !self.opts.experimental_duration_expr {
            return Err(self.err(pos, "experimental duration expression is not enabled"));
        }
        Ok(())
    }

    fn parse_duration_expr(&mut self, min_prec: u8) -> PResult<Expr> {
        let saved = self.depth;
        self.deeper(1)?;
        let lhs = self.parse_duration_primary()?;
        let e = self.continue_duration_expr(lhs, min_prec)?;
        self.depth = saved;
        Ok(e)
    }

    fn continue_duration_expr(&mut self, mut lhs: Expr, min_prec: u8) -> PResult<Expr> {
        let saved = self.depth;
        while let Some((op, prec)) = duration_op(self.tok.kind) {
            if prec < min_prec {
                break;
            }
            let op_tok = self.bump()?;
            self.deeper(1)?;
            let next = if op == DurationOp::Pow {
                prec
            } else {
                prec + 1
            };
            let rhs = self.parse_duration_expr(next)?;
            self.experimental_duration(lhs.pos())?;
            if matches!(op, DurationOp::Div | DurationOp::Mod) {
                if let Expr::NumberLiteral(n) = &rhs {
                    if n.val == 0.0 {
                        let what = if op == DurationOp::Div {
                            "division by zero"
                        } else {
                            "modulo by zero"
                        };
                        return Err(self.err(self.tok_pos(op_tok), what));
                    }
                }
            }
            lhs = Expr::Duration(DurationExpr {
                op,
                lhs: Some(Box::new(lhs)),
                rhs: Some(Box::new(rhs)),
                wrapped: false,
                start_pos: 0,
                end_pos: 0,
            });
        }
        self.depth = saved;
        Ok(lhs)
    }

    fn parse_duration_primary(&mut self) -> PResult<Expr> {
        use TokenKind as K;
        match self.tok.kind {
            K::Number | K::Duration => {
                let t = self.bump()?;
                let n = self.number_literal(t)?;
                if duration_out_of_range(n.val) {
                    return Err(self.err(n.pos, "duration out of range"));
                }
                Ok(Expr::NumberLiteral(n))
            }
            K::Add | K::Sub => {
                let s = self.bump()?;
                let operand = self.parse_duration_expr(UNARY_OPERAND_PREC)?;
                self.apply_unary_to_duration(s, operand, false)
            }
            K::Step | K::Range => {
                let de = self.parse_step_or_range()?;
                self.experimental_duration(de.pos())?;
                Ok(Expr::Duration(de))
            }
            K::MaxOf | K::MinOf => {
                let de = self.parse_min_max_of()?;
                self.experimental_duration(de.pos())?;
                Ok(Expr::Duration(de))
            }
            K::LeftParen => {
                let open = self.bump()?;
                let inner = self.parse_duration_expr(0)?;
                let close = self.expect(K::RightParen, "", "")?;
                self.experimental_duration(inner.pos())?;
                Ok(Expr::Duration(wrap_paren_duration(
                    inner, open.start, close.end,
                )))
            }
            _ => Err(self.unexpected("", "")),
        }
    }

    fn parse_step_or_range(&mut self) -> PResult<DurationExpr> {
        let t = self.bump()?;
        self.expect(TokenKind::LeftParen, "", "")?;
        let close = self.expect(TokenKind::RightParen, "", "")?;
        Ok(DurationExpr {
            op: if t.kind == TokenKind::Step {
                DurationOp::Step
            } else {
                DurationOp::Range
            },
            lhs: None,
            rhs: None,
            wrapped: false,
            start_pos: t.start,
            end_pos: close.end,
        })
    }

    fn parse_min_max_of(&mut self) -> PResult<DurationExpr> {
        let t = self.bump()?;
        self.expect(TokenKind::LeftParen, "", "")?;
        let a = self.parse_duration_expr(0)?;
        self.expect(TokenKind::Comma, "", "")?;
        let b = self.parse_duration_expr(0)?;
        let close = self.expect(TokenKind::RightParen, "", "")?;
        Ok(DurationExpr {
            op: if t.kind == TokenKind::MaxOf {
                DurationOp::MaxOf
            } else {
                DurationOp::MinOf
            },
            lhs: Some(Box::new(a)),
            rhs: Some(Box::new(b)),
            wrapped: false,
            start_pos: t.start,
            end_pos: close.end,
        })
    }

    /// A sign applied to a duration expression: folded into a literal, or a unary
    /// `DurationExpr` (`+` on a `DurationExpr` is dropped), as Prometheus does.
    fn apply_unary_to_duration(&self, sign: Token, e: Expr, wrapped: bool) -> PResult<Expr> {
        let e = if wrapped {
            let p = e.pos();
            Expr::Duration(wrap_paren_duration(e, p.start, p.end))
        } else {
            e
        };
        match e {
            Expr::Duration(de) => {
                if sign.kind == TokenKind::Sub {
                    Ok(Expr::Duration(DurationExpr {
                        op: DurationOp::Sub,
                        lhs: None,
                        rhs: Some(Box::new(Expr::Duration(de))),
                        wrapped: false,
                        start_pos: sign.start,
                        end_pos: 0,
                    }))
                } else {
                    Ok(Expr::Duration(de))
                }
            }
            Expr::NumberLiteral(mut n) => {
                if sign.kind == TokenKind::Sub {
                    n.val = -n.val;
                }
                if duration_out_of_range(n.val) {
                    return Err(self.err(self.tok_pos(sign), "duration out of range"));
                }
                n.pos.start = sign.start;
                Ok(Expr::NumberLiteral(n))
            }
            _ => Err(self.err(
                self.tok_pos(sign),
                "expected number literal or duration expression",
            )),
        }
    }
}

fn starts_duration_expr(k: TokenKind) -> bool {
    use TokenKind::*;
    matches!(
        k,
        Number | Duration | Add | Sub | Step | Range | MaxOf | MinOf | LeftParen
    )
}

fn sign_op(k: TokenKind) -> DurationOp {
    if k == TokenKind::Sub {
        DurationOp::Sub
    } else {
        DurationOp::Add
    }
}

/// Marks a parenthesised duration expression; a parenthesised literal becomes a unary `+`
/// expression so that the parentheses survive printing.
fn wrap_paren_duration(e: Expr, start: usize, end: usize) -> DurationExpr {
    match e {
        Expr::Duration(mut de) => {
            de.wrapped = true;
            de
        }
        other => DurationExpr {
            op: DurationOp::Add,
            lhs: None,
            rhs: Some(Box::new(other)),
            wrapped: true,
            start_pos: start,
            end_pos: end,
        },
    }
}

/// A literal range/step in milliseconds, or an expression.
fn split_duration(e: Expr) -> (i64, Option<Box<DurationExpr>>) {
    match e {
        Expr::NumberLiteral(n) => (seconds_to_ms(n.val), None),
        Expr::Duration(d) => (0, Some(Box::new(d))),
        _ => (0, None),
    }
}

/// Go's `%f`: six decimals; `+Inf`, `-Inf`, `NaN`.
fn go_float_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v:.6}")
    }
}
