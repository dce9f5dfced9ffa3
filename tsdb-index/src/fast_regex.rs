//! Prometheus-compatible regex matching of label values: [`FastRegexMatcher`].
//!
//! Semantics are Prometheus 3's: the pattern is fully anchored, `.` matches `\n`, and the
//! syntax is Go's RE2 (see [`syntax`](self) notes below). The answer is always the answer of
//! the plain anchored automaton ([`plain_regex`]); what this module adds are the short-cuts
//! of Prometheus' `FastRegexMatcher` (model/labels/regexp.go), which decide most real-world
//! label matchers with string operations instead of running the automaton:
//!
//! - alternations of plain literals `a|b|c` are recognised without parsing, and any pattern
//!   matching a finite set of at most 256 strings (`api_(v1|v2)`, `[abc]d`, `(?i)foo|bar`)
//!   becomes an equality test against that set (compared one by one below 16 strings, hashed
//!   from 16 on); case-sensitive sets are exposed by [`FastRegexMatcher::set_matches`] so
//!   that an index can read postings for the values directly;
//! - `.*`, `.+`, `.?` (with or without newlines), literal prefixes (`foo.*`, also
//!   case-insensitive), literal suffixes (`.*foo`), contains (`.*foo.*`, `.*(a|b).*`,
//!   `.+foo.+`), and alternations of those (many `foo.*|bar.*` branches go into a hash map
//!   keyed by prefix);
//! - otherwise the literal prefix, suffix and inner literals of a top-level concatenation
//!   (`foo.*bar[0-9]+baz`) are checked before the automaton runs.
//!
//! [`FastRegexMatcher::prefix`] exposes a literal every match starts with, so that callers
//! holding sorted label values can range-scan instead of testing every value.
//!
//! Construction cost: alternations of plain literals are split without parsing (well under
//! a microsecond per alternative, mostly the hash set). Other patterns are parsed and analysed
//! (a few microseconds), and the automaton (a `regex_automata::meta::Regex`) is only built
//! when no string matcher decides the pattern on its own; that build is the expensive part,
//! 0.3-0.7 ms for the benchmark's regex-backed patterns on a loaded 2-core machine, against
//! 8-14 µs for Go's `regexp.Compile` there. Cache matchers per query (as Prometheus does)
//! rather than rebuilding them per series. `benches/benches/fast_regex.rs` prints both.
//!
//! Go syntax: `\d \w \s \b` are ASCII as in Go. Constructs that Go rejects or reads
//! differently (class set operations like `[a&&b]`, nested classes, the `x`/`u`/`R` flags,
//! `\u` escapes, `{,n}`, repetition counts above 1000) are errors here rather than silently
//! meaning something else. Go's `\Q...\E` is not supported.

mod fold;
mod node;
mod string_matcher;
mod syntax;

use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use memchr::memmem::Finder;
use regex_automata::meta::{self, Regex};
use regex_automata::nfa::thompson::WhichCaptures;
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, Look};

use node::{Case, Node};
use string_matcher::{Literal, StringMatcher};

/// Largest finite set of strings turned into equality tests (Prometheus' `maxSetMatches`).
pub const MAX_SET_MATCHES: usize = 256;

/// Limit on the automaton's NFA size, so that hostile patterns fail to compile instead of
/// using unbounded memory.
const NFA_SIZE_LIMIT: usize = 10 << 20;

/// Error from compiling a label-matcher regex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {message}")]
pub struct RegexError {
    /// The pattern as given.
    pub pattern: String,
    /// What the regex compiler said.
    pub message: String,
}

/// A compiled, fully anchored label-value regex with Prometheus' short-cuts.
///
/// ```
/// use tsdb_index::fast_regex::FastRegexMatcher;
/// let m = FastRegexMatcher::new("api|web|db").unwrap();
/// assert!(m.matches("web") && !m.matches("webserver"));
/// assert_eq!(m.set_matches(), Some(&["api".to_string(), "web".into(), "db".into()][..]));
///
/// let p = FastRegexMatcher::new("node_.*").unwrap();
/// assert!(p.matches("node_cpu") && !p.matches("xnode_cpu"));
/// assert_eq!(p.prefix(), Some("node_"));
/// ```
#[derive(Debug, Clone)]
pub struct FastRegexMatcher {
    pattern: String,
    plan: Plan,
    set_matches: Option<Vec<String>>,
    prefix: Option<String>,
}

