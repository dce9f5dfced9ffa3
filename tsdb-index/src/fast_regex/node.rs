//! A small regex tree shaped like Go's `regexp/syntax.Regexp`, built from `regex-syntax`'s HIR,
//! on which the fast-path analyses run.
//!
//! The HIR spells a case-insensitive letter as a class (`(?i)a` is `[Aa]`); Go keeps it as a
//! literal with a fold-case flag. The analyses (set matches, literal prefixes, string
//! matchers) want Go's view, so [`Node::from_hir`] turns every class that is exactly the
//! simple case-folding orbit of an ASCII letter back into a case-insensitive literal, and
//! merges neighbouring literals. Anything the analyses do not understand becomes
//! [`Node::Opaque`], which simply makes them give up (the automaton then decides).

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// Case sensitivity of a literal or a set of literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    /// Compares the same either way (no letters, all ASCII).
    Neutral,
    /// Must be compared exactly.
    Sensitive,
    /// Compared with ASCII case folding (plus `K` KELVIN SIGN for `k` and `ſ` for `s`);
    /// the text is ASCII.
    Insensitive,
}

impl Case {
    /// Combines two sensitivities; `None` when they conflict.
    pub(crate) fn join(self, other: Case) -> Option<Case> {
        match (self, other) {
            (Case::Neutral, c) | (c, Case::Neutral) => Some(c),
            (a, b) if a == b => Some(a),
            _ => None,
        }
    }

    /// Whether literals of this sensitivity are compared case-insensitively.
    pub(crate) fn folds(self) -> bool {
        self == Case::Insensitive
    }
}

/// The sensitivity a plain (exact) text has.
pub(crate) fn case_of_exact(text: &str) -> Case {
    if text
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_alphabetic())
    {
        Case::Neutral
    } else {
        Case::Sensitive
    }
}

/// One node of the analysed regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// Matches only the empty string.
    Empty,
    /// A literal text; with `Case::Insensitive` the text is ASCII.
    Lit(String, Case),
    /// One character from these inclusive ranges (not a single char, not "any").
    Class(Vec<(char, char)>),
    /// Any character, newline included.
    AnyChar,
    /// Any character but `\n`.
    AnyCharNotNl,
    /// `x*`
    Star(Box<Node>),
    /// `x+`
    Plus(Box<Node>),
    /// `x?`
    Quest(Box<Node>),
    /// A sequence.
    Concat(Vec<Node>),
    /// A choice.
    Alt(Vec<Node>),
    /// `^` / `\A` (start of the value).
    BeginText,
    /// `$` / `\z` (end of the value).
    EndText,
    /// Anything else: counted repetitions, line anchors, word boundaries, impossible classes.
    Opaque,
}

impl Node {
    /// Converts the HIR; captures disappear (they do not affect matching).
    pub(crate) fn from_hir(hir: &Hir) -> Node {
        match hir.kind() {
            HirKind::Empty => Node::Empty,
            HirKind::Literal(lit) => match std::str::from_utf8(&lit.0) {
                Ok(s) => {
                    let case = case_of_exact(s);
                    Node::Lit(s.to_string(), case)
                }
                Err(_) => Node::Opaque,
            },
            HirKind::Class(Class::Unicode(cls)) => {
                let ranges: Vec<(char, char)> =
                    cls.ranges().iter().map(|r| (r.start(), r.end())).collect();
                class_node(ranges)
            }
            HirKind::Class(Class::Bytes(_)) => Node::Opaque,
            HirKind::Look(Look::Start) => Node::BeginText,
            HirKind::Look(Look::End) => Node::EndText,
            HirKind::Look(_) => Node::Opaque,
            HirKind::Repetition(rep) => {
                let sub = Box::new(Node::from_hir(&rep.sub));
                match (rep.min, rep.max) {
                    (0, None) => Node::Star(sub),
                    (1, None) => Node::Plus(sub),
                    (0, Some(1)) => Node::Quest(sub),
                    _ => Node::Opaque,
                }
            }
            HirKind::Capture(cap) => Node::from_hir(&cap.sub),
            HirKind::Concat(subs) => concat(subs.iter().map(Node::from_hir).collect()),
            HirKind::Alternation(subs) => alternate(subs.iter().map(Node::from_hir).collect()),
        }
    }

    /// `.*` (with newlines).
    pub(crate) fn is_match_any(&self) -> bool {
        matches!(self, Node::Star(sub) if **sub == Node::AnyChar)
    }

    /// A case-sensitive (or case-neutral) literal.
    pub(crate) fn is_exact_literal(&self) -> bool {
        matches!(self, Node::Lit(_, c) if !c.folds())
    }

