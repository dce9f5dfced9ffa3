//! Builds the high-cardinality index of Prometheus' `BenchmarkQuerier` (tsdb/querier_bench_test.go)
//! with our writer. Included by several benches with `#[path]`.
#![allow(dead_code)]

use std::path::Path;

use tsdb_index::{Labels, Writer};

/// Makes label values ~50 bytes, as Prometheus' benchmark does.
pub const SUFFIX: &str = "aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd";

/// The series of Prometheus' benchmark for `n` in `0..n_max` (5 × 100k series per `n`;
/// Prometheus uses `n_max` = 10).
pub fn bench_series(n_max: usize) -> Vec<Labels> {
    let mut out = Vec::with_capacity(n_max * 500_000);
    for n in 0..n_max {
        for i in 0..100_000 {
            let iv = format!("{i}{SUFFIX}");
            let nv = format!("{n}{SUFFIX}");
            out.push(Labels::from_pairs([
                ("i", iv.as_str()),
                ("n", &nv),
                ("j", "foo"),
            ]));
            out.push(Labels::from_pairs([
                ("i", iv.as_str()),
                ("n", &nv),
                ("j", "bar"),
            ]));
            for (p, j) in [("0_", "bar"), ("1_", "bar"), ("2_", "foo")] {
                let nv = format!("{p}{n}{SUFFIX}");
                out.push(Labels::from_pairs([
                    ("i", iv.as_str()),
                    ("n", &nv),
                    ("j", j),
                ]));
            }
        }
    }
    out.sort_unstable();
    out
}

/// Writes `series` (sorted) as an index at `path` with no chunks.
pub fn write_index(path: &Path, series: &[Labels]) {
    let mut syms: Vec<&str> = series
        .iter()
        .flat_map(|l| l.iter().flat_map(|l| [l.name, l.value]))
        .collect();
    syms.sort_unstable();
    syms.dedup();
    let mut w = Writer::create(path).unwrap();
    for s in syms {
        w.add_symbol(s).unwrap();
    }
    for l in series {
        w.add_series(l, &[]).unwrap();
    }
    w.finish().unwrap();
}

/// How many `n` values to generate: `INDEX_BENCH_N` or 2 (1M series).
pub fn n_max() -> usize {
    std::env::var("INDEX_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}
