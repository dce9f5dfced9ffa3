//! Turning label matchers into postings: the [`IndexReader`] trait that both block indexes and
//! the head's in-memory index implement, and [`postings_for_matchers`], Prometheus' query
//! planning (tsdb/querier.go) over it.
//!
//! The plan: matchers that require the label to be set intersect; matchers that can match the
//! absent label (the empty value) subtract the series that carry a non-matching value; `=` and
//! set regexes (`a|b|c`) go straight to the postings of their values; other regexes filter the
//! label's values. With only subtracting matchers, the base is the all-postings list.

use crate::error::IndexError;
use crate::matcher::{MatchType, Matcher};
use crate::postings::{self, BoxPostings};

/// The label name and value of the list holding every series.
pub const ALL_POSTINGS_KEY: (&str, &str) = ("", "");

/// The postings lookups query planning needs from an index.
pub trait IndexReader {
    /// The union of the postings of `name` = each of `values` (unknown values contribute
    /// nothing). `(ALL_POSTINGS_KEY)` gives every series.
    fn postings<'a>(&'a self, name: &str, values: &[&str]) -> Result<BoxPostings<'a>, IndexError>;

    /// The union of the postings of every value of `name` for which `accept` is true.
    fn postings_for_label_matching<'a>(
        &'a self,
        name: &str,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<BoxPostings<'a>, IndexError>;

    /// The union of the postings of every value of `name`: every series that has the label.
    fn postings_for_all_label_values<'a>(
        &'a self,
        name: &str,
    ) -> Result<BoxPostings<'a>, IndexError>;

    /// The values of `name`, sorted.
    fn label_values<'a>(&'a self, name: &str) -> Result<Vec<&'a str>, IndexError>;
}

impl IndexReader for crate::reader::Reader {
    fn postings<'a>(&'a self, name: &str, values: &[&str]) -> Result<BoxPostings<'a>, IndexError> {
        crate::reader::Reader::postings(self, name, values)
    }
    fn postings_for_label_matching<'a>(
        &'a self,
        name: &str,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<BoxPostings<'a>, IndexError> {
        crate::reader::Reader::postings_for_label_matching(self, name, Some(accept))
    }
    fn postings_for_all_label_values<'a>(
        &'a self,
        name: &str,
    ) -> Result<BoxPostings<'a>, IndexError> {
        crate::reader::Reader::postings_for_label_matching(self, name, None)
    }
    fn label_values<'a>(&'a self, name: &str) -> Result<Vec<&'a str>, IndexError> {
        crate::reader::Reader::label_values(self, name)
    }
}

fn is_not(m: &Matcher) -> bool {
    matches!(m.kind, MatchType::NotEqual | MatchType::NotRegexp)
}

/// The set of values a regex matcher matches exactly, if its pattern is such a set.
fn set_matches(m: &Matcher) -> Option<Vec<&str>> {
    let set = m.regex()?.set_matches()?;
    if set.is_empty() {
        return None;
    }
    Some(set.iter().map(|s| s.as_str()).collect())
}

/// Series carrying label `m.name` with a value that `m` (a positive matcher) accepts.
fn postings_for_matcher<'a, R: IndexReader + ?Sized>(
    ix: &'a R,
    m: &Matcher,
) -> Result<BoxPostings<'a>, IndexError> {
    match m.kind {
        MatchType::Equal => ix.postings(&m.name, &[&m.value]),
        MatchType::Regexp => match set_matches(m) {
            Some(set) => ix.postings(&m.name, &set),
            None => ix.postings_for_label_matching(&m.name, &|v| m.matches(v)),
        },
        // Only positive matchers come here; keep the general meaning for safety.
        _ => ix.postings_for_label_matching(&m.name, &|v| m.matches(v)),
    }
}

/// Series carrying label `m.name` with a value that `m` rejects.
fn inverse_postings_for_matcher<'a, R: IndexReader + ?Sized>(
    ix: &'a R,
    m: &Matcher,
) -> Result<BoxPostings<'a>, IndexError> {
    match m.kind {
        // Rejected by `!~ set` means matched by the set.
        MatchType::NotRegexp => {
            if let Some(set) = set_matches(m) {
                return ix.postings(&m.name, &set);
            }
        }
        MatchType::NotEqual => return ix.postings(&m.name, &[&m.value]),
        MatchType::Equal | MatchType::Regexp if m.value.is_empty() => {
            return ix.postings_for_all_label_values(&m.name);
        }
        _ => {}
    }
    ix.postings_for_label_matching(&m.name, &|v| !m.matches(v))
}

