//! `tsdb query` over two `tsdb serve` replicas (StoreAPI, external label `replica`) that hold
//! the same series with outages at different times: with `--replica-label replica` the
//! querier returns one series without the replica label and without holes where either
//! replica had data; a querier over one replica alone shows its outage.

mod common;
mod serve_common;

use prost::Message;
use serve_common::{get, post, snappy, Server};
use storeapi::prompb::{Label, Sample, TimeSeries, WriteRequest};

/// A `tsdb query` process and its HTTP address.
struct Querier {
    _proc: serve_common::Proc,
    addr: String,
}

fn start_querier(endpoints: &[&str], replica_label: Option<&str>) -> Querier {
    let mut args = vec!["query", "--listen", "127.0.0.1:0"];
    for e in endpoints {
        args.extend(["--endpoint", e]);
    }
    if let Some(r) = replica_label {
        args.extend(["--replica-label", r]);
    }
    let proc = serve_common::start_tsdb(&args, &["tsdb query: listening on "]);
    let addr = proc.addrs[0].clone();
    Querier { _proc: proc, addr }
}

fn write(server: &Server, samples: &[(i64, f64)]) {
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "requests_total".into(),
                },
                Label {
                    name: "job".into(),
                    value: "api".into(),
                },
            ],
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let a = post(
        &server.url("/api/v1/write"),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
        ],
        &snappy(&req.encode_to_vec()),
    );
    assert_eq!(a.status, 204, "{}", a.body);
}

fn secs(t: i64) -> String {
    format!("{}.{:03}", t / 1000, t % 1000)
}

/// `count_over_time(requests_total[1m])` every 15 s over `[start, end]` through `addr`:
/// the series' labels and the minutes with at least one sample.
fn coverage(addr: &str, start: i64, end: i64) -> Vec<(serde_json::Value, Vec<i64>)> {
    let a = get(
        &format!("http://{addr}/api/v1/query_range"),
        &[
            ("query", "count_over_time(requests_total[1m])"),
            ("start", &secs(start)),
            ("end", &secs(end)),
            ("step", "15"),
        ],
        &[],
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let j = a.json();
    j["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let ts = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_f64().unwrap() * 1000.0).round() as i64)
                .collect();
            (s["metric"].clone(), ts)
        })
        .collect()
}

#[test]
fn replicas_with_different_outages_dedup_into_one_gapless_series() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t0 = (now - 25 * 60_000) / 15_000 * 15_000;
    let all: Vec<(i64, f64)> = (0..90).map(|i| (t0 + i * 15_000, i as f64)).collect();
    let outage = |from_min: i64, to_min: i64| {
        move |&(t, _): &(i64, f64)| !(t0 + from_min * 60_000..t0 + to_min * 60_000).contains(&t)
    };
    let a_samples: Vec<_> = all.iter().copied().filter(outage(5, 9)).collect();
    let b_samples: Vec<_> = all.iter().copied().filter(outage(12, 16)).collect();

    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = |r: &'static str| -> Vec<&'static str> {
        vec![
            "--grpc-listen",
            "127.0.0.1:0",
            "--external-label",
            "cluster=eu",
            "--external-label",
            r,
        ]
    };
    let a = Server::start_with(da.path(), &args("replica=a"));
    let b = Server::start_with(db.path(), &args("replica=b"));
    write(&a, &a_samples);
    write(&b, &b_samples);
    let (ga, gb) = (a.grpc_addr.clone().unwrap(), b.grpc_addr.clone().unwrap());

    let start = t0 + 60_000;
    let end = t0 + 89 * 15_000;
    let steps: Vec<i64> = (0..)
        .map(|i| start + i * 15_000)
        .take_while(|&t| t <= end)
        .collect();

    // Deduplicated: one series, no replica label, a sample in every minute.
    let q = start_querier(&[&ga, &gb], Some("replica"));
    let got = coverage(&q.addr, start, end);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].0,
        serde_json::json!({"cluster": "eu", "job": "api"}),
        "replica label removed, external labels kept"
    );
    assert_eq!(got[0].1, steps, "a step without samples in its minute");
    let last = get(
        &format!("http://{}/api/v1/query", q.addr),
        &[
            ("query", "max_over_time(requests_total[30m])"),
            ("time", &secs(end)),
        ],
        &[],
    )
    .json();
    assert_eq!(last["data"]["result"][0]["value"][1], "89");

    // Without the replica label the querier keeps both replicas apart.
    let both = start_querier(&[&ga, &gb], None);
    assert_eq!(coverage(&both.addr, start, end).len(), 2);

    // One replica alone has holes during its outage.
    let only_a = start_querier(&[&ga], Some("replica"));
    let got_a = coverage(&only_a.addr, start, end);
    assert!(
        got_a[0].1.len() < steps.len(),
        "replica a alone should show its outage"
    );
    drop((q, both, only_a));
    assert!(a.stop().success());
    assert!(b.stop().success());
}

