//! String matchers: plain string operations that decide a regex match without the automaton,
//! one per shape of regex that Prometheus' `FastRegexMatcher` recognises (`.*`, `.+`, `.?`,
//! literals, alternations of literals, literal prefix / suffix around such pieces, and
//! `.*(a|b).*` contains).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use memchr::memmem::Finder;
use smallvec::SmallVec;

use super::fold;

/// Number of alternatives from which an alternation of literals is looked up in a hash set
/// rather than compared one by one (Prometheus measured the same crossover, 16).
pub(crate) const MAP_THRESHOLD: usize = 16;

/// Byte equality that avoids a `memcmp` call for the short strings label values mostly are.
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() <= 16 {
        a.iter().zip(b).all(|(x, y)| x == y)
    } else {
        a == b
    }
}

/// Whether `s` starts with `p` (see [`bytes_eq`]).
#[inline]
pub(crate) fn starts_with(s: &[u8], p: &[u8]) -> bool {
    s.len() >= p.len() && bytes_eq(&s[..p.len()], p)
}

/// Whether `s` ends with `p` (see [`bytes_eq`]).
#[inline]
pub(crate) fn ends_with(s: &[u8], p: &[u8]) -> bool {
    s.len() >= p.len() && bytes_eq(&s[s.len() - p.len()..], p)
}

/// Position of `finder`'s needle in `hay`. Short haystacks (most label values) are scanned
/// directly: a plain loop beats setting up a vectorised search for a few dozen bytes.
#[inline]
pub(crate) fn find(finder: &Finder<'_>, hay: &[u8]) -> Option<usize> {
    let needle = finder.needle();
    if hay.len() >= 64 || needle.is_empty() {
        return finder.find(hay);
    }
    let first = needle[0];
    let last_start = hay.len().checked_sub(needle.len())?;
    (0..=last_start).find(|&i| hay[i] == first && bytes_eq(&hay[i..i + needle.len()], needle))
}

/// A literal with its case sensitivity; when `fold` is set the text is ASCII.
#[derive(Debug, Clone)]
pub(crate) struct Literal {
    pub(crate) text: Box<str>,
    pub(crate) fold: bool,
}

impl Literal {
    pub(crate) fn new(text: &str, fold: bool) -> Self {
        Literal {
            text: text.into(),
            fold,
        }
    }

    /// Byte length of the prefix of `s` that equals this literal.
    #[inline]
    fn prefix_len(&self, s: &str) -> Option<usize> {
        if self.fold {
            fold::prefix_len(s, &self.text)
        } else {
            starts_with(s.as_bytes(), self.text.as_bytes()).then_some(self.text.len())
        }
    }

    /// Byte length of the suffix of `s` that equals this literal.
    #[inline]
    fn suffix_len(&self, s: &str) -> Option<usize> {
        if self.fold {
            fold::suffix_len(s, &self.text)
        } else {
            ends_with(s.as_bytes(), self.text.as_bytes()).then_some(self.text.len())
        }
    }

    #[inline]
    fn equals(&self, s: &str) -> bool {
        if self.fold {
            fold::equal(s, &self.text)
        } else {
            *s == *self.text
        }
    }
}

/// A matcher that decides a whole value with string operations.
#[derive(Debug, Clone)]
pub(crate) enum StringMatcher {
    /// Only `""`.
    Empty,
    /// Anything (`.*` with newlines).
    True,
    /// Any non-empty value (`.+`); without `match_nl`, also no `\n`.
    AnyNonEmpty { match_nl: bool },
    /// Any value without `\n` (`(?-s:.*)`).
    AnyWithoutNewline,
    /// Zero or one character (`.?`); without `match_nl`, not `\n`.
    ZeroOrOneChar { match_nl: bool },
    /// Exactly one literal.
    Equal(Literal),
    /// Any of the alternatives.
    Or(Vec<StringMatcher>),
    /// Equal to one of a few literals (compared one by one).
    MultiSlice(MultiSlice),
    /// Equal to one of many literals, or one of many prefix matchers (hash lookups).
    MultiMap(Box<MultiMap>),
    /// A literal prefix, then `right` on the rest.
    Prefix {
        prefix: Literal,
        right: Box<StringMatcher>,
    },
    /// `left` on the start, then a literal suffix.
    Suffix {
        left: Box<StringMatcher>,
        suffix: Literal,
    },
    /// One of the (case-sensitive) substrings, with `left` matching before it and `right`
    /// after it; a missing side means the substring is anchored on that side.
    Contains {
        substrings: Vec<Finder<'static>>,
        left: Option<Box<StringMatcher>>,
        right: Option<Box<StringMatcher>>,
    },
}

