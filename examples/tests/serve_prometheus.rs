//! `tsdb serve` next to the real Prometheus 3.5: Prometheus scrapes itself every second and
//! remote-writes everything to us, once with remote write 1.0 (default tenant) and once with
//! 2.0 (tenant `v2`). The same PromQL queries, instant and range, then go to Prometheus' own
//! HTTP API and to ours, over a time range both hold, and the answers must agree.

mod common;
mod serve_common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use serve_common::{get, post, Server};

struct Prometheus {
    child: Child,
    addr: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus_bin() -> PathBuf {
    common::promtool().with_file_name("prometheus")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_prometheus(dir: &std::path::Path, ours: &str) -> Prometheus {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let config = format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prom
    static_configs: [{{targets: ["{addr}"]}}]
remote_write:
  - url: http://{ours}/api/v1/write
    protobuf_message: prometheus.WriteRequest
    queue_config: {{batch_send_deadline: 1s}}
  - url: http://{ours}/api/v1/write
    protobuf_message: io.prometheus.write.v2.Request
    headers: {{X-Scope-OrgID: v2}}
    queue_config: {{batch_send_deadline: 1s}}
"#
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let child = Command::new(prometheus_bin())
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--web.enable-admin-api")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    Prometheus { child, addr }
}

fn num(v: &Value) -> f64 {
    match v.as_str().unwrap() {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap(),
    }
}

fn same_float(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// A result as `labels → [(t, value)]`.
fn points(answer: &Value) -> (String, BTreeMap<String, Vec<(f64, f64)>>) {
    assert_eq!(answer["status"], "success", "{answer}");
    let kind = answer["data"]["resultType"].as_str().unwrap().to_string();
    let mut out = BTreeMap::new();
    let result = &answer["data"]["result"];
    match kind.as_str() {
        "scalar" => {
            out.insert(
                String::new(),
                vec![(result[0].as_f64().unwrap(), num(&result[1]))],
            );
        }
        _ => {
            for s in result.as_array().unwrap() {
                let key = s["metric"].to_string();
                let mut pts = Vec::new();
                if let Some(v) = s.get("value") {
                    pts.push((v[0].as_f64().unwrap(), num(&v[1])));
                }
                for v in s
                    .get("values")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    pts.push((v[0].as_f64().unwrap(), num(&v[1])));
                }
                assert!(
                    out.insert(key, pts).is_none(),
                    "duplicate series in {answer}"
                );
            }
        }
    }
    (kind, out)
}

/// Compares two answers; `Ok(true)` when they agree and hold data.
fn compare(query: &str, theirs: &Value, ours: &Value) -> Result<bool, String> {
    let (tk, tp) = points(theirs);
    let (ok, op) = points(ours);
    if tk != ok {
        return Err(format!("{query}: result type {tk} vs ours {ok}"));
    }
    if tp.keys().ne(op.keys()) {
        return Err(format!(
            "{query}: series differ\n prometheus: {:?}\n ours: {:?}",
            tp.keys().collect::<Vec<_>>(),
            op.keys().collect::<Vec<_>>()
        ));
    }
    for (k, a) in &tp {
        let b = &op[k];
        let same = a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 == y.0 && same_float(x.1, y.1));
        if !same {
            return Err(format!("{query} {k}:\n prometheus {a:?}\n ours {b:?}"));
        }
    }
    Ok(tp.values().any(|p| !p.is_empty()))
}

const QUERIES: &[&str] = &[
    "up",
    "count by (__name__) ({job=\"prom\"})",
    "sum(rate(prometheus_http_requests_total[5s]))",
    "rate(prometheus_tsdb_head_samples_appended_total[5s])",
    "increase(prometheus_http_requests_total{handler=\"/metrics\"}[10s])",
    "histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[10s])))",
    "max_over_time(scrape_duration_seconds[10s])",
    "avg_over_time(go_goroutines[5s]) > 0",
    "topk(3, prometheus_tsdb_head_series)",
    "label_replace(up, \"host\", \"$1\", \"instance\", \"(.*):.*\")",
    "go_memstats_alloc_bytes / on (instance) group_left prometheus_build_info",
    "count_values(\"v\", up)",
    "sum without (instance) (rate(prometheus_http_requests_total[5s]))",
    "deriv(process_resident_memory_bytes[10s])",
    "changes(scrape_samples_scraped[10s])",
    "absent(nonexistent_metric)",
    "timestamp(up)",
    "scalar(up)",
    "rate(prometheus_http_requests_total[5s] offset 3s)",
    "max_over_time(rate(prometheus_http_requests_total[3s])[6s:1s])",
    "{__name__=~\"prometheus_tsdb_head_(series|chunks)\"}",
];

fn query_both(
    prom: &Prometheus,
    ours: &Server,
    tenant: Option<&str>,
    path: &str,
    params: &[(&str, &str)],
) -> (Value, Value) {
    let theirs = get(&format!("http://{}{path}", prom.addr), params, &[]);
    let headers: Vec<(&str, &str)> = tenant.map(|t| ("X-Scope-OrgID", t)).into_iter().collect();
    let mine = get(&ours.url(path), params, &headers);
    assert_eq!(theirs.status, 200, "prometheus: {}", theirs.body);
    assert_eq!(mine.status, 200, "ours: {}", mine.body);
    (theirs.json(), mine.json())
}

/// Newest `up` timestamp (ms) a server holds, if any.
fn newest_up(url: &str, tenant: Option<&str>) -> Option<i64> {
    let headers: Vec<(&str, &str)> = tenant.map(|t| ("X-Scope-OrgID", t)).into_iter().collect();
    let a = get(url, &[("query", "timestamp(up)")], &headers);
    let j = a.json();
    let v = j["data"]["result"].get(0)?["value"][1]
        .as_str()?
        .to_string();
    Some((v.parse::<f64>().ok()? * 1000.0).round() as i64)
}

#[test]
fn answers_match_prometheus_for_what_it_remote_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = Server::start_with(&tmp.path().join("ours"), &["--enable-admin-api"]);
    let prom = start_prometheus(tmp.path(), &ours.addr);

