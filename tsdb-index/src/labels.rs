//! Label sets: sorted name/value pairs identifying a series.
//!
//! A [`Labels`] keeps all its names and values in one shared, immutable buffer, so cloning is a
//! reference-count increment and a set of any size costs one heap allocation.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One name/value pair borrowed from a [`Labels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label<'a> {
    /// The label name.
    pub name: &'a str,
    /// The label value.
    pub value: &'a str,
}

/// An immutable, sorted set of labels with unique names.
///
/// Buffer layout: for each label, `u32 LE name length | name | u32 LE value length | value`.
#[derive(Clone, Default)]
pub struct Labels {
    buf: Option<Arc<[u8]>>,
}

impl Labels {
    /// The empty label set.
    pub const fn empty() -> Self {
        Labels { buf: None }
    }

    /// Builds a label set from pairs in any order. Later duplicates of a name win; pairs with an
    /// empty value are dropped (an empty value means "label absent" in Prometheus).
    ///
    /// ```
    /// use tsdb_index::labels::Labels;
    /// let l = Labels::from_pairs([("job", "api"), ("__name__", "up")]);
    /// assert_eq!(l.to_string(), r#"{__name__="up", job="api"}"#);
    /// ```
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut v: Vec<(N, V)> = pairs.into_iter().collect();
        v.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        // Keep the last occurrence of each name.
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(v.len());
        for (n, val) in &v {
            if let Some(last) = out.last_mut() {
                if last.0 == n.as_ref() {
                    *last = (n.as_ref(), val.as_ref());
                    continue;
                }
            }
            out.push((n.as_ref(), val.as_ref()));
        }
        out.retain(|(_, val)| !val.is_empty());
        Self::from_sorted(out)
    }

    /// Builds a label set from pairs already sorted by name with unique names. Pairs with an
    /// empty value are kept as given; callers that need Prometheus' "empty means absent" rule
    /// use [`Labels::from_pairs`].
    pub fn from_sorted<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut buf = Vec::new();
        for (n, v) in pairs {
            buf.extend_from_slice(&(n.len() as u32).to_le_bytes());
            buf.extend_from_slice(n.as_bytes());
            buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
            buf.extend_from_slice(v.as_bytes());
        }
        if buf.is_empty() {
            Labels::empty()
        } else {
            Labels {
                buf: Some(buf.into()),
            }
        }
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> LabelsIter<'_> {
        LabelsIter {
            rest: self.buf.as_deref().unwrap_or(&[]),
        }
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.buf.is_none()
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Whether a label named `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A new set with `name` set to `value` (or removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut b = LabelsBuilder::from(self);
        b.set(name, value);
        b.build()
    }

    /// A new set without the given names.
    pub fn without(&self, names: &[&str]) -> Labels {
        Labels::from_sorted(
            self.iter()
                .filter(|l| !names.contains(&l.name))
                .map(|l| (l.name, l.value)),
        )
    }

    /// A new set with only the given names.
    pub fn keep_only(&self, names: &[&str]) -> Labels {
        Labels::from_sorted(
            self.iter()
                .filter(|l| names.contains(&l.name))
                .map(|l| (l.name, l.value)),
        )
    }
}

/// Iterator over the labels of a [`Labels`].
#[derive(Debug, Clone)]
pub struct LabelsIter<'a> {
    rest: &'a [u8],
}

impl<'a> LabelsIter<'a> {
    fn take_str(&mut self) -> &'a str {
        let (len, rest) = self.rest.split_at(4);
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (s, rest) = rest.split_at(len);
        self.rest = rest;
        // The buffer is only ever built from `&str`s, at their boundaries.
        std::str::from_utf8(s).expect("labels buffer holds UTF-8 at string boundaries")
    }
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = Label<'a>;
    fn next(&mut self) -> Option<Label<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let name = self.take_str();
        let value = self.take_str();
        Some(Label { name, value })
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = Label<'a>;
    type IntoIter = LabelsIter<'a>;
    fn into_iter(self) -> LabelsIter<'a> {
        self.iter()
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        self.buf.as_deref().unwrap_or(&[]) == other.buf.as_deref().unwrap_or(&[])
    }
}
impl Eq for Labels {}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.buf.as_deref().unwrap_or(&[]).hash(state)
    }
}

impl Ord for Labels {
    /// Prometheus' order: label by label, name then value, byte-wise; a prefix sorts first.
    fn cmp(&self, other: &Self) -> Ordering {
        let mut a = self.iter();
        let mut b = other.iter();
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => {
                    let o = x.name.cmp(y.name).then_with(|| x.value.cmp(y.value));
                    if o != Ordering::Equal {
                        return o;
                    }
                }
            }
        }
    }
}
impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Labels {
    /// Prometheus' `String()` form: `{a="b", c="d"}` with Go-quoted values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", l.name, go_quote(l.value))?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Quotes a string as Go's `strconv.Quote` does (the form Prometheus prints label values in).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint` for the characters label values contain in
/// practice: everything except control and format characters and unassigned separators.
fn is_go_printable(c: char) -> bool {
    !(c.is_control()
        || ('\u{80}'..='\u{9f}').contains(&c)
        || c == '\u{ad}'
        || ('\u{2028}'..='\u{2029}').contains(&c))
}

/// Builds a label set by setting and deleting labels.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    pairs: Vec<(String, String)>,
}

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.pairs.retain(|(n, _)| n != name);
        if !value.is_empty() {
            self.pairs.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Deletes `name`.
    pub fn del(&mut self, name: &str) -> &mut Self {
        self.pairs.retain(|(n, _)| n != name);
        self
    }

    /// The value currently set for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The finished, sorted label set.
    pub fn build(&self) -> Labels {
        let mut refs: Vec<(&str, &str)> = self
            .pairs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        refs.sort_unstable();
        Labels::from_sorted(refs)
    }
}

impl From<&Labels> for LabelsBuilder {
    fn from(l: &Labels) -> Self {
        LabelsBuilder {
            pairs: l
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_matches_prometheus() {
        let a = Labels::from_pairs([("a", "1")]);
        let b = Labels::from_pairs([("a", "1"), ("b", "0")]);
        let c = Labels::from_pairs([("a", "2")]);
        assert!(a < b && b < c);
        assert_eq!(b.get("b"), Some("0"));
        assert_eq!(b.len(), 2);
        assert_eq!(Labels::from_pairs([("x", "")]), Labels::empty());
    }

    #[test]
    fn display_quotes_like_go() {
        let l = Labels::from_pairs([("a", "q\"\\\n"), ("b", "ü")]);
        assert_eq!(l.to_string(), "{a=\"q\\\"\\\\\\n\", b=\"ü\"}");
    }
}
