//! Property: for generated queries (selectors with every matcher kind and quoted names,
//! numbers in every notation, durations, offsets, `@`, ranges, subqueries, calls,
//! aggregations with grouping, binary operators with every modifier), the printed form of the
//! parsed tree parses back to the same tree (positions aside) and prints identically.

mod parser_common;

use parser_common::normalize;
use promql::parser::{parse_with, Options};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("up".to_string()),
        Just("http_requests_total".to_string()),
        Just("job:rate5m:sum".to_string()),
        Just("sum".to_string()),
        Just("offset".to_string()),
        Just("by".to_string()),
    ]
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("job".to_string()),
        Just("le".to_string()),
        Just("\"a.b\"".to_string()),
        Just("on".to_string()),
        Just("_x9".to_string()),
    ]
}

fn string_lit() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"api\"".to_string()),
        Just("'a\\'b'".to_string()),
        Just("`raw\\n`".to_string()),
        Just("\"\\u00e9\\t\"".to_string()),
        Just("\"\"".to_string()),
        Just("\"x|y.*\"".to_string()),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..100000).prop_map(|n| n.to_string()),
        (0.0f64..1e6).prop_map(|f| format!("{f}")),
        Just("0x1F".to_string()),
        Just("1_000".to_string()),
        Just("1.5e3".to_string()),
        Just("Inf".to_string()),
        Just("NaN".to_string()),
        Just(".5".to_string()),
        Just("5m".to_string()),
        Just("1h30m".to_string()),
    ]
}

fn duration() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("5m".to_string()),
        Just("1h30m".to_string()),
        Just("90s".to_string()),
        Just("1d".to_string()),
        Just("2w".to_string()),
        Just("100ms".to_string()),
        Just("30".to_string()),
        Just("5m + 1m".to_string()),
        Just("step() * 2".to_string()),
        Just("(10m)".to_string()),
        Just("min_of(range(), 1h)".to_string()),
        Just("2m ^ 1".to_string()),
    ]
}

fn modifiers() -> impl Strategy<Value = String> {
    (
        prop::option::of(prop_oneof![
            Just(" offset 5m".to_string()),
            Just(" offset -1h".to_string()),
            Just(" offset step()".to_string()),
            Just(" offset -(1m + 30s)".to_string()),
        ]),
        prop::option::of(prop_oneof![
            Just(" @ 1700000000".to_string()),
            Just(" @ 12.5".to_string()),
            Just(" @ start()".to_string()),
            Just(" @ end()".to_string()),
        ]),
    )
        .prop_map(|(o, a)| format!("{}{}", a.unwrap_or_default(), o.unwrap_or_default()))
}

fn selector() -> impl Strategy<Value = String> {
    let matcher = (
        label(),
        prop_oneof![Just("="), Just("!="), Just("=~"), Just("!~")],
        string_lit(),
    )
        .prop_map(|(l, op, v)| format!("{l}{op}{v}"));
    (
        name(),
        prop::collection::vec(matcher, 0..3),
        modifiers(),
        any::<bool>(),
    )
        .prop_map(|(n, ms, m, braces)| {
            if ms.is_empty() && !braces {
                format!("{n}{m}")
            } else {
                format!("{n}{{{}}}{m}", ms.join(", "))
            }
        })
}

fn range_selector() -> impl Strategy<Value = String> {
    (
        name(),
        duration(),
        prop_oneof![Just(""), Just(" anchored"), Just(" smoothed")],
        modifiers(),
    )
        .prop_map(|(n, d, ext, m)| format!("{n}[{d}]{ext}{m}"))
}