/// How a value is decided.
#[derive(Debug, Clone)]
enum Plan {
    /// Equal to this one string.
    Equal(Box<str>),
    /// A string matcher alone decides.
    Str(StringMatcher),
    /// Cheap literal checks first, then a string matcher or the automaton.
    Filtered(Box<Filtered>),
}

#[derive(Debug, Clone)]
struct Filtered {
    prefix: Option<Literal>,
    suffix: Option<Box<str>>,
    /// Literals that must appear, in this order, between prefix and suffix.
    contains: Vec<Finder<'static>>,
    then: Then,
}

#[derive(Debug, Clone)]
enum Then {
    /// Nothing more to check.
    Accept,
    Str(StringMatcher),
    Regex(Regex),
}

impl FastRegexMatcher {
    /// Compiles `pattern` with Prometheus' semantics (anchored at both ends, `(?s)`).
    pub fn new(pattern: &str) -> Result<Self, RegexError> {
        if let Some(m) = Self::from_alternating_literals(pattern) {
            return Ok(m);
        }
        let hir = syntax::parse(pattern)?;
        let node = Node::from_hir(&hir).strip_outer_anchors();

        let (prefix, suffix, contains) = concat_literals(&node);
        let mut set_matches = None;
        let mut matcher = None;
        if let Some((set, case)) = find_set(&node) {
            if !case.folds() && !set.iter().any(String::is_empty) {
                set_matches = Some(set.clone());
            }
            if set.len() > 1 {
                matcher = Some(string_matcher::multi_equal(&set, case.folds()));
            }
        }
        if matcher.is_none() {
            matcher = if is_simple_concatenation(&node) {
                // `.*a.*b.*`: the in-order contains check below is the whole answer.
                Some(StringMatcher::True)
            } else {
                string_matcher(&node).map(string_matcher::optimize_equal_or_prefix)
            };
        }

        let plan = match (&set_matches, matcher) {
            (Some(set), _) if set.len() == 1 => Plan::Equal(set[0].as_str().into()),
            (_, Some(m)) if prefix.is_none() && suffix.is_none() && contains.is_empty() => {
                Plan::Str(m)
            }
            (_, m) => {
                let then = match m {
                    Some(m) if implied_by(&m, prefix.as_ref(), suffix.as_deref()) => Then::Accept,
                    Some(m) => Then::Str(m),
                    None => Then::Regex(build_regex(pattern, &hir)?),
                };
                Plan::Filtered(Box::new(Filtered {
                    prefix,
                    suffix,
                    contains: contains
                        .iter()
                        .map(|c| Finder::new(c).into_owned())
                        .collect(),
                    then,
                }))
            }
        };
        Ok(FastRegexMatcher {
            pattern: pattern.to_string(),
            plan,
            set_matches,
            prefix: required_prefix(&hir),
        })
    }

