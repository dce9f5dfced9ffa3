//! Nesting is bounded: the deepest accepted tree parses, prints and type-checks on a default
//! (2 MiB) test thread; one level more is a parse error, never a stack overflow.

use promql::parser::{parse_with, Options, MAX_DEPTH};

fn nested(open: &str, close: &str, n: usize) -> String {
    format!("{}foo{}", open.repeat(n), close.repeat(n))
}

#[test]
fn deepest_accepted_nesting_works_and_deeper_is_an_error() {
    // Each parenthesis, call or aggregation adds one level (the innermost selector is one).
    for (open, close) in [("(", ")"), ("abs(", ")"), ("sum(", ")"), ("-", "")] {
        let ok = nested(open, close, MAX_DEPTH - 1);
        let e = parse_with(&ok, Options::all())
            .unwrap_or_else(|e| panic!("{open}..{close} x{}: {e}", MAX_DEPTH - 1));
        let printed = e.to_string();
        assert!(parse_with(&printed, Options::all()).is_ok());
        let err = parse_with(&nested(open, close, MAX_DEPTH + 10), Options::all()).unwrap_err();
        assert!(err.message.contains("nested too deeply"), "{err}");
    }
}

#[test]
fn long_operator_chains_are_bounded() {
    let ok = vec!["x"; MAX_DEPTH - 1].join(" + ");
    parse_with(&ok, Options::all()).unwrap();
    let too_long = vec!["x"; MAX_DEPTH + 1].join(" or ");
    let err = parse_with(&too_long, Options::all()).unwrap_err();
    assert!(err.message.contains("nested too deeply"), "{err}");
    let subqueries = format!("x{}", "[5m:]".repeat(MAX_DEPTH + 1));
    assert!(parse_with(&subqueries, Options::all()).is_err());
}