impl StringMatcher {
    /// Whether `s` matches. The trivial shapes are decided inline; the others call out, so
    /// that the common cases do not pay for a large function's prologue.
    #[inline]
    pub(crate) fn matches(&self, s: &str) -> bool {
        match self {
            StringMatcher::Empty => s.is_empty(),
            StringMatcher::True => true,
            StringMatcher::AnyNonEmpty { match_nl: true } => !s.is_empty(),
            StringMatcher::Equal(Literal { text, fold: false }) => {
                bytes_eq(text.as_bytes(), s.as_bytes())
            }
            StringMatcher::Equal(Literal { text, fold: true }) => fold::equal(s, text),
            StringMatcher::MultiSlice(m) => m.matches(s),
            StringMatcher::MultiMap(m) => m.matches(s),
            other => other.matches_slow(s),
        }
    }

    #[inline(never)]
    fn matches_slow(&self, s: &str) -> bool {
        match self {
            StringMatcher::Empty => s.is_empty(),
            StringMatcher::True => true,
            StringMatcher::AnyNonEmpty { match_nl } => {
                !s.is_empty() && (*match_nl || memchr::memchr(b'\n', s.as_bytes()).is_none())
            }
            StringMatcher::AnyWithoutNewline => memchr::memchr(b'\n', s.as_bytes()).is_none(),
            StringMatcher::ZeroOrOneChar { match_nl } => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (None, _) => true,
                    (Some(c), None) => *match_nl || c != '\n',
                    _ => false,
                }
            }
            StringMatcher::Equal(lit) => lit.equals(s),
            StringMatcher::Or(ms) => ms.iter().any(|m| m.matches(s)),
            StringMatcher::MultiSlice(m) => m.matches(s),
            StringMatcher::MultiMap(m) => m.matches(s),
            StringMatcher::Prefix { prefix, right } => match prefix.prefix_len(s) {
                Some(n) => right.matches(&s[n..]),
                None => false,
            },
            StringMatcher::Suffix { left, suffix } => match suffix.suffix_len(s) {
                Some(n) => left.matches(&s[..s.len() - n]),
                None => false,
            },
            StringMatcher::Contains {
                substrings,
                left,
                right,
            } => contains_matches(s, substrings, left.as_deref(), right.as_deref()),
        }
    }

    /// Calls `f` on this matcher and every matcher nested in it.
    pub(crate) fn visit(&self, f: &mut dyn FnMut(&StringMatcher)) {
        f(self);
        match self {
            StringMatcher::Or(ms) => ms.iter().for_each(|m| m.visit(f)),
            StringMatcher::Prefix { right, .. } => right.visit(f),
            StringMatcher::Suffix { left, .. } => left.visit(f),
            StringMatcher::Contains { left, right, .. } => {
                left.iter().chain(right.iter()).for_each(|m| m.visit(f))
            }
            StringMatcher::MultiMap(m) => {
                m.prefixes.values().flatten().for_each(|(_, p)| p.visit(f))
            }
            _ => {}
        }
    }
}