/// Instant-vector expressions.
fn vector_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        selector(),
        range_selector().prop_map(|r| format!("rate({r})")),
        number().prop_map(|n| format!("vector({n})")),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        let grouping = || prop::collection::vec(label(), 0..3).prop_map(|ls| ls.join(", "));
        prop_oneof![
            (
                prop_oneof![
                    Just("sum"),
                    Just("avg"),
                    Just("max"),
                    Just("group"),
                    Just("stddev")
                ],
                prop_oneof![Just("by"), Just("without")],
                grouping(),
                inner.clone(),
                any::<bool>()
            )
                .prop_map(|(op, m, g, e, before)| if before {
                    format!("{op} {m} ({g}) ({e})")
                } else {
                    format!("{op}({e}) {m} ({g})")
                }),
            (
                prop_oneof![Just("topk"), Just("bottomk"), Just("limitk")],
                number(),
                inner.clone()
            )
                .prop_map(|(op, n, e)| format!("{op}({n}, {e})")),
            (string_lit(), inner.clone()).prop_map(|(s, e)| format!("count_values({s}, {e})")),
            (
                inner.clone(),
                prop_oneof![
                    Just("+"),
                    Just("-"),
                    Just("*"),
                    Just("/"),
                    Just("%"),
                    Just("^"),
                    Just("atan2"),
                    Just("== bool"),
                    Just(">"),
                    Just("<="),
                    Just("</"),
                    Just(">/"),
                ],
                prop::option::of((
                    prop_oneof![Just("on"), Just("ignoring")],
                    grouping(),
                    prop::option::of((
                        prop_oneof![Just("group_left"), Just("group_right")],
                        prop::collection::vec(Just("extra".to_string()), 0..2)
                    ))
                )),
                prop::option::of(prop_oneof![
                    Just(" fill(0)"),
                    Just(" fill_left(-1.5)"),
                    Just(" fill_right(2) fill_left(3)")
                ]),
                inner.clone()
            )
                .prop_map(|(l, op, m, fill, r)| {
                    let mut s = format!("{l} {op}");
                    if let Some((on, g, grp)) = m {
                        s += &format!(" {on}({g})");
                        if let Some((side, inc)) = grp {
                            s += &format!(" {side}({})", inc.join(", "));
                        }
                    }
                    s += fill.unwrap_or_default();
                    format!("{s} {r}")
                }),
            (
                inner.clone(),
                prop_oneof![Just("and"), Just("or"), Just("unless")],
                inner.clone()
            )
                .prop_map(|(l, op, r)| format!("{l} {op} {r}")),
            (inner.clone(), number()).prop_map(|(e, n)| format!("{e} * {n}")),
            inner.clone().prop_map(|e| format!("-({e})")),
            inner.clone().prop_map(|e| format!("abs({e})")),
            (
                inner.clone(),
                duration(),
                prop::option::of(duration()),
                modifiers()
            )
                .prop_map(|(e, r, s, m)| format!(
                    "max_over_time(({e})[{r}:{}]{m})",
                    s.unwrap_or_default()
                )),
            (inner.clone(), string_lit())
                .prop_map(|(e, s)| format!("label_replace({e}, \"dst\", {s}, \"src\", \"(.*)\")")),
            (number(), inner.clone()).prop_map(|(n, e)| format!("histogram_quantile({n}, {e})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn print_then_parse_gives_the_same_tree(q in vector_expr()) {
        let opts = Options::all();
        // Generated queries may still be invalid (e.g. `limitk` needs its flag, regexes may
        // not compile); those are skipped, but most must parse.
        if let Ok(ast) = parse_with(&q, opts) {
            let printed = ast.to_string();
            let again = parse_with(&printed, opts)
                .unwrap_or_else(|e| panic!("{q}\nprinted {printed}\n{e}"));
            prop_assert_eq!(normalize(again.clone()), normalize(ast), "{} printed as {}", q, printed);
            prop_assert_eq!(again.to_string(), printed);
        }
    }
}

#[test]
fn generated_queries_mostly_parse() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = vector_expr();
    let mut ok = 0;
    for _ in 0..300 {
        let q = strategy.new_tree(&mut runner).unwrap().current();
        if parse_with(&q, Options::all()).is_ok() {
            ok += 1;
        }
    }
    assert!(ok > 200, "only {ok} of 300 generated queries parse");
}