    /// Prometheus' `optimizeAlternatingLiterals`: `lit1|lit2|...` made only of characters
    /// that are not regex syntax needs no parsing at all.
    fn from_alternating_literals(pattern: &str) -> Option<Self> {
        // Bytes that are regex syntax (what Go's `regexp.QuoteMeta` escapes).
        const META: [bool; 256] = {
            let mut t = [false; 256];
            let syntax = b"\\.+*?()|[]{}^$";
            let mut i = 0;
            while i < syntax.len() {
                t[syntax[i] as usize] = true;
                i += 1;
            }
            t
        };
        if pattern.is_empty() {
            return Some(FastRegexMatcher {
                pattern: String::new(),
                plan: Plan::Str(StringMatcher::Empty),
                set_matches: None,
                prefix: None,
            });
        }
        let mut values: Vec<String> = Vec::new();
        let mut seen: HashSet<&str, BuildHasherDefault<string_matcher::FastHasher>> =
            HashSet::default();
        for part in pattern.split('|') {
            if part.bytes().any(|b| META[b as usize]) {
                return None;
            }
            if seen.insert(part) {
                values.push(part.to_string());
            }
        }
        let has_empty = values.iter().any(String::is_empty);
        let prefix = lcp(values.iter().map(String::as_str));
        let (plan, set_matches) = if values.len() == 1 {
            (Plan::Equal(pattern.into()), Some(values))
        } else {
            let m = string_matcher::multi_equal(&values, false);
            let set = (values.len() < MAX_SET_MATCHES && !has_empty).then_some(values);
            (Plan::Str(m), set)
        };
        Some(FastRegexMatcher {
            pattern: pattern.to_string(),
            plan,
            set_matches,
            prefix,
        })
    }

    /// Whether `value` matches the whole pattern.
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        match &self.plan {
            Plan::Equal(s) => string_matcher::bytes_eq(s.as_bytes(), value.as_bytes()),
            Plan::Str(m) => m.matches(value),
            Plan::Filtered(f) => f.matches(value),
        }
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// If the pattern matches exactly a finite set of strings (e.g. `a|b|c`, `api_(v1|v2)`),
    /// that set: at most [`MAX_SET_MATCHES`] strings, compared case-sensitively, in pattern
    /// order. `None` for case-insensitive sets and for sets containing the empty string
    /// (which would stand for "label absent").
    pub fn set_matches(&self) -> Option<&[String]> {
        self.set_matches.as_deref()
    }

    /// A non-empty literal that every matching value starts with (case-sensitively), e.g.
    /// `foo` for `foo.*` or `foo(bar|baz)`: values sorted bytewise can be range-scanned from
    /// it. `None` when there is no such literal (`.*foo`, `(?i)foo`).
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// Whether any short-cut applies, i.e. matching does not just run the automaton
    /// (Prometheus' `IsOptimized`).
    pub fn is_optimized(&self) -> bool {
        match &self.plan {
            Plan::Equal(_) | Plan::Str(_) => true,
            Plan::Filtered(f) => {
                f.prefix.is_some()
                    || f.suffix.is_some()
                    || !f.contains.is_empty()
                    || !matches!(f.then, Then::Regex(_))
            }
        }
    }

    /// A description of the strategy chosen, for tests and debugging (not a stable format).
    pub fn strategy(&self) -> String {
        fn names(m: &StringMatcher) -> String {
            let mut out = Vec::new();
            m.visit(&mut |m| {
                out.push(match m {
                    StringMatcher::Empty => "empty",
                    StringMatcher::True => "true",
                    StringMatcher::AnyNonEmpty { .. } => "any-non-empty",
                    StringMatcher::AnyWithoutNewline => "any-without-newline",
                    StringMatcher::ZeroOrOneChar { .. } => "zero-or-one-char",
                    StringMatcher::Equal(_) => "equal",
                    StringMatcher::Or(_) => "or",
                    StringMatcher::MultiSlice(_) => "multi-slice",
                    StringMatcher::MultiMap(_) => "multi-map",
                    StringMatcher::Prefix { .. } => "prefix",
                    StringMatcher::Suffix { .. } => "suffix",
                    StringMatcher::Contains { .. } => "contains",
                })
            });
            out.join(",")
        }
        match &self.plan {
            Plan::Equal(_) => "equal".to_string(),
            Plan::Str(m) => names(m),
            Plan::Filtered(f) => {
                let mut parts = Vec::new();
                if let Some(p) = &f.prefix {
                    parts.push(format!(
                        "prefix{}={:?}",
                        if p.fold { "-fold" } else { "" },
                        p.text
                    ));
                }
                if let Some(s) = &f.suffix {
                    parts.push(format!("suffix={s:?}"));
                }
                for c in &f.contains {
                    parts.push(format!(
                        "contains={:?}",
                        String::from_utf8_lossy(c.needle())
                    ));
                }
                parts.push(match &f.then {
                    Then::Accept => "accept".to_string(),
                    Then::Str(m) => names(m),
                    Then::Regex(_) => "regex".to_string(),
                });
                parts.join(" ")
            }
        }
    }
}

