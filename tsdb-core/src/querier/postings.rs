//! Turning label matchers into a postings cursor over one block's index, with Prometheus'
//! semantics: a matcher that matches the empty string also selects series without the label.

use tsdb_index::postings::{self, BoxPostings};
use tsdb_index::{IndexError, Matcher, Reader};

/// The series of `index` matching all `matchers`, in series (= label) order.
pub fn select_postings<'a>(
    index: &'a Reader,
    matchers: &[Matcher],
) -> Result<BoxPostings<'a>, IndexError> {
    let mut intersect: Vec<BoxPostings<'a>> = Vec::new();
    let mut subtract: Vec<BoxPostings<'a>> = Vec::new();
    for m in matchers {
        if m.matches_empty() {
            // Series lacking the label match; drop those whose value does not match.
            let reject = |v: &str| !m.matches(v);
            subtract.push(index.postings_for_label_matching(&m.name, Some(&reject))?);
        } else {
            let accept = |v: &str| m.matches(v);
            intersect.push(index.postings_for_label_matching(&m.name, Some(&accept))?);
        }
    }
    if intersect.is_empty() {
        intersect.push(index.all_postings()?);
    }
    let mut p = postings::intersect(intersect);
    if !subtract.is_empty() {
        p = postings::without(p, postings::merge(subtract));
    }
    Ok(p)
}
