//! Label matchers: `=`, `!=`, `=~`, `!~` with Prometheus' semantics.

use std::fmt;

use crate::fast_regex::{FastRegexMatcher, RegexError};
use crate::labels::go_quote;

/// The four kinds of label matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regexp,
    /// `!~`
    NotRegexp,
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        })
    }
}

/// Selects series by one label. A label that is absent has the value `""`.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The kind of comparison.
    pub kind: MatchType,
    /// The label name.
    pub name: String,
    /// The value or regex pattern.
    pub value: String,
    regex: Option<FastRegexMatcher>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.name == other.name && self.value == other.value
    }
}
impl Eq for Matcher {}

impl Matcher {
    /// Builds a matcher; regex kinds compile `value`.
    ///
    /// ```
    /// use tsdb_index::matcher::{Matcher, MatchType};
    /// let m = Matcher::new(MatchType::Regexp, "job", "api|web").unwrap();
    /// assert!(m.matches("web") && !m.matches("webx"));
    /// ```
    pub fn new(
        kind: MatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, RegexError> {
        let value = value.into();
        let regex = match kind {
            MatchType::Regexp | MatchType::NotRegexp => Some(FastRegexMatcher::new(&value)?),
            _ => None,
        };
        Ok(Matcher {
            kind,
            name: name.into(),
            value,
            regex,
        })
    }

    /// Shorthand for an `=` matcher.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            kind: MatchType::Equal,
            name: name.into(),
            value: value.into(),
            regex: None,
        }
    }

    /// Whether a label value (`""` when absent) satisfies the matcher.
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        match self.kind {
            MatchType::Equal => self.value == value,
            MatchType::NotEqual => self.value != value,
            MatchType::Regexp => self.regex.as_ref().is_some_and(|r| r.matches(value)),
            MatchType::NotRegexp => !self.regex.as_ref().is_some_and(|r| r.matches(value)),
        }
    }

    /// Whether the matcher selects series that lack the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// The compiled regex, for regex kinds.
    pub fn regex(&self) -> Option<&FastRegexMatcher> {
        self.regex.as_ref()
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.kind, go_quote(&self.value))
    }
}