/// An instant query through the querier at `addr`, with extra parameters.
fn instant(addr: &str, query: &str, extra: &[(&str, &str)]) -> serve_common::Answer {
    let mut params = vec![("query", query)];
    params.extend_from_slice(extra);
    get(&format!("http://{addr}/api/v1/query"), &params, &[])
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn stores_are_selected_by_labels_and_a_failing_store_gives_a_partial_answer() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let samples: Vec<(i64, f64)> = (0..20).map(|i| (now - 60_000 + i * 1000, 1.0)).collect();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = |r: &'static str| ["--grpc-listen", "127.0.0.1:0", "--external-label", r];
    let a = Server::start_with(da.path(), &args("replica=a"));
    let b = Server::start_with(db.path(), &args("replica=b"));
    write(&a, &samples);
    write(&b, &samples);
    let (ga, gb) = (a.grpc_addr.clone().unwrap(), b.grpc_addr.clone().unwrap());
    let dead = format!("127.0.0.1:{}", free_port());

    // A store that is down: left out with a warning naming it, or the query fails when
    // partial responses are turned off for the request.
    let q = start_querier(&[&ga, &dead], Some("replica"));
    let partial = instant(&q.addr, "requests_total", &[]);
    assert_eq!(partial.status, 200, "{}", partial.body);
    let j = partial.json();
    assert_eq!(j["data"]["result"].as_array().unwrap().len(), 1, "{j}");
    let warnings = j["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains(&format!("store {dead}"))),
        "{warnings:?}"
    );
    let labels = get(&format!("http://{}/api/v1/labels", q.addr), &[], &[]).json();
    assert_eq!(labels["status"], "success");
    assert!(
        labels["warnings"].as_array().is_some_and(|w| !w.is_empty()),
        "{labels}"
    );
    let strict = instant(&q.addr, "requests_total", &[("partial_response", "false")]);
    assert_ne!(strict.status, 200, "{}", strict.body);
    assert_eq!(strict.json()["status"], "error");
    let bad = instant(&q.addr, "requests_total", &[("partial_response", "maybe")]);
    assert_eq!(bad.status, 400, "{}", bad.body);

    // Stores are chosen by their external labels: once replica b is down, a query that only
    // replica a can answer still succeeds without partial responses.
    let both = start_querier(&[&ga, &gb], None);
    let first = instant(
        &both.addr,
        "count(requests_total)",
        &[("partial_response", "false")],
    );
    assert_eq!(
        first.json()["data"]["result"][0]["value"][1],
        "2",
        "{}",
        first.body
    );
    assert!(b.stop().success());
    let only_a = instant(
        &both.addr,
        "requests_total{replica=\"a\"}",
        &[("partial_response", "false")],
    );
    assert_eq!(only_a.status, 200, "{}", only_a.body);
    assert_eq!(only_a.json()["data"]["result"].as_array().unwrap().len(), 1);
    assert!(only_a.json().get("warnings").is_none(), "{}", only_a.body);
    let any = instant(
        &both.addr,
        "requests_total",
        &[("partial_response", "false")],
    );
    assert_ne!(any.status, 200, "{}", any.body);

    // Endpoints given as DNS names resolve to every address of the name.
    let port = ga.rsplit(':').next().unwrap();
    let by_name = start_querier(&[&format!("dns+localhost:{port}")], Some("replica"));
    let r = instant(&by_name.addr, "requests_total", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["data"]["result"].as_array().unwrap().len(),
        1,
        "{}",
        r.body
    );
    drop((q, both, by_name));
    assert!(a.stop().success());
}