    /// Removes a leading `^` and a trailing `$` from a top-level concatenation: every match
    /// is anchored at both ends anyway. A lone `^` or `$` becomes the empty match.
    pub(crate) fn strip_outer_anchors(self) -> Node {
        match self {
            Node::BeginText | Node::EndText => Node::Empty,
            Node::Concat(mut subs) => {
                while subs.first() == Some(&Node::BeginText) {
                    subs.remove(0);
                }
                while subs.last() == Some(&Node::EndText) {
                    subs.pop();
                }
                match subs.len() {
                    0 => Node::Empty,
                    1 => subs.pop().unwrap_or(Node::Empty),
                    _ => Node::Concat(subs),
                }
            }
            other => other,
        }
    }
}

const MAX_CHAR: char = '\u{10FFFF}';

fn class_node(ranges: Vec<(char, char)>) -> Node {
    match ranges.as_slice() {
        [] => Node::Opaque,
        [(a, b)] if *a == '\0' && *b == MAX_CHAR => Node::AnyChar,
        [(a, b), (c, d)] if *a == '\0' && *b == '\t' && *c == '\u{b}' && *d == MAX_CHAR => {
            Node::AnyCharNotNl
        }
        [(a, b)] if a == b => {
            let s = a.to_string();
            let case = case_of_exact(&s);
            Node::Lit(s, case)
        }
        _ => match fold_letter(&ranges) {
            Some(letter) => Node::Lit((letter as char).to_string(), Case::Insensitive),
            None => Node::Class(ranges),
        },
    }
}

/// The simple case-folding orbit of an ASCII letter, as sorted ranges.
pub(crate) fn fold_orbit(letter: u8) -> Vec<(char, char)> {
    let lower = letter.to_ascii_lowercase() as char;
    let upper = letter.to_ascii_uppercase() as char;
    let mut orbit = vec![(upper, upper), (lower, lower)];
    match lower {
        'k' => orbit.push(('\u{212A}', '\u{212A}')),
        's' => orbit.push(('\u{17F}', '\u{17F}')),
        _ => {}
    }
    orbit
}

/// If `ranges` is exactly the case-folding orbit of an ASCII letter, that letter (lower case).
fn fold_letter(ranges: &[(char, char)]) -> Option<u8> {
    let (first, _) = *ranges.first()?;
    if !first.is_ascii_uppercase() {
        return None;
    }
    let letter = first.to_ascii_lowercase() as u8;
    (fold_orbit(letter) == ranges).then_some(letter)
}

/// Builds a concatenation: flattens, drops empties, merges adjacent literals of compatible
/// case sensitivity (as Go's parser does).
pub(crate) fn concat(subs: Vec<Node>) -> Node {
    let mut out: Vec<Node> = Vec::with_capacity(subs.len());
    for sub in subs {
        let items = match sub {
            Node::Concat(inner) => inner,
            Node::Empty => continue,
            other => vec![other],
        };
        for item in items {
            if let (Some(Node::Lit(prev, prev_case)), Node::Lit(text, case)) =
                (out.last_mut(), &item)
            {
                if let Some(joined) = prev_case.join(*case) {
                    prev.push_str(text);
                    *prev_case = joined;
                    continue;
                }
            }
            out.push(item);
        }
    }
    match out.len() {
        0 => Node::Empty,
        1 => out.pop().unwrap_or(Node::Empty),
        _ => Node::Concat(out),
    }
}

/// Builds an alternation: flattens, and when every branch starts (ends) with `.*` factors it
/// out, so that `.*a.*|.*b.*` becomes `.*(a|b).*`, as Prometheus'
/// `optimizeAlternatingSimpleContains` does, and the contains short-cut applies.
pub(crate) fn alternate(subs: Vec<Node>) -> Node {
    let mut flat = Vec::with_capacity(subs.len());
    for sub in subs {
        match sub {
            Node::Alt(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    if flat.len() == 1 {
        return flat.pop().unwrap_or(Node::Opaque);
    }
    let leading = flat
        .iter()
        .all(|b| pieces(b).first().is_some_and(Node::is_match_any));
    let trailing = flat
        .iter()
        .all(|b| pieces(b).last().is_some_and(Node::is_match_any));
    if !leading && !trailing {
        return Node::Alt(flat);
    }
    let branches = flat
        .into_iter()
        .map(|b| {
            let mut subs = match b {
                Node::Concat(subs) => subs,
                other => vec![other],
            };
            // A branch that is just `.*` loses it on both sides: `.*(|x).*` is still `.*|.*x.*`.
            if leading && subs.first().is_some_and(Node::is_match_any) {
                subs.remove(0);
            }
            if trailing && subs.last().is_some_and(Node::is_match_any) {
                subs.pop();
            }
            concat(subs)
        })
        .collect();
    let any = || Node::Star(Box::new(Node::AnyChar));
    let mut seq = Vec::with_capacity(3);
    if leading {
        seq.push(any());
    }
    seq.push(Node::Alt(branches));
    if trailing {
        seq.push(any());
    }
    concat(seq)
}

/// The pieces of a node seen as a concatenation.
fn pieces(n: &Node) -> &[Node] {
    match n {
        Node::Concat(subs) => subs,
        other => std::slice::from_ref(other),
    }
}