    // Let Prometheus scrape for a while, then wait until both tenants have caught up with a
    // scrape that is a few seconds old (remote write ships in batches).
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(14));
    let prom_query = format!("http://{}/api/v1/query", prom.addr);
    let target = loop {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "remote write did not arrive"
        );
        let theirs = newest_up(&prom_query, None);
        if let Some(t) = theirs {
            let t = t - 3_000;
            let caught_up = [None, Some("v2")].iter().all(|tenant| {
                newest_up(&ours.url("/api/v1/query"), *tenant).is_some_and(|o| o >= t)
            });
            if caught_up {
                break t;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let at = format!("{}.{:03}", target / 1000, target % 1000);
    let start = format!("{}.{:03}", (target - 8_000) / 1000, (target - 8_000) % 1000);

    let mut failures = Vec::new();
    let mut compared = 0;
    let mut with_data = 0;
    for tenant in [None, Some("v2")] {
        for q in QUERIES {
            let (theirs, mine) = query_both(
                &prom,
                &ours,
                tenant,
                "/api/v1/query",
                &[("query", q), ("time", &at)],
            );
            compared += 1;
            match compare(q, &theirs, &mine) {
                Ok(has_data) => with_data += usize::from(has_data),
                Err(e) => failures.push(format!("[{tenant:?} instant] {e}")),
            }
            if *q == "count_values(\"v\", up)" || q.starts_with("absent") {
                continue;
            }
            let (theirs, mine) = query_both(
                &prom,
                &ours,
                tenant,
                "/api/v1/query_range",
                &[("query", q), ("start", &start), ("end", &at), ("step", "1")],
            );
            compared += 1;
            match compare(q, &theirs, &mine) {
                Ok(has_data) => with_data += usize::from(has_data),
                Err(e) => failures.push(format!("[{tenant:?} range] {e}")),
            }
        }
    }
    println!(
        "{compared} answers compared ({with_data} with data), {} differ",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Only `absent(...)` of a missing metric and the shifted/empty edge cases may be empty.
    assert!(
        with_data * 10 >= compared * 9,
        "too few answers hold data: {with_data}/{compared}"
    );

    // The delete API side by side: the same deletion on both, then the same answers.
    let form = format!("match[]=prometheus_http_requests_total&start={start}&end={at}");
    for base in [format!("http://{}", prom.addr), ours.url("")] {
        let a = post(
            &format!("{base}/api/v1/admin/tsdb/delete_series"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        );
        assert_eq!(a.status, 204, "{base}: {}", a.body);
    }
    // Every sample of the window is gone from both (these series appeared with the first
    // queries, inside the window, so nothing is left for the lookback either); other series
    // are untouched.
    for (q, has_data) in [
        ("count_over_time(prometheus_http_requests_total[7s])", false),
        ("count(prometheus_http_requests_total)", false),
        ("count_over_time(prometheus_build_info[7s])", true),
        ("up", true),
    ] {
        let (theirs, mine) = query_both(
            &prom,
            &ours,
            None,
            "/api/v1/query",
            &[("query", q), ("time", &at)],
        );
        match compare(q, &theirs, &mine) {
            Ok(d) => assert_eq!(d, has_data, "after delete_series, {q}: {mine}"),
            Err(e) => panic!("after delete_series: {e}"),
        }
    }

    drop(prom);
    assert!(ours.stop().success());
}
