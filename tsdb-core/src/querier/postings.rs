//! Turning label matchers into a postings cursor over one block's index, with Prometheus'
//! semantics (a matcher that matches the empty string also selects series without the label).
//! The planning itself is `tsdb_index::postings_for_matchers`; an empty matcher list selects
//! every series.

use tsdb_index::postings::BoxPostings;
use tsdb_index::{postings_for_matchers, IndexError, Matcher, Reader};

/// The series of `index` matching all `matchers`, in series (= label) order.
pub fn select_postings<'a>(
    index: &'a Reader,
    matchers: &[Matcher],
) -> Result<BoxPostings<'a>, IndexError> {
    if matchers.is_empty() {
        return index.all_postings();
    }
    postings_for_matchers(index, matchers)
}
