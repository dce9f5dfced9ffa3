//! Runs the `promql_parser` fuzz body over seed queries (the promqltest corpus and hand-picked
//! edge cases), deterministic pseudo-random mutations of them, random token soups and very deep
//! nesting.

use tsdb_fuzz::harness::{shared_dir, SplitMix64};
use tsdb_fuzz::promql_parser::promql_parser;

fn seeds() -> Vec<String> {
    let dir = shared_dir().join("promqltest/testdata");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "promqltest corpus missing at {} ({e}); set SHARED_DIR",
            dir.display()
        )
    });
    let mut out = Vec::new();
    for e in entries {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        // Everything after the eval header's time arguments is a query; taking the whole
        // line after `eval` is good enough for seeds (mutations cover the rest).
        for line in text.lines() {
            if let Some(rest) = line.trim().strip_prefix("eval") {
                if let Some(pos) = rest.find(['(', '{']) {
                    let start = rest[..pos].rfind(' ').map_or(0, |i| i + 1);
                    out.push(rest[start..].to_string());
                }
            }
        }
    }
    assert!(out.len() > 1000, "too few corpus seeds: {}", out.len());
    out.extend(
        [
            "",
            "1",
            "-Inf",
            "0x1F_F",
            "1_000.5e3",
            "\"a\\xc5\\u00e9\"",
            "`raw`",
            "foo{\"my.metric\", \"a.b\"=~\"x|y\", c!~'z'}",
            "sum without (a) (rate(x[5m] offset -1h @ end()))",
            "a + on(b) group_left(c) fill_left(1) fill_right(-2) d",
            "x[5m+step():min_of(range(), 1h)^2] offset (1m*2) anchored",
            "info(x, {k=\"v\"})",
            "h </ 1 >/ 2",
            "topk by (a) (3, x) unless bottomk(1, y)",
            "((((((((((((1))))))))))))",
        ]
        .map(String::from),
    );
    out
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "@",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "</",
    ">/",
    "=~",
    "!~",
    "=",
    "and",
    "or",
    "unless",
    "atan2",
    "sum",
    "topk",
    "count_values",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "fill",
    "fill_left",
    "anchored",
    "smoothed",
    "start()",
    "end()",
    "step()",
    "range()",
    "min_of",
    "rate",
    "info",
    "foo",
    "\"s\"",
    "1",
    "5m",
    "0x1f",
    "Inf",
    " ",
    "#c\n",
];

#[test]
fn seeds_and_mutations_never_panic() {
    let seeds = seeds();
    for s in &seeds {
        promql_parser(s.as_bytes());
    }
    let mut rng = SplitMix64(0x5eed_1234);
    for _ in 0..6000 {
        let mut data = seeds[rng.below(seeds.len())].clone().into_bytes();
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.truncate(rng.below(data.len() + 1)),
            2 => {
                let i = rng.below(data.len() + 1);
                let tok = TOKENS[rng.below(TOKENS.len())];
                data.splice(i..i, tok.bytes());
            }
            3 if !data.is_empty() => {
                let i = rng.below(data.len());
                let j = (i + rng.below(8)).min(data.len());
                data.drain(i..j);
            }
            _ => {
                let i = rng.below(data.len() + 1);
                data.insert(i, rng.next_u64() as u8);
            }
        }
        promql_parser(&data);
    }
}

#[test]
fn token_soups_never_panic() {
    let mut rng = SplitMix64(42);
    for _ in 0..4000 {
        let n = 1 + rng.below(12);
        let q: String = (0..n)
            .map(|_| TOKENS[rng.below(TOKENS.len())])
            .collect::<Vec<_>>()
            .join(" ");
        promql_parser(q.as_bytes());
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for (open, close) in [("(", ")"), ("-", ""), ("sum(", ")"), ("abs(", ")")] {
        let q = format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
        promql_parser(q.as_bytes());
    }
    let chain = vec!["x"; 50_000].join(" + ");
    promql_parser(chain.as_bytes());
    let subqueries = format!("x{}", "[1m:]".repeat(50_000));
    promql_parser(subqueries.as_bytes());
    // Prometheus' own stress input: 10000 unary/binary pairs and 1000 nested subqueries.
    let q = format!("({}){}", "-{}-1".repeat(10_000), "[1m:]".repeat(1000));
    promql_parser(q.as_bytes());
}
