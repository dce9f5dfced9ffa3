//! Prometheus-compatible regex matching of label values.
//!
//! Patterns are fully anchored and `.` matches newlines, as in Prometheus 3.
//! (This first version always runs the automaton; the literal and set short-cuts of
//! Prometheus' `FastRegexMatcher` are being added.)

use regex_automata::meta::Regex;

/// Error from compiling a label-matcher regex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {message}")]
pub struct RegexError {
    /// The pattern as given.
    pub pattern: String,
    /// What the regex compiler said.
    pub message: String,
}

/// A compiled, fully anchored label-value regex.
#[derive(Debug, Clone)]
pub struct FastRegexMatcher {
    pattern: String,
    regex: Regex,
}

impl FastRegexMatcher {
    /// Compiles `pattern` with Prometheus' semantics (anchored at both ends, `(?s)`).
    pub fn new(pattern: &str) -> Result<Self, RegexError> {
        let anchored = format!("^(?s:{pattern})$");
        let regex = Regex::new(&anchored).map_err(|e| RegexError {
            pattern: pattern.to_string(),
            message: e.to_string(),
        })?;
        Ok(FastRegexMatcher {
            pattern: pattern.to_string(),
            regex,
        })
    }

    /// Whether `value` matches the whole pattern.
    pub fn matches(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// If the pattern matches exactly a finite set of strings (e.g. `a|b|c`), that set.
    pub fn set_matches(&self) -> Option<&[String]> {
        None
    }
}
