//! Fuzz body for the label-matcher regex: [`FastRegexMatcher`] must always agree with the
//! plain anchored automaton, and neither may panic or hang.
//!
//! Input layout: the bytes up to the first `0x00` are the pattern (capped at
//! [`MAX_PATTERN_LEN`]), the rest is split at further `0x00` bytes into values to match. Bytes
//! that are not UTF-8 are replaced (label values and patterns are strings).

use tsdb_index::fast_regex::{plain_regex, FastRegexMatcher};

/// Longest pattern tried; longer ones are cut, so that compile time stays bounded.
pub const MAX_PATTERN_LEN: usize = 1024;

/// Most values tried per input.
const MAX_VALUES: usize = 64;

/// Compiles the pattern (an error is fine, but both compilers must then agree that it is
/// one unless only the automaton hit its size limit) and checks every value.
pub fn regex_matcher(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0);
    let raw_pattern = parts.next().unwrap_or_default();
    let raw_pattern = &raw_pattern[..raw_pattern.len().min(MAX_PATTERN_LEN)];
    let pattern = String::from_utf8_lossy(raw_pattern);
    let fast = FastRegexMatcher::new(&pattern);
    let plain = plain_regex(&pattern);
    let (fast, plain) = match (fast, plain) {
        (Ok(f), Ok(p)) => (f, p),
        // A syntax error is an error for both.
        (Err(_), Err(_)) => return,
        (Err(e), Ok(_)) => {
            panic!("fast matcher rejects {pattern:?} that the automaton accepts: {e}")
        }
        // The fast path may decide a pattern without building the automaton, so a pattern
        // beyond the automaton's size limit can still work here.
        (Ok(_), Err(_)) => return,
    };
    assert_eq!(fast.pattern(), pattern);
    let mut values: Vec<String> = parts
        .take(MAX_VALUES)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    values.push(String::new());
    if let Some(set) = fast.set_matches() {
        values.extend(set.iter().cloned());
    }
    if let Some(prefix) = fast.prefix() {
        values.push(prefix.to_string());
    }
    for v in &values {
        let want = plain.is_match(v.as_str());
        assert_eq!(
            fast.matches(v),
            want,
            "pattern {pattern:?} value {v:?} strategy {}",
            fast.strategy()
        );
        if want {
            if let Some(set) = fast.set_matches() {
                assert!(
                    set.contains(v),
                    "{pattern:?}: {v:?} matches but is not in the set"
                );
            }
            if let Some(prefix) = fast.prefix() {
                assert!(
                    v.starts_with(prefix),
                    "{pattern:?}: {v:?} lacks prefix {prefix:?}"
                );
            }
        }
    }
}