fn contains_matches(
    s: &str,
    substrings: &[Finder<'static>],
    left: Option<&StringMatcher>,
    right: Option<&StringMatcher>,
) -> bool {
    let hay = s.as_bytes();
    for finder in substrings {
        let needle = finder.needle();
        match (left, right) {
            (Some(l), Some(r)) => {
                let mut from = 0;
                while let Some(at) = find(finder, &hay[from..]) {
                    let pos = from + at;
                    // A valid UTF-8 needle found in valid UTF-8 starts and ends on character
                    // boundaries, so these slices are valid.
                    if l.matches(&s[..pos]) && r.matches(&s[pos + needle.len()..]) {
                        return true;
                    }
                    from = pos + 1;
                }
            }
            (Some(l), None) => {
                if hay.ends_with(needle) && l.matches(&s[..s.len() - needle.len()]) {
                    return true;
                }
            }
            (None, Some(r)) => {
                if hay.starts_with(needle) && r.matches(&s[needle.len()..]) {
                    return true;
                }
            }
            (None, None) => {
                if hay == needle {
                    return true;
                }
            }
        }
    }
    false
}

/// Bit `min(len, 63)`: a cheap filter on the lengths present in a set of literals.
#[inline]
fn length_mask(len: usize) -> u64 {
    1u64 << len.min(63)
}

/// A few literals compared one by one.
#[derive(Debug, Clone)]
pub(crate) struct MultiSlice {
    values: Vec<Box<str>>,
    lengths: u64,
    fold: bool,
}

impl MultiSlice {
    fn matches(&self, s: &str) -> bool {
        if self.fold {
            return self.values.iter().any(|v| fold::equal(s, v));
        }
        self.lengths & length_mask(s.len()) != 0
            && self
                .values
                .iter()
                .any(|v| bytes_eq(v.as_bytes(), s.as_bytes()))
    }
}

/// FxHash-style hasher: literal sets are built from the pattern, not from attacker-controlled
/// keys, and label values are short, so a fast multiplicative hash beats SipHash here.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h.rotate_left(5) ^ w).wrapping_mul(SEED);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(buf)).wrapping_mul(SEED);
        }
        self.0 = (h.rotate_left(5) ^ bytes.len() as u64).wrapping_mul(SEED);
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(SEED);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(SEED);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FastBuild = BuildHasherDefault<FastHasher>;

/// Many literals (hash set) and/or many literal-prefix matchers (hash map keyed by the first
/// `min_prefix_len` bytes of the prefix). With `fold`, keys are folded (see
/// [`fold::normalise_into`]).
#[derive(Debug, Clone)]
pub(crate) struct MultiMap {
    values: HashSet<Box<[u8]>, FastBuild>,
    lengths: u64,
    /// Longest value in characters (for `fold`, where a value's byte length may differ).
    max_len: usize,
    prefixes: HashMap<Box<[u8]>, Vec<(Literal, StringMatcher)>, FastBuild>,
    min_prefix_len: usize,
    fold: bool,
}

impl MultiMap {
    fn matches(&self, s: &str) -> bool {
        if !self.fold {
            let b = s.as_bytes();
            if !self.values.is_empty()
                && self.lengths & length_mask(b.len()) != 0
                && self.values.contains(b)
            {
                return true;
            }
            if self.min_prefix_len > 0 && b.len() >= self.min_prefix_len {
                if let Some(list) = self.prefixes.get(&b[..self.min_prefix_len]) {
                    return list
                        .iter()
                        .any(|(p, m)| s.starts_with(&*p.text) && m.matches(&s[p.text.len()..]));
                }
            }
            return false;
        }
        // Folded: values are ASCII, so a value more than 3 bytes per character longer than
        // the longest one cannot match (KELVIN SIGN is the widest foldable character).
        if self.prefixes.is_empty() && s.len() > 3 * self.max_len {
            return false;
        }
        let mut norm: SmallVec<[u8; 64]> = SmallVec::new();
        fold::normalise_into(s, &mut norm);
        if self.values.contains(&norm[..]) {
            return true;
        }
        if self.min_prefix_len > 0 && norm.len() >= self.min_prefix_len {
            if let Some(list) = self.prefixes.get(&norm[..self.min_prefix_len]) {
                return list.iter().any(|(p, m)| match p.prefix_len(s) {
                    Some(n) => m.matches(&s[n..]),
                    None => false,
                });
            }
        }
        false
    }
}

/// Builds a matcher for "equal to one of `values`" (Prometheus' `newEqualMultiStringMatcher`):
/// a slice below [`MAP_THRESHOLD`] values, a hash set from there on.
pub(crate) fn multi_equal(values: &[String], fold: bool) -> StringMatcher {
    if values.len() < MAP_THRESHOLD {
        let values: Vec<Box<str>> = values.iter().map(|v| v.as_str().into()).collect();
        let lengths = values.iter().fold(0, |m, v| m | length_mask(v.len()));
        return StringMatcher::MultiSlice(MultiSlice {
            values,
            lengths,
            fold,
        });
    }
    let mut map = MultiMap {
        values: HashSet::with_capacity_and_hasher(values.len(), FastBuild::default()),
        lengths: 0,
        max_len: 0,
        prefixes: HashMap::default(),
        min_prefix_len: 0,
        fold,
    };
    for v in values {
        map.add_value(v);
    }
    StringMatcher::MultiMap(Box::new(map))
}