/// The series of `ix` selected by all of `ms`, in series order.
///
/// An absent label has the value `""`, so `{foo=""}` selects series without `foo` and
/// `{foo!=""}` those with it. A single matcher with empty name and value selects all series.
///
/// ```
/// use tsdb_index::mem_postings::MemPostings;
/// use tsdb_index::postings_for_matchers::postings_for_matchers;
/// use tsdb_index::{Labels, Matcher, MatchType, postings::collect};
/// let mut ix = MemPostings::new();
/// ix.add(1, &Labels::from_pairs([("job", "api"), ("env", "prod")]));
/// ix.add(2, &Labels::from_pairs([("job", "web")]));
/// let ms = [Matcher::new(MatchType::Regexp, "job", "api|web").unwrap(), Matcher::equal("env", "")];
/// assert_eq!(collect(postings_for_matchers(&ix, &ms).unwrap()).unwrap(), vec![2]);
/// ```
pub fn postings_for_matchers<'a, R: IndexReader + ?Sized>(
    ix: &'a R,
    ms: &[Matcher],
) -> Result<BoxPostings<'a>, IndexError> {
    let (all_name, all_value) = ALL_POSTINGS_KEY;
    if ms.len() == 1 && ms[0].name.is_empty() && ms[0].value.is_empty() {
        return ix.postings(all_name, &[all_value]);
    }

    // Names that some matcher requires to be set (it rejects the empty value).
    let must_be_set = |name: &str| ms.iter().any(|m| m.name == name && !m.matches_empty());
    let is_subtracting = |m: &Matcher| !must_be_set(&m.name) || (is_not(m) && m.matches_empty());

    let mut order: Vec<&Matcher> = ms.iter().collect();
    // Intersecting matchers first (stable), so the base of subtraction is as small as possible.
    order.sort_by_key(|m| is_subtracting(m));

    let mut its: Vec<BoxPostings<'a>> = Vec::new();
    let mut not_its: Vec<BoxPostings<'a>> = Vec::new();
    if order.iter().all(|m| is_subtracting(m)) {
        its.push(ix.postings(all_name, &[all_value])?);
    }

    for m in order {
        if m.name.is_empty() && m.value.is_empty() {
            return Err(IndexError::InvalidInput {
                file: String::new(),
                reason: "the all-postings matcher cannot be combined with others".into(),
            });
        }
        match (m.kind, m.value.as_str()) {
            (MatchType::Regexp, ".*") => continue,
            (MatchType::NotRegexp, ".*") => return Ok(postings::empty()),
            (MatchType::Regexp, ".+") => {
                let it = ix.postings_for_all_label_values(&m.name)?;
                if it.is_known_empty() {
                    return Ok(postings::empty());
                }
                its.push(it);
                continue;
            }
            (MatchType::NotRegexp, ".+") => {
                not_its.push(ix.postings_for_all_label_values(&m.name)?);
                continue;
            }
            _ => {}
        }
        if must_be_set(&m.name) {
            let matches_empty = m.matches_empty();
            if is_not(m) && matches_empty {
                // l!="foo": subtract the series with a value the matcher rejects.
                not_its.push(inverse_postings_for_matcher(ix, m)?);
            } else if is_not(m) {
                // l!="" and the like: the series with a value the matcher accepts.
                let it = ix.postings_for_label_matching(&m.name, &|v| m.matches(v))?;
                if it.is_known_empty() {
                    return Ok(postings::empty());
                }
                its.push(it);
            } else {
                let it = postings_for_matcher(ix, m)?;
                if it.is_known_empty() {
                    return Ok(postings::empty());
                }
                its.push(it);
            }
        } else {
            // The matcher accepts the absent label: remove series whose value it rejects.
            not_its.push(inverse_postings_for_matcher(ix, m)?);
        }
    }

    let mut it = postings::intersect(its);
    for n in not_its {
        it = postings::without(it, n);
    }
    Ok(it)
}