#[test]
fn a_counter_read_across_a_replica_switch_has_no_false_reset() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t0 = (now - 21 * 60_000) / 15_000 * 15_000;
    // Replica a counts one per second for 8 minutes, then stops; replica b, up from minute
    // 4, counts the same but reads 100 lower (it started later), and goes on. The merged
    // series follows a, then switches to b.
    let a: Vec<(i64, f64)> = (0..32)
        .map(|i| (t0 + i * 15_000, (i * 15) as f64))
        .collect();
    let b: Vec<(i64, f64)> = (16..80)
        .map(|i| (t0 + i * 15_000, (i * 15 - 100) as f64))
        .collect();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = |r: &'static str| ["--grpc-listen", "127.0.0.1:0", "--external-label", r];
    let sa = Server::start_with(da.path(), &args("replica=a"));
    let sb = Server::start_with(db.path(), &args("replica=b"));
    write(&sa, &a);
    write(&sb, &b);
    let q = start_querier(
        &[
            &sa.grpc_addr.clone().unwrap(),
            &sb.grpc_addr.clone().unwrap(),
        ],
        Some("replica"),
    );
    let end = t0 + 79 * 15_000;
    let at = secs(end);
    let increase = instant(&q.addr, "increase(requests_total[25m])", &[("time", &at)]);
    let v: f64 = increase.json()["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // 79 intervals of 15 s at one per second, extrapolated to the window's start: about
    // 1185. Read as a reset, the switch (from ~480 on a to ~395 on b) would add ~480.
    assert!((1100.0..1300.0).contains(&v), "increase {v}");
    drop(q);
    assert!(sa.stop().success());
    assert!(sb.stop().success());
}

/// `count_over_time(requests_total[window])` at `t` through `addr`, one value per series.
fn counts(addr: &str, window: &str, t: i64) -> Vec<String> {
    let a = get(
        &format!("http://{addr}/api/v1/query"),
        &[
            (
                "query",
                &format!("count_over_time(requests_total[{window}])"),
            ),
            ("time", &secs(t)),
        ],
        &[],
    );
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"][1].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn copies_of_one_replica_from_two_stores_merge_sample_by_sample() {
    // A store gateway and a sidecar over the same Prometheus return the same series (same
    // labels, replica label included), one with the older samples only: the querier merges
    // them sample by sample, as Thanos' proxy does, instead of deduplicating them as
    // replicas (the penalty would skip the live copy's first samples after the other ends).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t0 = (now - 25 * 60_000) / 15_000 * 15_000;
    let all: Vec<(i64, f64)> = (0..90).map(|i| (t0 + i * 15_000, i as f64)).collect();
    let labels = [
        "--grpc-listen",
        "127.0.0.1:0",
        "--external-label",
        "replica=a",
    ];
    let (dold, dlive, dother) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let old = Server::start_with(dold.path(), &labels);
    let live = Server::start_with(dlive.path(), &labels);
    write(&old, &all[..40]);
    write(&live, &all);
    let end = t0 + 89 * 15_000;
    let (go, gl) = (
        old.grpc_addr.clone().unwrap(),
        live.grpc_addr.clone().unwrap(),
    );
    for order in [[&go, &gl], [&gl, &go]] {
        let q = start_querier(&[order[0].as_str(), order[1].as_str()], Some("replica"));
        assert_eq!(counts(&q.addr, "30m", end), ["90"]);
    }

    // A second replica scraping 5 s later: `penalty` keeps one sample per scrape interval,
    // `chain` keeps every sample of both.
    let other = Server::start_with(
        dother.path(),
        &[
            "--grpc-listen",
            "127.0.0.1:0",
            "--external-label",
            "replica=b",
        ],
    );
    let shifted: Vec<(i64, f64)> = all.iter().map(|&(t, v)| (t + 5_000, v)).collect();
    write(&other, &shifted);
    let gb = other.grpc_addr.clone().unwrap();
    let penalty = start_querier(&[&go, &gl, &gb], Some("replica"));
    assert_eq!(counts(&penalty.addr, "30m", end + 5_000), ["90"]);
    let mut args = vec!["query", "--listen", "127.0.0.1:0"];
    for e in [&go, &gl, &gb] {
        args.extend(["--endpoint", e.as_str()]);
    }
    args.extend([
        "--replica-label",
        "replica",
        "--deduplication.func",
        "chain",
    ]);
    let chain = serve_common::start_tsdb(&args, &["tsdb query: listening on "]);
    assert_eq!(counts(&chain.addrs[0], "30m", end + 5_000), ["180"]);
}