impl Filtered {
    #[inline]
    fn matches(&self, s: &str) -> bool {
        let mut start = 0;
        let mut end = s.len();
        if let Some(p) = &self.prefix {
            match p.fold {
                false if string_matcher::starts_with(s.as_bytes(), p.text.as_bytes()) => {
                    start = p.text.len()
                }
                true => match fold::prefix_len(s, &p.text) {
                    Some(n) => start = n,
                    None => return false,
                },
                false => return false,
            }
        }
        if let Some(suffix) = &self.suffix {
            if !string_matcher::ends_with(s.as_bytes(), suffix.as_bytes()) {
                return false;
            }
            end = s.len() - suffix.len();
            // Prefix and suffix are distinct pieces of one concatenation: they cannot overlap.
            if end < start {
                return false;
            }
        }
        if !self.contains.is_empty() {
            let mut hay = &s.as_bytes()[start..end];
            for finder in &self.contains {
                match string_matcher::find(finder, hay) {
                    Some(at) => hay = &hay[at + finder.needle().len()..],
                    None => return false,
                }
            }
        }
        match &self.then {
            Then::Accept => true,
            Then::Str(m) => m.matches(s),
            Then::Regex(re) => re.is_match(s),
        }
    }
}

/// Whether the literal checks before `m` already decide it: `foo.*`, `.*foo`, `.*`.
fn implied_by(m: &StringMatcher, prefix: Option<&Literal>, suffix: Option<&str>) -> bool {
    match m {
        StringMatcher::True => true,
        StringMatcher::Prefix { prefix: p, right } => {
            matches!(**right, StringMatcher::True)
                && prefix.is_some_and(|f| f.fold == p.fold && f.text == p.text)
        }
        StringMatcher::Suffix { left, suffix: s } => {
            matches!(**left, StringMatcher::True) && !s.fold && suffix == Some(&*s.text)
        }
        _ => false,
    }
}

/// The plain anchored automaton for `pattern` (Go syntax, `^(?s:pattern)$`), with none of the
/// short-cuts: the reference that [`FastRegexMatcher::matches`] always agrees with. For tests,
/// fuzzing and benchmarks.
pub fn plain_regex(pattern: &str) -> Result<Regex, RegexError> {
    let hir = syntax::parse(pattern)?;
    build_regex(pattern, &hir)
}

fn build_regex(pattern: &str, hir: &Hir) -> Result<Regex, RegexError> {
    let anchored = Hir::concat(vec![
        Hir::look(Look::Start),
        hir.clone(),
        Hir::look(Look::End),
    ]);
    meta::Builder::new()
        .configure(
            meta::Config::new()
                .which_captures(WhichCaptures::None)
                .nfa_size_limit(Some(NFA_SIZE_LIMIT)),
        )
        .build_from_hir(&anchored)
        .map_err(|e| RegexError {
            pattern: pattern.to_string(),
            message: e.to_string(),
        })
}

/// Longest common prefix of some strings, cut back to a character boundary; `None` if empty.
fn lcp<'a>(mut values: impl Iterator<Item = &'a str>) -> Option<String> {
    let first = values.next()?;
    let mut len = first.len();
    for v in values {
        len = first.as_bytes()[..len]
            .iter()
            .zip(v.as_bytes())
            .take_while(|(a, b)| a == b)
            .count();
    }
    while !first.is_char_boundary(len) {
        len -= 1;
    }
    (len > 0).then(|| first[..len].to_string())
}

/// A literal prefix every match has, from `regex-syntax`'s prefix literal extraction.
fn required_prefix(hir: &Hir) -> Option<String> {
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    let lcp = seq.longest_common_prefix()?;
    let valid = match std::str::from_utf8(lcp) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&lcp[..e.valid_up_to()]).ok()?,
    };
    (!valid.is_empty()).then(|| valid.to_string())
}

