//! Fuzz body for the OpenMetrics text parser of `tsdb import openmetrics`.

use tsdb_examples::openmetrics::{Entry, Parser};

/// Parses `data` to the end (or the first error), building every sample's label set. Must not
/// panic or loop: every entry consumes at least one line.
pub fn openmetrics(data: &[u8]) {
    let mut p = Parser::new(data);
    let mut last = 0usize;
    let mut entries = 0usize;
    loop {
        match p.next_entry() {
            Ok(Some(e)) => {
                assert!(
                    p.position() > last || entries == 0,
                    "parser did not advance"
                );
                last = p.position();
                entries += 1;
                assert!(entries <= data.len() + 1, "more entries than bytes");
                if let Entry::Sample(s) = e {
                    if let Ok(l) = s.to_labels() {
                        let _ = l.to_string();
                    }
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
}
