//! Parse speed of our PromQL parser against the `promql-parser` crate (crates.io, the parser
//! GreptimeDB uses) on representative queries: selectors, rates, aggregations, binary
//! operations with vector matching, subqueries, histogram quantiles and long dashboards-style
//! expressions. Both parse the same strings; ours also type-checks, as Prometheus does.
//!
//! Run: `cargo bench -p tsdb-benches --bench promql_parse`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

/// Queries both parsers accept (no 3.x-only syntax), shaped like real dashboards and rules.
const QUERIES: &[&str] = &[
    "up",
    r#"http_requests_total{job="api-server", method=~"GET|POST", status!="500"}"#,
    "rate(http_requests_total[5m])",
    r#"sum by (job, instance) (rate(http_requests_total{job="api"}[5m]))"#,
    "histogram_quantile(0.99, sum by (le, service) (rate(request_duration_seconds_bucket[5m])))",
    r#"sum(rate(errors_total{env="prod"}[5m])) / sum(rate(requests_total{env="prod"}[5m])) > 0.05"#,
    "max_over_time(deriv(rate(node_cpu_seconds_total[1m])[10m:30s])[1h:1m] offset 1d)",
    r#"node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / on (instance, device) group_left (mountpoint) node_filesystem_size_bytes * 100 < 10"#,
    "topk(10, sum without (pod, container) (container_memory_working_set_bytes)) and on (namespace) kube_namespace_labels",
    r#"(1 - avg by (instance) (irate(node_cpu_seconds_total{mode="idle"}[5m]))) * 100 + -2 ^ 3 ^ 2"#,
    r#"label_replace(up{job="node"}, "host", "$1", "instance", "([^:]+):.*") unless absent(up) or vector(1)"#,
    r#"sum by (cluster) (count_values("version", build_info @ 1700000000)) - quantile(0.5, x offset -5m)"#,
];

fn bench_parse(c: &mut Criterion) {
    let total: usize = QUERIES.iter().map(|q| q.len()).sum();
    // Both must accept every query, or the comparison is meaningless.
    for q in QUERIES {
        promql::parser::parse(q).unwrap_or_else(|e| panic!("ours rejects {q}: {e}"));
        promql_parser::parser::parse(q).unwrap_or_else(|e| panic!("crate rejects {q}: {e}"));
    }
    let mut g = c.benchmark_group("promql_parse");
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("ours", |b| {
        b.iter(|| {
            for q in QUERIES {
                black_box(promql::parser::parse(black_box(q)).unwrap());
            }
        })
    });
    g.bench_function("promql-parser crate", |b| {
        b.iter(|| {
            for q in QUERIES {
                black_box(promql_parser::parser::parse(black_box(q)).unwrap());
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("promql_print");
    g.throughput(Throughput::Bytes(total as u64));
    let ours: Vec<_> = QUERIES
        .iter()
        .map(|q| promql::parser::parse(q).unwrap())
        .collect();
    let theirs: Vec<_> = QUERIES
        .iter()
        .map(|q| promql_parser::parser::parse(q).unwrap())
        .collect();
    g.bench_function("ours", |b| {
        b.iter(|| {
            for e in &ours {
                black_box(e.to_string());
            }
        })
    });
    g.bench_function("promql-parser crate", |b| {
        b.iter(|| {
            for e in &theirs {
                black_box(e.to_string());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