/// Prometheus' `optimizeConcatRegex`: for a top-level concatenation, the literal prefix (may
/// be case-insensitive), the literal suffix and the inner literals (case-sensitive only).
fn concat_literals(node: &Node) -> (Option<Literal>, Option<Box<str>>, Vec<String>) {
    let Node::Concat(subs) = node else {
        return (None, None, Vec::new());
    };
    let prefix = match subs.first() {
        Some(Node::Lit(text, case)) => Some(Literal::new(text, case.folds())),
        _ => None,
    };
    let suffix = match subs.last() {
        Some(n @ Node::Lit(text, _)) if subs.len() > 1 && n.is_exact_literal() => {
            Some(text.as_str().into())
        }
        _ => None,
    };
    let contains = subs
        .iter()
        .skip(1)
        .take(subs.len().saturating_sub(2))
        .filter_map(|n| match n {
            Node::Lit(text, case) if !case.folds() => Some(text.clone()),
            _ => None,
        })
        .collect();
    (prefix, suffix, contains)
}

/// Prometheus' `findSetMatches`: the finite set of strings `node` matches (at most
/// [`MAX_SET_MATCHES`]) with their case sensitivity, or `None`.
fn find_set(node: &Node) -> Option<(Vec<String>, Case)> {
    match node {
        Node::Empty => Some((vec![String::new()], Case::Neutral)),
        Node::Lit(text, case) => Some((vec![text.clone()], *case)),
        Node::Class(ranges) => {
            let total: u64 = ranges
                .iter()
                .map(|&(a, b)| u64::from(b as u32 - a as u32) + 1)
                .sum();
            if total > MAX_SET_MATCHES as u64 {
                return None;
            }
            let mut out = Vec::with_capacity(total as usize);
            let mut case = Case::Neutral;
            for &(a, b) in ranges {
                for c in a..=b {
                    let s = c.to_string();
                    case = case.join(node::case_of_exact(&s))?;
                    out.push(s);
                }
            }
            Some((out, case))
        }
        Node::Alt(subs) => {
            let mut out = Vec::new();
            let mut case = Case::Neutral;
            for sub in subs {
                let (found, c) = find_set(sub)?;
                if out.len() + found.len() > MAX_SET_MATCHES {
                    return None;
                }
                case = case.join(c)?;
                out.extend(found);
            }
            Some((out, case))
        }
        Node::Concat(subs) => find_set_seq(subs),
        _ => None,
    }
}

/// The set of a concatenation: the cross product of its pieces' sets.
fn find_set_seq(subs: &[Node]) -> Option<(Vec<String>, Case)> {
    if subs.is_empty() {
        return None;
    }
    let mut out = vec![String::new()];
    let mut case = Case::Neutral;
    for sub in subs {
        let (found, c) = find_set(sub)?;
        if out.len() * found.len() > MAX_SET_MATCHES {
            return None;
        }
        case = case.join(c)?;
        out = out
            .iter()
            .flat_map(|base| found.iter().map(move |f| format!("{base}{f}")))
            .collect();
    }
    Some((out, case))
}

/// Prometheus' `isSimpleConcatenationPattern`: `.*` first and last, only `.*` and
/// case-sensitive literals between (`.*a.*b.*`).
fn is_simple_concatenation(node: &Node) -> bool {
    let Node::Concat(subs) = node else {
        return false;
    };
    subs.len() >= 2
        && subs[0].is_match_any()
        && subs[subs.len() - 1].is_match_any()
        && subs[1..subs.len() - 1]
            .iter()
            .all(|n| n.is_match_any() || n.is_exact_literal())
}