impl MultiMap {
    fn add_value(&mut self, v: &str) {
        let key: Box<[u8]> = if self.fold {
            v.bytes().map(|b| b.to_ascii_lowercase()).collect()
        } else {
            v.as_bytes().into()
        };
        self.lengths |= length_mask(key.len());
        self.max_len = self.max_len.max(v.chars().count());
        self.values.insert(key);
    }
}

/// Prometheus' `optimizeEqualOrPrefixStringMatchers`: an alternation made only of literals and
/// literal-prefix matchers, all of one case sensitivity and at least [`MAP_THRESHOLD`] of
/// them, becomes a [`MultiMap`]. Anything else is returned unchanged.
pub(crate) fn optimize_equal_or_prefix(input: StringMatcher) -> StringMatcher {
    let StringMatcher::Or(_) = input else {
        return input;
    };
    let mut equals: Vec<&Literal> = Vec::new();
    let mut prefixes: Vec<(&Literal, &StringMatcher)> = Vec::new();
    if !collect_equal_or_prefix(&input, &mut equals, &mut prefixes) {
        return input;
    }
    if equals.len() + prefixes.len() < MAP_THRESHOLD {
        return input;
    }
    // Literals without letters compare the same either way and fit in both kinds of map.
    let mut fold = None;
    for f in equals
        .iter()
        .copied()
        .chain(prefixes.iter().map(|(p, _)| *p))
        .filter(|l| !is_case_neutral(&l.text))
        .map(|l| l.fold)
    {
        match fold {
            None => fold = Some(f),
            Some(prev) if prev != f => return input,
            _ => {}
        }
    }
    let fold = fold.unwrap_or(false);
    let min_prefix_len = prefixes
        .iter()
        .map(|(p, _)| p.text.len())
        .min()
        .unwrap_or(0);
    if !prefixes.is_empty() && min_prefix_len == 0 {
        return input;
    }
    let mut map = MultiMap {
        values: HashSet::with_capacity_and_hasher(equals.len(), FastBuild::default()),
        lengths: 0,
        max_len: 0,
        prefixes: HashMap::default(),
        min_prefix_len,
        fold,
    };
    for lit in &equals {
        map.add_value(&lit.text);
    }
    for (p, right) in &prefixes {
        // Fold keys are ASCII (fold literals are ASCII), so byte and character positions agree.
        let key: Box<[u8]> = if fold {
            p.text.as_bytes()[..min_prefix_len]
                .iter()
                .map(|b| b.to_ascii_lowercase())
                .collect()
        } else {
            p.text.as_bytes()[..min_prefix_len].into()
        };
        map.prefixes
            .entry(key)
            .or_default()
            .push(((*p).clone(), (*right).clone()));
    }
    StringMatcher::MultiMap(Box::new(map))
}

fn is_case_neutral(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_alphabetic())
}

fn collect_equal_or_prefix<'a>(
    m: &'a StringMatcher,
    equals: &mut Vec<&'a Literal>,
    prefixes: &mut Vec<(&'a Literal, &'a StringMatcher)>,
) -> bool {
    let StringMatcher::Or(ms) = m else {
        return false;
    };
    for m in ms {
        match m {
            StringMatcher::Or(_) => {
                if !collect_equal_or_prefix(m, equals, prefixes) {
                    return false;
                }
            }
            StringMatcher::Equal(lit) => equals.push(lit),
            StringMatcher::Prefix { prefix, right } => prefixes.push((prefix, right)),
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_map_matches_kelvin_sign() {
        let values: Vec<String> = (0..20).map(|i| format!("key{i}")).collect();
        let m = multi_equal(&values, true);
        assert!(matches!(m, StringMatcher::MultiMap(_)));
        assert!(m.matches("KEY7"));
        assert!(m.matches("\u{212A}ey7"));
        assert!(!m.matches("key77"));
        assert!(!m.matches("kéy7"));
    }

    #[test]
    fn exact_slice_uses_lengths() {
        let m = multi_equal(&["a".into(), "bcd".into()], false);
        assert!(m.matches("a") && m.matches("bcd"));
        assert!(!m.matches("bc") && !m.matches("A"));
    }
}
