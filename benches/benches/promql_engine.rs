//! PromQL engine benchmarks on in-memory data.
//!
//! The data reproduces the go-peer recipe (`/work/shared/tools/go-peer`, `benchPromQL`):
//! 1,000 counters `http_requests_total{job="api",instance="i-<s%50>",code=<200|404|500>,
//! series="<s>"}` plus 1,000 gauges `node_temp{job="node",instance=...,series=...}`, 480
//! samples 15 s apart from t0 = 1_700_000_000_000, values drawn with splitmix64 from
//! `seed ^ 0xdb` (counters `+= intn(100)`, gauges `20 + float()*10`), so the same queries can
//! be timed side by side with Prometheus' Go engine. A second set adds classic-histogram
//! buckets for `histogram_quantile`, and a 10k-series counter set for `rate`.

use criterion::{criterion_group, criterion_main, Criterion};
use promql::engine::{Engine, EngineOpts};
use promql::parser::{parse_with, Options};
use promql::test_storage::TestStorage;
use promql::value::Value;
use tsdb_index::Labels;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn float(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn intn(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const T0: i64 = 1_700_000_000_000;
const STEP_MS: i64 = 15_000;

/// The go-peer data set: `n_series` counters and `n_series` gauges, `n_steps` samples each.
fn go_peer_storage(seed: u64, n_series: usize, n_steps: usize) -> TestStorage {
    let codes = ["200", "404", "500"];
    let mut r = SplitMix64(seed ^ 0xdb);
    let mut lsets = Vec::with_capacity(2 * n_series);
    for s in 0..n_series {
        let inst = format!("i-{}", s % 50);
        let series = s.to_string();
        lsets.push(Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("instance", inst.as_str()),
            ("code", codes[s % 3]),
            ("series", series.as_str()),
        ]));
        lsets.push(Labels::from_pairs([
            ("__name__", "node_temp"),
            ("job", "node"),
            ("instance", inst.as_str()),
            ("series", series.as_str()),
        ]));
    }
    let mut vals = vec![0.0f64; lsets.len()];
    let mut st = TestStorage::new();
    for step in 0..n_steps {
        let ts = T0 + step as i64 * STEP_MS;
        for (i, l) in lsets.iter().enumerate() {
            if i % 2 == 0 {
                vals[i] += r.intn(100) as f64;
            } else {
                vals[i] = 20.0 + r.float() * 10.0;
            }
            st.append_float(l.clone(), ts, vals[i]).expect("in order");
        }
    }
    st
}

/// Classic histograms: `req_duration_seconds_bucket{le}` for 200 series, 12 buckets each.
fn add_histograms(st: &mut TestStorage, n_series: usize, n_steps: usize) {
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ];
    let mut r = SplitMix64(7);
    for s in 0..n_series {
        let svc = format!("svc-{}", s % 20);
        let series = s.to_string();
        let mut cum = vec![0.0f64; les.len()];
        for step in 0..n_steps {
            let ts = T0 + step as i64 * STEP_MS;
            let mut acc = 0.0;
            for (b, le) in les.iter().enumerate() {
                acc += r.intn(10) as f64;
                cum[b] += acc;
                let l = Labels::from_pairs([
                    ("__name__", "req_duration_seconds_bucket"),
                    ("service", svc.as_str()),
                    ("series", series.as_str()),
                    ("le", le),
                ]);
                st.append_float(l, ts, cum[b]).expect("in order");
            }
        }
    }
}

fn count_points(v: &Value) -> usize {
    match v {
        Value::Matrix(m) => m.iter().map(|s| s.floats.len() + s.histograms.len()).sum(),
        Value::Vector(v) => v.len(),
        _ => 1,
    }
}

fn bench(c: &mut Criterion) {
    let mut st = go_peer_storage(1, 1000, 480);
    add_histograms(&mut st, 200, 480);
    let big = go_peer_storage(2, 5000, 40); // 10k series for rate.
    let engine = Engine::new(EngineOpts {
        max_samples: 50_000_000,
        ..Default::default()
    });
    let end = T0 + 479 * STEP_MS;
    let queries: &[(&str, &str, bool, &TestStorage)] = &[
        // The go-peer queries (range: 2h at 1m step; instant: at the last sample).
        (
            "range_sum_rate",
            "sum(rate(http_requests_total[5m]))",
            true,
            &st,
        ),
        (
            "range_sum_by_code_rate",
            r#"sum by (code) (rate(http_requests_total{job="api"}[5m]))"#,
            true,
            &st,
        ),
        (
            "range_topk_avg_over_time",
            "topk(5, avg_over_time(node_temp[10m]))",
            true,
            &st,
        ),
        (
            "range_regex_selector",
            r#"count(http_requests_total{instance=~"i-1.*",code!~"5.."})"#,
            true,
            &st,
        ),
        (
            "instant_sum_by_instance",
            "sum by (instance) (http_requests_total)",
            false,
            &st,
        ),
        (
            "instant_quantile_over_time",
            "quantile_over_time(0.9, node_temp[30m])",
            false,
            &st,
        ),
        // More shapes.
        (
            "instant_rate_10k_series",
            "rate(http_requests_total[5m])",
            false,
            &big,
        ),
        (
            "range_histogram_quantile",
            "histogram_quantile(0.9, sum by (service, le) (rate(req_duration_seconds_bucket[5m])))",
            true,
            &st,
        ),
        (
            "range_binary_join",
            "rate(http_requests_total[5m]) / on(instance, series) group_left node_temp",
            true,
            &st,
        ),
        (
            "range_subquery",
            "max_over_time(rate(http_requests_total[5m])[30m:1m])",
            true,
            &st,
        ),
    ];
    let mut g = c.benchmark_group("promql_engine");
    g.sample_size(10);
    for (name, q, range, storage) in queries {
        let expr = parse_with(q, Options::all()).expect("query parses");
        let run = || {
            let r = if *range {
                engine.range_query(*storage, &expr, T0, end, 60_000, None)
            } else {
                let at = if std::ptr::eq(*storage, &big) {
                    T0 + 39 * STEP_MS
                } else {
                    end
                };
                engine.instant_query(*storage, &expr, at, None)
            };
            count_points(&r.value.expect("query succeeds"))
        };
        assert!(run() > 0, "{name} returns data");
        g.bench_function(*name, |b| b.iter(run));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
