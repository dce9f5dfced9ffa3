//! The PromQL lexer: a query string in, tokens out.
//!
//! It is a state machine with the same states and the same context as Prometheus' lexer
//! (open parentheses, inside braces, inside brackets, seen a colon/duration in brackets)
//! because PromQL's tokens depend on that context: `5m` inside `[...]` is a duration, `step`
//! inside brackets is a keyword, `{` starts a matcher list whose identifiers are never
//! keywords, and unbalanced brackets are lexical errors with their own messages.

use std::fmt;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// End of input.
    Eof,
    /// A lexical error; the token's `error` holds the message.
    Error,
    /// `# ...` up to the end of the line.
    Comment,
    /// A name without `:`.
    Identifier,
    /// A name containing `:` (only valid as a metric name).
    MetricIdentifier,
    /// A number (decimal, hexadecimal, `Inf`, `NaN`, with `_` separators).
    Number,
    /// A duration literal such as `1h30m`.
    Duration,
    /// A quoted string, quotes included.
    String,
    /// `(`
    LeftParen,
    /// `)`
    RightParen,
    /// `{`
    LeftBrace,
    /// `}`
    RightBrace,
    /// `[`
    LeftBracket,
    /// `]`
    RightBracket,
    /// `,`
    Comma,
    /// `=` (label matcher)
    Eql,
    /// `:` (subquery step separator)
    Colon,
    /// `+`
    Add,
    /// `/`
    Div,
    /// `==`
    Eqlc,
    /// `=~`
    EqlRegex,
    /// `>=`
    Gte,
    /// `>`
    Gtr,
    /// `</`
    TrimUpper,
    /// `>/`
    TrimLower,
    /// `and`
    Land,
    /// `or`
    Lor,
    /// `<`
    Lss,
    /// `<=`
    Lte,
    /// `unless`
    Lunless,
    /// `%`
    Mod,
    /// `*`
    Mul,
    /// `!=`
    Neq,
    /// `!~`
    NeqRegex,
    /// `^`
    Pow,
    /// `-`
    Sub,
    /// `@`
    At,
    /// `atan2`
    Atan2,
    /// `avg`
    Avg,
    /// `bottomk`
    Bottomk,
    /// `count`
    Count,
    /// `count_values`
    CountValues,
    /// `group`
    Group,
    /// `max`
    Max,
    /// `min`
    Min,
    /// `quantile`
    Quantile,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `sum`
    Sum,
    /// `topk`
    Topk,
    /// `limitk`
    Limitk,
    /// `limit_ratio`
    LimitRatio,
    /// `bool`
    Bool,
    /// `by`
    By,
    /// `group_left`
    GroupLeft,
    /// `group_right`
    GroupRight,
    /// `fill` (only when followed by `(`)
    Fill,
    /// `fill_left` (only when followed by `(`)
    FillLeft,
    /// `fill_right` (only when followed by `(`)
    FillRight,
    /// `ignoring`
    Ignoring,
    /// `offset`
    Offset,
    /// `smoothed`
    Smoothed,
    /// `anchored`
    Anchored,
    /// `on`
    On,
    /// `without`
    Without,
    /// `start`
    Start,
    /// `end`
    End,
    /// `step`
    Step,
    /// `range`
    Range,
    /// `max_of`
    MaxOf,
    /// `min_of`
    MinOf,
}

