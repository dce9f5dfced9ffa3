//! The whole stack as real processes on loopback (see `e2e/mod.rs`), checked against a single
//! Prometheus holding all the data:
//!
//! - a scrape target in this test whose series change every 5 s and carry that step's
//!   timestamp, so that every Prometheus scraping it stores exactly the same samples;
//! - two Prometheus 3.5 replicas (`replica="a"`/`"b"`, `cluster="e2e"`) cutting 20 s blocks,
//!   each with a `tsdb sidecar` serving the StoreAPI and shipping the blocks to moto's S3;
//! - a Prometheus 3.5 agent remote-writing to `tsdb serve` (StoreAPI on gRPC);
//! - `tsdb store` over the bucket, `tsdb compact` run once with replica deduplication;
//! - `tsdb query` over the sidecars, `tsdb serve` and `tsdb store`, deduplicating replicas;
//! - a reference Prometheus 3.5 scraping the same target with default settings.
//!
//! The same instant and range queries (selectors, `rate`, `increase`, `sum by`, `count`,
//! `histogram_quantile` over the scraped histograms, ...) must answer exactly alike through
//! the querier and through the reference; so must the store alone over the compacted range
//! and `tsdb serve` alone; and the global view must still answer alike once both replicas
//! and their sidecars are gone.

mod e2e;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use e2e::{
    api_time, get_json, now_ms, result_lines, start_memcached, start_moto, start_prometheus,
    wait_for,
};

/// The target's series change, and carry a new timestamp, every `STEP_MS`.
const STEP_MS: i64 = 5_000;
/// Prometheus' block range for the two replicas (min = max block duration).
const BLOCK: &str = "20s";
const PATHS: [&str; 2] = ["/api", "/ui"];
const LE: [&str; 5] = ["0.05", "0.1", "0.5", "1", "+Inf"];
/// The value each histogram bucket's observations add to `_sum`.
const MIDS: [f64; 5] = [0.025, 0.075, 0.3, 0.75, 2.0];

/// The target's exposition at `now`, for a target armed at `start` (0: not yet; no series).
/// Every series has one value per step, with the step's timestamp: a pure function of the
/// step, whoever scrapes it and whenever within the step.
fn exposition(start: i64, now: i64) -> String {
    use std::fmt::Write;
    if start == 0 || now < start {
        return String::new();
    }
    let i = (now - start) / STEP_MS;
    let t = start + i * STEP_MS;
    let mut s = String::new();
    s.push_str("# TYPE e2e_requests_total counter\n");
    for (p, path) in PATHS.iter().enumerate() {
        let ok: i64 = (0..=i).map(|j| 3 + (j * 7 + p as i64) % 5).sum();
        // Resets every six steps.
        let failed = (i % 6) * (2 + p as i64);
        writeln!(
            s,
            "e2e_requests_total{{path=\"{path}\",code=\"200\"}} {ok} {t}"
        )
        .unwrap();
        writeln!(
            s,
            "e2e_requests_total{{path=\"{path}\",code=\"500\"}} {failed} {t}"
        )
        .unwrap();
    }
    s.push_str("# TYPE e2e_queue_length gauge\n");
    for q in 0..3i64 {
        let v = ((i * 13 + q * 5) % 17) as f64 - 3.5 + 0.25 * q as f64;
        writeln!(s, "e2e_queue_length{{queue=\"q{q}\"}} {v} {t}").unwrap();
    }
    s.push_str("# TYPE e2e_request_duration_seconds histogram\n");
    for (p, path) in PATHS.iter().enumerate() {
        let p = p as i64;
        let (mut buckets, mut sum) = ([0i64; 5], 0.0f64);
        for j in 0..=i {
            let w = [(j + p) % 3, 2, (j * 5 + p) % 4, 1, (j + p) % 2];
            let mut cumulative = 0;
            for (c, n) in w.iter().enumerate() {
                cumulative += n;
                buckets[c] += cumulative;
                sum += *n as f64 * MIDS[c];
            }
        }
        for (c, le) in LE.iter().enumerate() {
            writeln!(
                s,
                "e2e_request_duration_seconds_bucket{{path=\"{path}\",le=\"{le}\"}} {} {t}",
                buckets[c]
            )
            .unwrap();
        }
        writeln!(
            s,
            "e2e_request_duration_seconds_sum{{path=\"{path}\"}} {sum} {t}"
        )
        .unwrap();
        writeln!(
            s,
            "e2e_request_duration_seconds_count{{path=\"{path}\"}} {} {t}",
            buckets[4]
        )
        .unwrap();
    }
    s
}

