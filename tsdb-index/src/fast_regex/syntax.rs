//! Parsing label-matcher patterns the way Go's RE2 (`regexp/syntax`) reads them.
//!
//! `regex-syntax` and Go's parser accept nearly the same language, but a few constructs mean
//! different things, and a few exist in only one of them. This module makes the difference
//! explicit:
//!
//! - Perl classes `\d \w \s` (and their negations) and the word boundaries `\b \B` are
//!   ASCII-only in Go, Unicode-aware in Rust. They are rewritten to their ASCII definitions
//!   before translation (Go's `\s` is `[\t\n\f\r ]`, without `\v`).
//! - Constructs that Go rejects, or reads as something else, are rejected with an error
//!   instead of being given a different meaning: class set operations (`[a&&b]`, `[a--b]`,
//!   `[a~~b]`; Go reads those characters literally), nested brackets (`[[a]]`), the flags
//!   `u`, `x` and `R`, `\u`/`\U` escapes, `{,n}` (a literal in Go), the assertions
//!   `\<`, `\>`, `\b{start}` and friends, `\p{name=value}`, and repetition counts above
//!   1000 (Go's limit).
//!
//! Not handled: Go's `\Q...\E` quoting (an error here), and Unicode property names that
//! only Rust knows (accepted here, an error in Go).

use regex_syntax::ast::{
    self, AssertionKind, Ast, ClassPerlKind, ClassSetBinaryOp, ClassSetItem, Flag, FlagsItemKind,
    HexLiteralKind, LiteralKind, RepetitionKind, RepetitionRange,
};
use regex_syntax::hir::Hir;

use super::RegexError;

/// Go's maximum repetition count (`regexp/syntax`'s `maxRepeat`).
const MAX_REPEAT: u32 = 1000;

/// Maximum nesting depth of groups and repetitions; keeps parsing bounded on hostile input.
const NEST_LIMIT: u32 = 250;

/// Parses `pattern` with Prometheus' flags (`.` matches `\n`) and Go's meaning of every
/// construct, returning the (unanchored) HIR.
pub(crate) fn parse(pattern: &str) -> Result<Hir, RegexError> {
    let ast = parse_ast(pattern)?;
    let rewrites = ast::visit(
        &ast,
        Checker {
            pattern,
            rewrites: Vec::new(),
        },
    )
    .map_err(|m| err(pattern, m))?;
    let (text, ast) = if rewrites.is_empty() {
        (None, ast)
    } else {
        let text = splice(pattern, rewrites);
        let ast = parse_ast(&text).map_err(|e| err(pattern, e.message))?;
        (Some(text), ast)
    };
    regex_syntax::hir::translate::TranslatorBuilder::new()
        .unicode(true)
        .utf8(true)
        .dot_matches_new_line(true)
        .build()
        .translate(text.as_deref().unwrap_or(pattern), &ast)
        .map_err(|e| err(pattern, e.to_string()))
}

fn parse_ast(pattern: &str) -> Result<Ast, RegexError> {
    ast::parse::ParserBuilder::new()
        .nest_limit(NEST_LIMIT)
        .octal(false)
        .build()
        .parse(pattern)
        .map_err(|e| err(pattern, e.to_string()))
}

fn err(pattern: &str, message: impl Into<String>) -> RegexError {
    RegexError {
        pattern: pattern.to_string(),
        message: message.into(),
    }
}