/// Keywords, matched case-insensitively. `inf` and `nan` lex as numbers.
const KEYWORDS: &[(&str, TokenKind)] = &[
    ("and", TokenKind::Land),
    ("or", TokenKind::Lor),
    ("unless", TokenKind::Lunless),
    ("atan2", TokenKind::Atan2),
    ("sum", TokenKind::Sum),
    ("avg", TokenKind::Avg),
    ("count", TokenKind::Count),
    ("min", TokenKind::Min),
    ("max", TokenKind::Max),
    ("group", TokenKind::Group),
    ("stddev", TokenKind::Stddev),
    ("stdvar", TokenKind::Stdvar),
    ("topk", TokenKind::Topk),
    ("bottomk", TokenKind::Bottomk),
    ("count_values", TokenKind::CountValues),
    ("quantile", TokenKind::Quantile),
    ("limitk", TokenKind::Limitk),
    ("limit_ratio", TokenKind::LimitRatio),
    ("offset", TokenKind::Offset),
    ("smoothed", TokenKind::Smoothed),
    ("anchored", TokenKind::Anchored),
    ("by", TokenKind::By),
    ("without", TokenKind::Without),
    ("on", TokenKind::On),
    ("ignoring", TokenKind::Ignoring),
    ("group_left", TokenKind::GroupLeft),
    ("group_right", TokenKind::GroupRight),
    ("fill", TokenKind::Fill),
    ("fill_left", TokenKind::FillLeft),
    ("fill_right", TokenKind::FillRight),
    ("bool", TokenKind::Bool),
    ("start", TokenKind::Start),
    ("end", TokenKind::End),
    ("step", TokenKind::Step),
    ("range", TokenKind::Range),
    ("max_of", TokenKind::MaxOf),
    ("min_of", TokenKind::MinOf),
    ("inf", TokenKind::Number),
    ("nan", TokenKind::Number),
];

fn keyword(word: &str) -> Option<TokenKind> {
    KEYWORDS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(word))
        .map(|(_, t)| *t)
}

/// The keywords recognised inside `[...]` (duration expressions).
fn duration_keyword(word: &str) -> Option<TokenKind> {
    match word.to_ascii_lowercase().as_str() {
        "step" => Some(TokenKind::Step),
        "range" => Some(TokenKind::Range),
        "max_of" => Some(TokenKind::MaxOf),
        "min_of" => Some(TokenKind::MinOf),
        _ => None,
    }
}

impl TokenKind {
    /// Operators (Prometheus' `IsOperator`).
    pub fn is_operator(self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            Add | Div
                | Eqlc
                | EqlRegex
                | Gte
                | Gtr
                | TrimUpper
                | TrimLower
                | Land
                | Lor
                | Lss
                | Lte
                | Lunless
                | Mod
                | Mul
                | Neq
                | NeqRegex
                | Pow
                | Sub
                | At
                | Atan2
        )
    }

    /// Aggregation keywords.
    pub fn is_aggregator(self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            Avg | Bottomk
                | Count
                | CountValues
                | Group
                | Max
                | Min
                | Quantile
                | Stddev
                | Stdvar
                | Sum
                | Topk
                | Limitk
                | LimitRatio
        )
    }

    /// Modifier keywords (Prometheus' `IsKeyword`).
    pub fn is_keyword(self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            Bool | By
                | GroupLeft
                | GroupRight
                | Fill
                | FillLeft
                | FillRight
                | Ignoring
                | Offset
                | Smoothed
                | Anchored
                | On
                | Without
        )
    }

    /// Whether the kind has a fixed spelling (Prometheus' `ItemTypeStr` table).
    fn has_fixed_text(self) -> bool {
        use TokenKind::*;
        !matches!(
            self,
            Eof | Error | Comment | Identifier | MetricIdentifier | Number | Duration | String
        )
    }

    fn desc(self) -> &'static str {
        match self {
            TokenKind::Error => "error",
            TokenKind::Eof => "end of input",
            TokenKind::Comment => "comment",
            TokenKind::Identifier => "identifier",
            TokenKind::MetricIdentifier => "metric identifier",
            TokenKind::String => "string",
            TokenKind::Number => "number",
            TokenKind::Duration => "duration",
            _ => "",
        }
    }
}

/// One token: its kind and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset one past its last character.
    pub end: usize,
}