/// Compared through every view, as instant and as range queries.
const QUERIES: &[&str] = &[
    "e2e_requests_total",
    "e2e_queue_length",
    "rate(e2e_requests_total[30s])",
    "irate(e2e_requests_total[20s])",
    "increase(e2e_requests_total{code=\"500\"}[1m])",
    "resets(e2e_requests_total[2m])",
    "sum by (path) (rate(e2e_requests_total[1m]))",
    "sum by (code) (increase(e2e_requests_total[45s]))",
    "count by (__name__) ({__name__=~\"e2e_.+\"})",
    "count(e2e_queue_length)",
    "avg(e2e_queue_length)",
    "max_over_time(e2e_queue_length[20s])",
    "deriv(e2e_queue_length[1m])",
    "topk(2, e2e_queue_length)",
    "e2e_queue_length > 3",
    "histogram_quantile(0.9, sum by (le) (rate(e2e_request_duration_seconds_bucket[1m])))",
    "histogram_quantile(0.5, rate(e2e_request_duration_seconds_bucket{path=\"/api\"}[30s]))",
    "sum(rate(e2e_request_duration_seconds_sum[1m])) / sum(rate(e2e_request_duration_seconds_count[1m]))",
    "up",
    "sum(up)",
];

/// Labels a view adds that the reference has not: external labels and replica labels.
const STRIP: &[&str] = &["cluster", "replica", "receive_replica"];

fn query(addr: &str, q: &str, t: i64) -> serde_json::Value {
    let time = api_time(t);
    get_json(
        &format!("http://{addr}/api/v1/query"),
        &[("query", q), ("time", &time)],
    )
    .unwrap_or_else(|| panic!("{addr}: {q} @ {time} failed"))
}

fn query_range(addr: &str, q: &str, start: i64, end: i64, step: &str) -> serde_json::Value {
    let (s, e) = (api_time(start), api_time(end));
    get_json(
        &format!("http://{addr}/api/v1/query_range"),
        &[("query", q), ("start", &s), ("end", &e), ("step", step)],
    )
    .unwrap_or_else(|| panic!("{addr}: {q} over [{s}, {e}] failed"))
}

/// Every query of [`QUERIES`], at each of `times` and over `[start, end]` at two steps,
/// answers the same through `view` as through `reference`; returns how many answers were
/// compared. The reference must have data for every range query.
fn compare(
    view_name: &str,
    view: &str,
    reference: &str,
    times: &[i64],
    start: i64,
    end: i64,
) -> usize {
    let mut compared = 0;
    for q in QUERIES {
        for &t in times {
            let theirs = result_lines(&query(reference, q, t), &[]);
            let ours = result_lines(&query(view, q, t), STRIP);
            assert_eq!(ours, theirs, "{view_name}: {q} @ {}", api_time(t));
            compared += 1;
        }
        for step in ["3s", "5s"] {
            let theirs = result_lines(&query_range(reference, q, start, end, step), &[]);
            assert!(!theirs.is_empty(), "reference has no data for {q}");
            let ours = result_lines(&query_range(view, q, start, end, step), STRIP);
            assert_eq!(
                ours,
                theirs,
                "{view_name}: {q} over [{}, {}] step {step}",
                api_time(start),
                api_time(end)
            );
            compared += 1;
        }
    }
    compared
}

