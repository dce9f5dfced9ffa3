//! Fuzz body for the OpenMetrics text parser of `tsdb import openmetrics`.

use tsdb_examples::openmetrics::{Entry, Parser};

/// Parses `data` to the end (or the first error), building every sample's label set. Must not
/// panic or loop: every entry consumes at least one line.
pub fn openmetrics(data: &[u8]) {
    let mut p = Parser::new(data);
    let mut last = 0usize;
    let mut entries = 0usize;
    while let Ok(Some(e)) = p.next_entry() {
        assert!(p.position() > last, "parser did not advance");
        last = p.position();
        entries += 1;
        assert!(entries <= data.len(), "more entries than bytes");
        if let Entry::Sample(s) = e {
            if let Ok(l) = s.to_labels() {
                let _ = l.to_string();
            }
        }
    }
}