impl Token {
    /// The token's text in `input`.
    pub fn text<'a>(&self, input: &'a str) -> &'a str {
        &input[self.start..self.end]
    }

    /// How Prometheus names the token in "unexpected ..." messages.
    pub fn describe(&self, input: &str) -> String {
        let text = self.text(input);
        let shown = self.show(text);
        if self.kind == TokenKind::Eof {
            return "end of input".to_string();
        }
        if self.kind.has_fixed_text() {
            return shown;
        }
        format!("{} {}", self.kind.desc(), shown)
    }

    /// Prometheus' `Item.String()`.
    fn show(&self, text: &str) -> String {
        match self.kind {
            TokenKind::Eof => "EOF".to_string(),
            TokenKind::Identifier | TokenKind::MetricIdentifier => go_quote_str(text),
            k if k.is_keyword() => format!("<{text}>"),
            k if k.is_operator() => format!("<op:{text}>"),
            k if k.is_aggregator() => format!("<aggr:{text}>"),
            _ if text.chars().count() > 10 => {
                // Go's `%.10q` quotes the first ten characters.
                let first: String = text.chars().take(10).collect();
                format!("{}...", go_quote_str(&first))
            }
            _ => go_quote_str(text),
        }
    }
}

/// Go's `%q` of a string.
pub(crate) fn go_quote_str(s: &str) -> String {
    tsdb_index::labels::go_quote(s)
}

/// Go's `%q` of a rune (`'x'`).
pub(crate) fn go_quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_string(),
        '"' => "'\"'".to_string(),
        c => {
            let q = go_quote_str(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// Go's `%#U` of a rune (`U+0078 'x'`).
fn go_unicode(c: char) -> String {
    let code = c as u32;
    if c.is_control() {
        format!("U+{code:04X}")
    } else {
        format!("U+{code:04X} '{c}'")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Statements,
    InsideBraces,
    DurationExpr,
    String,
    RawString,
    Done,
}

/// The lexer. Call [`Lexer::next_token`] until it returns `Eof` or `Error`.
pub struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    state: State,
    paren_depth: i64,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
    got_duration: bool,
    string_open: char,
    /// The message of the last `Error` token.
    error: String,
}

impl fmt::Debug for Lexer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lexer").field("pos", &self.pos).finish()
    }
}

fn is_space(c: Option<char>) -> bool {
    matches!(c, Some(' ' | '\t' | '\n' | '\r'))
}

fn is_alpha(c: Option<char>) -> bool {
    matches!(c, Some(c) if c == '_' || c.is_ascii_alphabetic())
}

fn is_digit(c: Option<char>) -> bool {
    matches!(c, Some(c) if c.is_ascii_digit())
}

fn is_alphanumeric(c: Option<char>) -> bool {
    is_alpha(c) || is_digit(c)
}

fn in_set(c: Option<char>, set: &str) -> bool {
    matches!(c, Some(c) if set.contains(c))
}

enum Step {
    /// Keep running the state machine.
    Continue,
    /// A token was produced.
    Emit(Token),
}

impl<'a> Lexer<'a> {
    /// A lexer over `input`.
    pub fn new(input: &'a str) -> Self {
        Lexer {
            input,
            pos: 0,
            start: 0,
            state: State::Statements,
            paren_depth: 0,
            brace_open: false,
            bracket_open: false,
            got_colon: false,
            got_duration: false,
            string_open: '"',
            error: String::new(),
        }
    }

    /// The message of the last `Error` token.
    pub fn error_message(&self) -> &str {
        &self.error
    }

    /// Where the lexer has started its current token (used to place lexer errors).
    pub fn token_start(&self) -> usize {
        self.start
    }