/// The value of a one-series instant answer, if any.
/// An instant answer as sorted (labels without `cluster`, value) pairs.
fn metric_values(answer: &serde_json::Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = answer["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("not a vector: {answer}"))
        .iter()
        .map(|s| {
            let mut m = s["metric"].as_object().cloned().unwrap_or_default();
            m.remove("cluster");
            let v = s["value"][1].as_str().unwrap_or_default().to_string();
            (serde_json::Value::Object(m).to_string(), v)
        })
        .collect();
    out.sort();
    out
}

fn single_value(answer: &serde_json::Value) -> Option<f64> {
    answer["data"]["result"][0]["value"][1]
        .as_str()?
        .parse()
        .ok()
}

/// Waits until every node in `nodes` holds the target's sample at step `t`.
fn wait_for_step(nodes: &[(&str, &str)], t: i64) {
    for (name, addr) in nodes {
        wait_for(
            &format!("{name} to hold the sample at {t}"),
            Duration::from_secs(30),
            || {
                let a = query(addr, "timestamp(e2e_queue_length{queue=\"q0\"})", t);
                (single_value(&a) == Some(t as f64 / 1000.0)).then_some(())
            },
        );
    }
}

/// A Prometheus configuration scraping `target` every second.
fn prometheus_config(target: &str, global_extra: &str, rest: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n{global_extra}\
         scrape_configs:\n  - job_name: e2e\n    static_configs:\n      - targets: ['{target}']\n{rest}"
    )
}

/// One block of `tsdb bucket inspect`'s table.
#[derive(Debug)]
struct BlockRow {
    until: i64,
    labels: String,
    source: String,
}

fn inspect(stack: &e2e::Stack, url: &str) -> Vec<BlockRow> {
    let out = stack.run_tsdb("bucket-inspect", &["bucket", "inspect", "--bucket", url]);
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let until = chrono::NaiveDateTime::parse_from_str(f.get(2)?, "%Y-%m-%dT%H:%M:%S%.3fZ")
                .ok()?
                .and_utc()
                .timestamp_millis();
            Some(BlockRow {
                until,
                labels: f.get(6)?.to_string(),
                source: f.get(10)?.to_string(),
            })
        })
        .collect()
}