/// Replaces byte ranges of `pattern` (sorted, non-overlapping) by new text.
fn splice(pattern: &str, mut rewrites: Vec<(usize, usize, &'static str)>) -> String {
    rewrites.sort_by_key(|r| r.0);
    let mut out = String::with_capacity(pattern.len() + 16 * rewrites.len());
    let mut at = 0;
    for (start, end, text) in rewrites {
        out.push_str(&pattern[at..start]);
        out.push_str(text);
        at = end;
    }
    out.push_str(&pattern[at..]);
    out
}

/// The ASCII meaning Go gives a Perl class: as a stand-alone class, and as the inside of a
/// bracketed class.
fn perl_class(kind: &ClassPerlKind, negated: bool) -> (&'static str, &'static str) {
    match (kind, negated) {
        (ClassPerlKind::Digit, false) => ("[0-9]", "0-9"),
        (ClassPerlKind::Digit, true) => ("[^0-9]", r"\x00-/:-\x{10FFFF}"),
        (ClassPerlKind::Word, false) => ("[0-9A-Za-z_]", "0-9A-Za-z_"),
        (ClassPerlKind::Word, true) => ("[^0-9A-Za-z_]", r"\x00-/:-@\[-\^`\{-\x{10FFFF}"),
        (ClassPerlKind::Space, false) => (r"[\t\n\f\r ]", r"\t\n\f\r "),
        (ClassPerlKind::Space, true) => (r"[^\t\n\f\r ]", r"\x00-\x08\x0B\x0E-\x1F!-\x{10FFFF}"),
    }
}

/// Walks the AST: rejects what Go reads differently, and collects the ASCII rewrites.
struct Checker<'p> {
    pattern: &'p str,
    rewrites: Vec<(usize, usize, &'static str)>,
}

impl ast::Visitor for Checker<'_> {
    type Output = Vec<(usize, usize, &'static str)>;
    type Err = String;

    fn finish(self) -> Result<Self::Output, String> {
        Ok(self.rewrites)
    }

    fn visit_pre(&mut self, ast: &Ast) -> Result<(), String> {
        match ast {
            Ast::Flags(f) => check_flags(&f.flags),
            Ast::Group(g) => match &g.kind {
                ast::GroupKind::NonCapturing(flags) => check_flags(flags),
                _ => Ok(()),
            },
            Ast::Literal(l) => check_literal(l),
            Ast::ClassPerl(c) => {
                let (alone, _) = perl_class(&c.kind, c.negated);
                self.rewrites
                    .push((c.span.start.offset, c.span.end.offset, alone));
                Ok(())
            }
            Ast::ClassUnicode(c) => check_unicode_class(c),
            Ast::Assertion(a) => match a.kind {
                AssertionKind::StartLine
                | AssertionKind::EndLine
                | AssertionKind::StartText
                | AssertionKind::EndText => Ok(()),
                AssertionKind::WordBoundary => {
                    self.rewrites
                        .push((a.span.start.offset, a.span.end.offset, r"(?-u:\b)"));
                    Ok(())
                }
                AssertionKind::NotWordBoundary => {
                    self.rewrites
                        .push((a.span.start.offset, a.span.end.offset, r"(?-u:\B)"));
                    Ok(())
                }
                _ => Err("this word-boundary assertion is not RE2 syntax".to_string()),
            },
            // `a**`, `a+?+`, `a{2}{3}`: stacked repetition operators are an error in Go.
            Ast::Repetition(r) if matches!(*r.ast, Ast::Repetition(_)) => {
                Err("invalid nested repetition operator".to_string())
            }
            Ast::Repetition(r) => match &r.op.kind {
                RepetitionKind::Range(range) => {
                    // `{,n}` is a repetition in Rust but literal text in Go.
                    if self.pattern[r.op.span.start.offset..].starts_with("{,") {
                        return Err("`{,n}` is literal text in RE2, not a repetition".to_string());
                    }
                    let (RepetitionRange::Exactly(n)
                    | RepetitionRange::AtLeast(n)
                    | RepetitionRange::Bounded(_, n)) = *range;
                    if n > MAX_REPEAT {
                        return Err(format!("invalid repeat count: {n} > {MAX_REPEAT}"));
                    }
                    if let RepetitionRange::Bounded(m, _) = *range {
                        if m > MAX_REPEAT {
                            return Err(format!("invalid repeat count: {m} > {MAX_REPEAT}"));
                        }
                    }
                    Ok(())
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), String> {
        match item {
            // Only nested brackets reach here (the outer one is an `Ast::ClassBracketed`).
            ClassSetItem::Bracketed(_) => {
                Err("nested character classes are not RE2 syntax".to_string())
            }
            ClassSetItem::Literal(l) => check_literal(l),
            ClassSetItem::Range(r) => {
                check_literal(&r.start)?;
                check_literal(&r.end)
            }
            ClassSetItem::Perl(c) => {
                let (_, inner) = perl_class(&c.kind, c.negated);
                self.rewrites
                    .push((c.span.start.offset, c.span.end.offset, inner));
                Ok(())
            }
            ClassSetItem::Unicode(c) => check_unicode_class(c),
            _ => Ok(()),
        }
    }

    fn visit_class_set_binary_op_pre(&mut self, _op: &ClassSetBinaryOp) -> Result<(), String> {
        Err("class set operations (&&, --, ~~) are not RE2 syntax".to_string())
    }
}

fn check_flags(flags: &ast::Flags) -> Result<(), String> {
    for item in &flags.items {
        if let FlagsItemKind::Flag(f) = &item.kind {
            match f {
                Flag::CaseInsensitive
                | Flag::MultiLine
                | Flag::DotMatchesNewLine
                | Flag::SwapGreed => {}
                Flag::Unicode | Flag::CRLF | Flag::IgnoreWhitespace => {
                    return Err(format!("flag {f:?} is not RE2 syntax"));
                }
            }
        }
    }
    Ok(())
}

fn check_literal(l: &ast::Literal) -> Result<(), String> {
    match l.kind {
        LiteralKind::HexFixed(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong)
        | LiteralKind::HexBrace(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong) => {
            Err("\\u and \\U escapes are not RE2 syntax".to_string())
        }
        _ => Ok(()),
    }
}

fn check_unicode_class(c: &ast::ClassUnicode) -> Result<(), String> {
    match c.kind {
        ast::ClassUnicodeKind::NamedValue { .. } => {
            Err("\\p{name=value} classes are not RE2 syntax".to_string())
        }
        _ => Ok(()),
    }
}