/// Prometheus' `stringMatcherFromRegexpInternal`: a string matcher equivalent to `node`, or
/// `None` if its shape is not one of the recognised ones.
fn string_matcher(node: &Node) -> Option<StringMatcher> {
    match node {
        Node::Plus(sub) => match **sub {
            Node::AnyChar => Some(StringMatcher::AnyNonEmpty { match_nl: true }),
            Node::AnyCharNotNl => Some(StringMatcher::AnyNonEmpty { match_nl: false }),
            _ => None,
        },
        Node::Star(sub) => match **sub {
            Node::AnyChar => Some(StringMatcher::True),
            Node::AnyCharNotNl => Some(StringMatcher::AnyWithoutNewline),
            _ => None,
        },
        Node::Quest(sub) => match **sub {
            Node::AnyChar => Some(StringMatcher::ZeroOrOneChar { match_nl: true }),
            Node::AnyCharNotNl => Some(StringMatcher::ZeroOrOneChar { match_nl: false }),
            _ => None,
        },
        Node::Empty => Some(StringMatcher::Empty),
        Node::Lit(text, case) => Some(StringMatcher::Equal(Literal::new(text, case.folds()))),
        Node::Alt(subs) => subs
            .iter()
            .map(string_matcher)
            .collect::<Option<Vec<_>>>()
            .map(StringMatcher::Or),
        Node::Concat(subs) => concat_string_matcher(subs),
        _ => None,
    }
}

fn is_wildcard(n: &Node) -> bool {
    matches!(n, Node::Star(_) | Node::Plus(_) | Node::Quest(_))
}

fn concat_string_matcher(subs: &[Node]) -> Option<StringMatcher> {
    if subs.len() == 1 {
        return string_matcher(&subs[0]);
    }
    let mut middle = subs;
    let mut left = None;
    let mut right = None;
    if middle.first().is_some_and(is_wildcard) {
        left = Some(string_matcher(&middle[0])?);
        middle = &middle[1..];
    }
    if middle.last().is_some_and(is_wildcard) {
        right = Some(string_matcher(&middle[middle.len() - 1])?);
        middle = &middle[..middle.len() - 1];
    }
    let mut set = find_set_seq(middle);
    if set.is_none() && middle.len() == 2 {
        // A literal next to one more recognisable piece: `foo(.+|bar)`, `(.*|x)foo`.
        if right.is_none() {
            if let Node::Lit(text, case) = &middle[0] {
                if let Some(r) = string_matcher(&middle[1]) {
                    right = Some(r);
                    set = Some((vec![text.clone()], *case));
                }
            }
        }
        if set.is_none() && left.is_none() {
            if let Node::Lit(text, case) = &middle[1] {
                if let Some(l) = string_matcher(&middle[0]) {
                    left = Some(l);
                    set = Some((vec![text.clone()], *case));
                }
            }
        }
    }
    let (matches, case) = set?;
    if matches.is_empty() {
        return None;
    }
    let fold = case.folds();
    let lits = matches.iter().map(|m| Literal::new(m, fold));
    match (left, right) {
        (None, None) => Some(StringMatcher::Or(lits.map(StringMatcher::Equal).collect())),
        (None, Some(r)) => {
            let mut alts: Vec<StringMatcher> = lits
                .map(|prefix| StringMatcher::Prefix {
                    prefix,
                    right: Box::new(r.clone()),
                })
                .collect();
            Some(if alts.len() == 1 {
                alts.remove(0)
            } else {
                StringMatcher::Or(alts)
            })
        }
        (Some(l), None) => {
            let mut alts: Vec<StringMatcher> = lits
                .map(|suffix| StringMatcher::Suffix {
                    left: Box::new(l.clone()),
                    suffix,
                })
                .collect();
            Some(if alts.len() == 1 {
                alts.remove(0)
            } else {
                StringMatcher::Or(alts)
            })
        }
        // No case-insensitive substring search: leave those to the automaton.
        (Some(_), Some(_)) if fold => None,
        (Some(l), Some(r)) => Some(StringMatcher::Contains {
            substrings: matches
                .iter()
                .map(|m| Finder::new(m).into_owned())
                .collect(),
            left: Some(Box::new(l)),
            right: Some(Box::new(r)),
        }),
    }
}