#[test]
fn the_global_view_answers_as_a_single_prometheus_does() {
    let mut stack = e2e::Stack::new();

    // The scrape target, armed once every Prometheus scrapes it.
    let armed = Arc::new(AtomicI64::new(0));
    let target = {
        let armed = armed.clone();
        e2e::MetricsTarget::start(move |now| exposition(armed.load(Ordering::SeqCst), now))
    };

    let moto = start_moto(&mut stack, "moto", "e2e");
    let memcached = start_memcached(&mut stack, "memcached");
    let bucket = format!(
        "s3://e2e/blocks?endpoint=http://{moto}&access_key_id=test&secret_access_key=test&region=us-east-1"
    );

    // The receiver; the agent's series carry `cluster` and `replica="agent"` themselves.
    let serve_dir = stack.dir("serve");
    let serve = stack.spawn_tsdb(
        "serve",
        &[
            "serve",
            "--data",
            serve_dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
            "--external-label",
            "receive_replica=r0",
            "--no-wal-fsync",
        ],
        &[
            "tsdb serve: listening on ",
            "tsdb serve: StoreAPI gRPC listening on ",
        ],
    );
    let (serve_http, serve_grpc) = (serve[0].clone(), serve[1].clone());

    // Four Prometheus 3.5: two replicas cutting short blocks for their sidecars, an agent
    // remote-writing to `tsdb serve`, and the reference.
    let block_flags = [
        format!("--storage.tsdb.min-block-duration={BLOCK}"),
        format!("--storage.tsdb.max-block-duration={BLOCK}"),
    ];
    let block_flags: Vec<&str> = block_flags.iter().map(String::as_str).collect();
    let mut replicas = Vec::new();
    for r in ["a", "b"] {
        let config = prometheus_config(
            &target.addr,
            &format!("  external_labels: {{cluster: e2e, replica: {r}}}\n"),
            "",
        );
        let name = format!("prometheus-{r}");
        let addr = start_prometheus(&mut stack, &name, &config, &block_flags);
        replicas.push((name, addr));
    }
    let agent_config = prometheus_config(
        &target.addr,
        "  external_labels: {cluster: e2e, replica: agent}\n",
        &format!(
            "remote_write:\n  - url: http://{serve_http}/api/v1/write\n    queue_config: {{batch_send_deadline: 500ms, min_backoff: 100ms, max_backoff: 1s}}\n"
        ),
    );
    start_prometheus(&mut stack, "prometheus-agent", &agent_config, &["--agent"]);
    let reference = start_prometheus(
        &mut stack,
        "prometheus-reference",
        &prometheus_config(&target.addr, "", ""),
        &[],
    );

    let mut sidecars = Vec::new();
    for (name, addr) in &replicas {
        let tsdb_path = stack.path().join(name).join("data");
        let sidecar = format!("sidecar-{}", &name["prometheus-".len()..]);
        let addrs = stack.spawn_tsdb(
            &sidecar,
            &[
                "sidecar",
                "--prometheus",
                &format!("http://{addr}"),
                "--tsdb-path",
                tsdb_path.to_str().unwrap(),
                "--bucket",
                &bucket,
                "--ship-interval",
                "2s",
                "--grpc-listen",
                "127.0.0.1:0",
                "--listen",
                "127.0.0.1:0",
            ],
            &["tsdb sidecar: StoreAPI gRPC listening on "],
        );
        sidecars.push((sidecar, addrs[0].clone()));
    }
    let store_cache = stack.dir("store-cache");
    let store = stack.spawn_tsdb(
        "store",
        &[
            "store",
            "--bucket",
            &bucket,
            "--cache-dir",
            store_cache.to_str().unwrap(),
            "--memcached",
            &memcached,
            "--listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
            "--sync-interval",
            "1s",
        ],
        &[
            "tsdb store: listening on ",
            "tsdb store: StoreAPI gRPC listening on ",
        ],
    );
    let (store_http, store_grpc) = (store[0].clone(), store[1].clone());

    // Every Prometheus scrapes the target (the agent's `up` arrives through `tsdb serve`);
    // then the target is armed at a step boundary far enough ahead that each of them scrapes
    // it within the first step.
    let mut scrapers: Vec<(&str, &str)> = replicas
        .iter()
        .map(|(n, a)| (n.as_str(), a.as_str()))
        .collect();
    scrapers.push(("prometheus-reference", &reference));
    scrapers.push(("tsdb serve", &serve_http));
    for (name, addr) in &scrapers {
        wait_for(
            &format!("{name} to scrape the target"),
            Duration::from_secs(60),
            || {
                let a = get_json(&format!("http://{addr}/api/v1/query"), &[("query", "up")])?;
                (single_value(&a) == Some(1.0)).then_some(())
            },
        );
    }
    let start = (now_ms() + 2_000).div_euclid(STEP_MS) * STEP_MS + STEP_MS;
    armed.store(start, Ordering::SeqCst);
    println!("target armed at {start}");

    // Wait for both replicas' blocks to reach 30 s past the start in the bucket, then compact
    // it once, deduplicating the replicas.
    wait_for(
        "blocks of both replicas in the bucket",
        Duration::from_secs(120),
        || {
            for (name, _) in &sidecars {
                stack.assert_running(name);
            }
            let rows = inspect(&stack, &bucket);
            let until = |r: &str| {
                rows.iter()
                    .filter(|b| b.labels.contains(&format!("replica=\"{r}\"")))
                    .map(|b| b.until)
                    .max()
            };
            let covered = until("a")?.min(until("b")?);
            (covered >= start + 30_000).then_some(())
        },
    );
    let compacted = stack.run_tsdb(
        "compact",
        &[
            "compact",
            "--bucket",
            &bucket,
            "--data-dir",
            stack.dir("compact").to_str().unwrap(),
            "--deduplication.replica-label",
            "replica",
        ],
    );
    println!("{compacted}");
    assert!(compacted.contains("compacted group"), "{compacted}");
    let rows = inspect(&stack, &bucket);
    let merged_until = rows
        .iter()
        .filter(|b| b.source == "compactor")
        .map(|b| {
            assert_eq!(b.labels, "cluster=\"e2e\"", "{b:?}");
            b.until
        })
        .max()
        .unwrap_or_else(|| panic!("no compacted block: {rows:?}"));
    assert!(merged_until > start, "{rows:?}");

    // The store hides the replicas' blocks behind the merged one once it has synced.
    let probe = "count by (replica, receive_replica) (e2e_queue_length{queue=\"q0\"})";
    wait_for(
        "the store to serve the compacted block",
        Duration::from_secs(30),
        || {
            let a = query(&store_http, probe, merged_until - 1);
            (metric_values(&a) == [("{}".to_string(), "1".to_string())]).then_some(())
        },
    );

    let mut all = vec!["query".to_string(), "--listen".into(), "127.0.0.1:0".into()];
    for e in sidecars
        .iter()
        .map(|(_, a)| a.clone())
        .chain([serve_grpc.clone(), store_grpc.clone()])
    {
        all.extend(["--endpoint".to_string(), e]);
    }
    let dedup_flags = [
        "--replica-label",
        "replica",
        "--replica-label",
        "receive_replica",
    ];
    let args = |extra: &[&str]| -> Vec<String> {
        all.iter()
            .cloned()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let announce = ["tsdb query: listening on "];
    // The global view merges the copies sample by sample (`chain`): they hold the same
    // samples, so it is exact. Thanos' default, `penalty`, is exact only until one copy
    // ends (the compacted block, here): then the next copy's first samples are skipped.
    let mut chain = dedup_flags.to_vec();
    chain.extend(["--deduplication.func", "chain"]);
    let global_args = args(&chain);
    let global = stack.spawn_tsdb(
        "query",
        &global_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &announce,
    )[0]
    .clone();
    let penalty_args = args(&dedup_flags);
    let penalty = stack.spawn_tsdb(
        "query-penalty",
        &penalty_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &announce,
    )[0]
    .clone();
    let raw_args = args(&[]);
    let raw = stack.spawn_tsdb(
        "query-raw",
        &raw_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &announce,
    )[0]
    .clone();
    let mut store_args = vec![
        "query",
        "--listen",
        "127.0.0.1:0",
        "--endpoint",
        &store_grpc,
    ];
    store_args.extend(dedup_flags);
    let store_only = stack.spawn_tsdb("query-store", &store_args, &announce)[0].clone();

    // Without deduplication the querier shows every copy: one per replica, the agent's, and
    // the compacted one (which has no replica label).
    let copies = metric_values(&query(&raw, probe, merged_until - 1));
    let one = |m: &str| (m.to_string(), "1".to_string());
    assert_eq!(
        copies,
        [
            one(r#"{"receive_replica":"r0","replica":"agent"}"#),
            one(r#"{"replica":"a"}"#),
            one(r#"{"replica":"b"}"#),
            one("{}"),
        ]
    );

    // The newest step every node holds; before it, all of them hold the same samples.
    let end = (now_ms() - 2_000 - start).div_euclid(STEP_MS) * STEP_MS + start;
    let nodes: Vec<(&str, &str)> = scrapers.clone();
    wait_for_step(&nodes, end);
    let steps = (end - start) / STEP_MS + 1;
    let window = format!("{}s", (end - start) / 1000 + 1);
    for (name, addr) in &nodes {
        let a = query(
            addr,
            &format!("count_over_time(e2e_queue_length{{queue=\"q0\"}}[{window}])"),
            end,
        );
        assert_eq!(single_value(&a), Some(steps as f64), "{name} missed a step");
    }
    println!("comparing {steps} steps from {start} to {end}; blocks merged until {merged_until}");

    let times = [
        start,
        start + 2_500,
        start + 17_321,
        (start + end) / 2 + 7,
        merged_until - 1,
        end - 1,
        end,
    ];
    let mut compared = compare("querier", &global, &reference, &times, start, end);
    compared += compare("tsdb serve", &serve_http, &reference, &times, start, end);
    let merged_times = [
        start,
        start + 2_500,
        (start + merged_until) / 2,
        merged_until - 1,
    ];
    compared += compare(
        "store alone",
        &store_only,
        &reference,
        &merged_times,
        start,
        merged_until - 1,
    );
    compared += compare(
        "penalty dedup",
        &penalty,
        &reference,
        &merged_times,
        start,
        merged_until - 1,
    );

    // The store's postings, series and chunks went through memcached: looked up there, and
    // stored there after each bucket read.
    let (status, metrics) = e2e::http_get(&format!("http://{store_http}/metrics"), &[]);
    assert_eq!(status, 200);
    let total = |name: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let (requests, added) = (
        total("thanos_store_index_cache_requests_total"),
        total("thanos_store_index_cache_items_added_total"),
    );
    println!(
        "store cache (memcached): {requests} lookups, {} hits, {added} items added",
        total("thanos_store_index_cache_hits_total")
    );
    assert!(
        requests > 0.0 && added > 0.0,
        "memcached unused:\n{metrics}"
    );

    // Label APIs: the querier shows the external label, never the replica labels.
    let matcher = "{__name__=~\"e2e_.+\"}";
    let (s, e) = (api_time(start), api_time(end));
    let params = [
        ("match[]", matcher),
        ("start", s.as_str()),
        ("end", e.as_str()),
    ];
    let names = |addr: &str| {
        get_json(&format!("http://{addr}/api/v1/labels"), &params).unwrap()["data"].clone()
    };
    let mut ours: Vec<String> = serde_json::from_value(names(&global)).unwrap();
    let theirs: Vec<String> = serde_json::from_value(names(&reference)).unwrap();
    assert!(ours.contains(&"cluster".to_string()), "{ours:?}");
    ours.retain(|n| n != "cluster");
    assert_eq!(ours, theirs);
    let series = |addr: &str| {
        let mut v: Vec<String> = get_json(&format!("http://{addr}/api/v1/series"), &params)
            .unwrap()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let mut m = m.as_object().unwrap().clone();
                m.remove("cluster");
                serde_json::Value::Object(m).to_string()
            })
            .collect();
        v.sort();
        v
    };
    let reference_series = series(&reference);
    assert_eq!(reference_series.len(), 4 + 3 + 2 * 7);
    assert_eq!(series(&global), reference_series);

    // Both replicas and their sidecars go: the store and `tsdb serve` still answer alike
    // (with warnings naming the stores that are gone).
    for (name, _) in sidecars.iter().chain(replicas.iter()) {
        stack.kill(name);
    }
    let later = (now_ms() - 2_000 - start).div_euclid(STEP_MS) * STEP_MS + start;
    wait_for_step(
        &[
            ("prometheus-reference", &reference),
            ("tsdb serve", &serve_http),
        ],
        later,
    );
    let times = [start + 2_500, merged_until - 1, later];
    compared += compare(
        "querier without the replicas",
        &global,
        &reference,
        &times,
        start,
        later,
    );
    println!("{compared} answers compared");
}