    /// The input.
    pub fn input(&self) -> &'a str {
        self.input
    }

    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Undoes the last `next` that returned `c`.
    fn backup(&mut self, c: Option<char>) {
        if let Some(c) = c {
            self.pos -= c.len_utf8();
        }
    }

    fn accept(&mut self, set: &str) -> bool {
        let c = self.next();
        if in_set(c, set) {
            true
        } else {
            self.backup(c);
            false
        }
    }

    fn accept_run(&mut self, set: &str) {
        while self.accept(set) {}
    }

    fn emit(&mut self, kind: TokenKind) -> Step {
        let t = Token {
            kind,
            start: self.start,
            end: self.pos,
        };
        self.start = self.pos;
        Step::Emit(t)
    }

    fn errorf(&mut self, msg: String) -> Step {
        self.error = msg;
        self.state = State::Done;
        // An error token spans to where the lexer stopped; the parser reports lexer errors
        // from the token's start to the end of the input, as Prometheus does.
        Step::Emit(Token {
            kind: TokenKind::Error,
            start: self.start,
            end: self.pos,
        })
    }

    /// The next token. After `Eof` or `Error` it keeps returning `Eof`.
    pub fn next_token(&mut self) -> Token {
        loop {
            let step = match self.state {
                State::Done => {
                    return Token {
                        kind: TokenKind::Eof,
                        start: self.pos,
                        end: self.pos,
                    }
                }
                State::Statements => self.lex_statements(),
                State::InsideBraces => self.lex_inside_braces(),
                State::DurationExpr => self.lex_duration_expr(),
                State::String => self.lex_string(),
                State::RawString => self.lex_raw_string(),
            };
            if let Step::Emit(t) = step {
                if t.kind == TokenKind::Eof {
                    self.state = State::Done;
                }
                return t;
            }
        }
    }

    fn skip_spaces(&mut self) {
        while is_space(self.peek()) {
            self.next();
        }
        self.start = self.pos;
    }

    fn lex_line_comment(&mut self) -> Step {
        self.pos += 1;
        while let Some(c) = self.peek() {
            if c == '\r' || c == '\n' {
                break;
            }
            self.next();
        }
        self.emit(TokenKind::Comment)
    }

    fn lex_statements(&mut self) -> Step {
        if self.brace_open {
            self.state = State::InsideBraces;
            return Step::Continue;
        }
        if self.input[self.pos..].starts_with('#') {
            return self.lex_line_comment();
        }
        let r = self.next();
        let Some(c) = r else {
            if self.paren_depth != 0 {
                return self.errorf("unclosed left parenthesis".into());
            }
            if self.bracket_open {
                return self.errorf("unclosed left bracket".into());
            }
            return self.emit(TokenKind::Eof);
        };
        match c {
            ',' => self.emit(TokenKind::Comma),
            ' ' | '\t' | '\n' | '\r' => {
                self.skip_spaces();
                Step::Continue
            }
            '*' => self.emit(TokenKind::Mul),
            '/' => self.emit(TokenKind::Div),
            '%' => self.emit(TokenKind::Mod),
            '+' => self.emit(TokenKind::Add),
            '-' => self.emit(TokenKind::Sub),
            '^' => self.emit(TokenKind::Pow),
            '=' => match self.peek() {
                Some('=') => {
                    self.next();
                    self.emit(TokenKind::Eqlc)
                }
                Some('~') => self.errorf("unexpected character after '=': '~'".into()),
                _ => self.emit(TokenKind::Eql),
            },
            '!' => {
                let t = self.next();
                if t != Some('=') {
                    return self.errorf(format!(
                        "unexpected character after '!': {}",
                        rune_or_eof(t)
                    ));
                }
                self.emit(TokenKind::Neq)
            }
            '<' => match self.peek() {
                Some('=') => {
                    self.next();
                    self.emit(TokenKind::Lte)
                }
                Some('/') => {
                    self.next();
                    self.emit(TokenKind::TrimUpper)
                }
                _ => self.emit(TokenKind::Lss),
            },
            '>' => match self.peek() {
                Some('=') => {
                    self.next();
                    self.emit(TokenKind::Gte)
                }
                Some('/') => {
                    self.next();
                    self.emit(TokenKind::TrimLower)
                }
                _ => self.emit(TokenKind::Gtr),
            },
            c if c.is_ascii_digit() || (c == '.' && is_digit(self.peek())) => {
                self.backup(r);
                self.lex_number_or_duration()
            }
            '"' | '\'' => {
                self.string_open = c;
                self.state = State::String;
                Step::Continue
            }
            '`' => {
                self.string_open = c;
                self.state = State::RawString;
                Step::Continue
            }
            c if is_alpha(Some(c)) || c == ':' => {
                if !self.bracket_open {
                    self.backup(r);
                    return self.lex_keyword_or_identifier();
                }
                if c == ':' {
                    if self.got_colon {
                        return self.errorf("unexpected colon ':'".into());
                    }
                    self.got_colon = true;
                    return self.emit(TokenKind::Colon);
                }
                if matches!(c.to_ascii_lowercase(), 's' | 'r' | 'm') {
                    if let Some(t) = self.scan_duration_keyword() {
                        return self.emit(t);
                    }
                }
                self.errorf(format!(
                    "unexpected character: {}, expected ':'",
                    go_quote_rune(c)
                ))
            }
            '(' => {
                self.paren_depth += 1;
                self.emit(TokenKind::LeftParen)
            }
            ')' => {
                let t = self.emit(TokenKind::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.errorf("unexpected right parenthesis ')'".into());
                }
                t
            }
            '{' => {
                self.brace_open = true;
                self.state = State::InsideBraces;
                self.emit(TokenKind::LeftBrace)
            }
            '[' => {
                if self.bracket_open {
                    return self.errorf("unexpected left bracket '['".into());
                }
                self.got_colon = false;
                let t = self.emit(TokenKind::LeftBracket);
                self.skip_spaces();
                self.bracket_open = true;
                self.state = State::DurationExpr;
                t
            }
            ']' => {
                if !self.bracket_open {
                    return self.errorf("unexpected right bracket ']'".into());
                }
                self.bracket_open = false;
                self.emit(TokenKind::RightBracket)
            }
            '@' => self.emit(TokenKind::At),
            c => self.errorf(format!("unexpected character: {}", go_quote_rune(c))),
        }
    }

    /// Scans a word and returns its duration keyword kind, if it is one; the word is consumed
    /// either way (as Prometheus does).
    fn scan_duration_keyword(&mut self) -> Option<TokenKind> {
        while is_alpha(self.peek()) {
            self.next();
        }
        duration_keyword(&self.input[self.start..self.pos])
    }

    fn lex_inside_braces(&mut self) -> Step {
        if self.input[self.pos..].starts_with('#') {
            return self.lex_line_comment();
        }
        let r = self.next();
        let Some(c) = r else {
            return self.errorf("unexpected end of input inside braces".into());
        };
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                self.skip_spaces();
                Step::Continue
            }
            c if is_alpha(Some(c)) => {
                while is_alphanumeric(self.peek()) {
                    self.next();
                }
                self.emit(TokenKind::Identifier)
            }
            ',' => self.emit(TokenKind::Comma),
            '"' | '\'' => {
                self.string_open = c;
                self.state = State::String;
                Step::Continue
            }
            '`' => {
                self.string_open = c;
                self.state = State::RawString;
                Step::Continue
            }
            '=' => {
                if self.peek() == Some('~') {
                    self.next();
                    return self.emit(TokenKind::EqlRegex);
                }
                self.emit(TokenKind::Eql)
            }
            '!' => match self.next() {
                Some('~') => self.emit(TokenKind::NeqRegex),
                Some('=') => self.emit(TokenKind::Neq),
                other => self.errorf(format!(
                    "unexpected character after '!' inside braces: {}",
                    rune_or_eof(other)
                )),
            },
            '{' => self.errorf("unexpected left brace '{'".into()),
            '}' => {
                self.brace_open = false;
                self.state = State::Statements;
                self.emit(TokenKind::RightBrace)
            }
            c => self.errorf(format!(
                "unexpected character inside braces: {}",
                go_quote_rune(c)
            )),
        }
    }

    fn lex_duration_expr(&mut self) -> Step {
        let r = self.next();
        let Some(c) = r else {
            return self.errorf("unexpected end of input in duration expression".into());
        };
        match c {
            ']' => {
                self.bracket_open = false;
                self.got_colon = false;
                self.state = State::Statements;
                self.emit(TokenKind::RightBracket)
            }
            ':' => {
                let t = self.emit(TokenKind::Colon);
                if !self.got_duration {
                    return self
                        .errorf("unexpected colon before duration in duration expression".into());
                }
                if self.got_colon {
                    return self.errorf("unexpected repeated colon in duration expression".into());
                }
                self.got_colon = true;
                t
            }
            '(' => {
                self.paren_depth += 1;
                self.emit(TokenKind::LeftParen)
            }
            ')' => {
                let t = self.emit(TokenKind::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.errorf("unexpected right parenthesis ')'".into());
                }
                t
            }
            ' ' | '\t' | '\n' | '\r' => {
                self.skip_spaces();
                Step::Continue
            }
            '+' => self.emit(TokenKind::Add),
            '-' => self.emit(TokenKind::Sub),
            '*' => self.emit(TokenKind::Mul),
            '/' => self.emit(TokenKind::Div),
            '%' => self.emit(TokenKind::Mod),
            '^' => self.emit(TokenKind::Pow),
            ',' => self.emit(TokenKind::Comma),
            c if matches!(c.to_ascii_lowercase(), 's' | 'r' | 'm') => {
                if let Some(t) = self.scan_duration_keyword() {
                    return self.emit(t);
                }
                self.errorf(format!(
                    "unexpected character in duration expression: {}",
                    go_quote_rune(c)
                ))
            }
            c if c.is_ascii_digit() || (c == '.' && is_digit(self.peek())) => {
                self.backup(r);
                self.got_duration = true;
                // As in Prometheus, the rest of the brackets is lexed in the statement state.
                self.state = State::Statements;
                self.lex_number_or_duration()
            }
            c => self.errorf(format!(
                "unexpected character in duration expression: {}",
                go_quote_rune(c)
            )),
        }
    }

    fn lex_escape(&mut self) -> Result<(), String> {
        let ch = self.next();
        let (mut n, base, max): (u32, u32, u32) = match ch {
            Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => return Ok(()),
            Some(c) if c == self.string_open => return Ok(()),
            Some('0'..='7') => (3, 8, 255),
            Some('x') => (2, 16, 255),
            Some('u') => (4, 16, 0x10FFFF),
            Some('U') => (8, 16, 0x10FFFF),
            None => return Err("escape sequence not terminated".into()),
            Some(c) => return Err(format!("unknown escape sequence {}", go_unicode(c))),
        };
        let mut ch = if matches!(ch, Some('x' | 'u' | 'U')) {
            self.next()
        } else {
            ch
        };
        let mut x: u32 = 0;
        while n > 0 {
            let d = ch.and_then(|c| c.to_digit(16)).unwrap_or(16);
            if d >= base {
                return Err(match ch {
                    None => "escape sequence not terminated".into(),
                    Some(c) => format!("illegal character {} in escape sequence", go_unicode(c)),
                });
            }
            x = x.wrapping_mul(base).wrapping_add(d);
            n -= 1;
            if n > 0 {
                ch = self.next();
            }
        }
        if x > max || (0xD800..0xE000).contains(&x) {
            return Err("escape sequence is an invalid Unicode code point".into());
        }
        Ok(())
    }

    fn lex_string(&mut self) -> Step {
        loop {
            match self.next() {
                Some('\\') => {
                    if let Err(msg) = self.lex_escape() {
                        return self.errorf(msg);
                    }
                }
                Some('\u{FFFD}') => return self.errorf("invalid UTF-8 rune".into()),
                None | Some('\n') => {
                    return self.errorf("unterminated quoted string".into());
                }
                Some(c) if c == self.string_open => break,
                Some(_) => {}
            }
        }
        self.state = if self.brace_open {
            State::InsideBraces
        } else {
            State::Statements
        };
        self.emit(TokenKind::String)
    }

    fn lex_raw_string(&mut self) -> Step {
        loop {
            match self.next() {
                Some('\u{FFFD}') => return self.errorf("invalid UTF-8 rune".into()),
                None => return self.errorf("unterminated raw string".into()),
                Some(c) if c == self.string_open => break,
                Some(_) => {}
            }
        }
        self.state = if self.brace_open {
            State::InsideBraces
        } else {
            State::Statements
        };
        self.emit(TokenKind::String)
    }

    fn lex_number_or_duration(&mut self) -> Step {
        if self.scan_number() {
            return self.emit(TokenKind::Number);
        }
        // Not a number: a duration continues from where the number scan stopped.
        if self.accept_remaining_duration() {
            return self.emit(TokenKind::Duration);
        }
        let text = &self.input[self.start..self.pos];
        self.errorf(format!(
            "bad number or duration syntax: {}",
            go_quote_str(text)
        ))
    }

    fn accept_remaining_duration(&mut self) -> bool {
        // Prometheus' lexer: a unit, an optional `s` (for `ms`), then more `<digits><unit>`
        // groups, and the duration must not be followed by an alphanumeric character.
        if !self.accept("smhdwy") {
            return false;
        }
        self.accept("s");
        while self.accept("0123456789") {
            while self.accept("0123456789") {}
            if !self.accept("smhdw") {
                return false;
            }
            self.accept("s");
        }
        let c = self.next();
        if is_alphanumeric(c) {
            return false;
        }
        self.backup(c);
        true
    }

    fn scan_number(&mut self) -> bool {
        let initial = self.pos;
        let mut digits = "0123456789";
        if self.accept("0") && self.accept("xX") {
            self.accept("_");
            digits = "0123456789abcdefABCDEF";
        }
        self.accept(".");
        self.accept(digits);
        let mut dot = false;
        let mut exp = false;
        let all = |d: &str| format!("{d}._eE");
        let cont = all(digits);
        while in_set(self.peek(), &cont) {
            if self.peek() == Some('.') && dot {
                self.accept(".");
                return false;
            }
            if in_set(self.peek(), "eE") && exp {
                self.accept("eE");
                return false;
            }
            if self.accept(".") {
                dot = true;
                if self.accept("_.") {
                    return false;
                }
                if digits.len() > 10 {
                    return false;
                }
                continue;
            }
            if self.accept("eE") {
                exp = true;
                self.accept("+-");
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            if self.accept("_") {
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            self.accept_run(digits);
        }
        if self.pos == initial {
            return false;
        }
        !is_alphanumeric(self.peek())
    }

    fn lex_keyword_or_identifier(&mut self) -> Step {
        while is_alphanumeric(self.peek()) || self.peek() == Some(':') {
            self.next();
        }
        let word = &self.input[self.start..self.pos];
        match keyword(word) {
            Some(kw @ (TokenKind::Fill | TokenKind::FillLeft | TokenKind::FillRight)) => {
                if self.followed_by_left_paren() {
                    self.emit(kw)
                } else {
                    self.emit(TokenKind::Identifier)
                }
            }
            Some(kw) => self.emit(kw),
            None if !word.contains(':') => self.emit(TokenKind::Identifier),
            None => self.emit(TokenKind::MetricIdentifier),
        }
    }

    fn followed_by_left_paren(&self) -> bool {
        self.input[self.pos..]
            .chars()
            .find(|&c| !is_space(Some(c)))
            .is_some_and(|c| c == '(')
    }
}

fn rune_or_eof(c: Option<char>) -> String {
    match c {
        Some(c) => go_quote_rune(c),
        // Go formats its EOF rune (-1) with %q as U+FFFD.
        None => "'\u{FFFD}'".to_string(),
    }
}
