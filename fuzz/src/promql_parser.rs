//! Fuzz body for the PromQL lexer, parser, type checker and printer.

use promql::parser::{parse_metric_selector, parse_with, Options};

/// Parses `data` (as UTF-8, lossily) with every feature on and with the defaults. Properties
/// checked: no panic or stack overflow (nesting is bounded); an error's position lies inside
/// the input; a parsed tree prints to a query that parses again and prints identically.
pub fn promql_parser(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    for opts in [Options::all(), Options::default()] {
        match parse_with(&input, opts) {
            Ok(expr) => {
                let printed = expr.to_string();
                let again = parse_with(&printed, opts).unwrap_or_else(|e| {
                    panic!("printed form {printed:?} of {input:?} does not parse: {e}")
                });
                assert_eq!(
                    again.to_string(),
                    printed,
                    "printing is not stable for {input:?}"
                );
            }
            Err(e) => {
                assert!(
                    e.pos.start <= e.pos.end && e.pos.end <= input.len(),
                    "error position {:?} outside the input ({} bytes): {e}",
                    e.pos,
                    input.len()
                );
            }
        }
    }
    let _ = parse_metric_selector(&input);
}
