//! `tsdb serve` as a process: the remote-write requests a real Prometheus 3.5 sent are stored
//! exactly (read back through the query API and compared with Prometheus' own dump of them),
//! Prometheus-written blocks are served as they are, and bad requests get Prometheus' status
//! codes while the server keeps serving.

mod common;
mod serve_common;

use std::collections::BTreeMap;

use serve_common::{get, post, snappy, Server};
use tsdb_index::Labels;

/// Headers of a captured request (`Name: value` lines).
fn captured_headers(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| k.starts_with("Content-") && k != "Content-Length")
        .collect()
}

/// Every sample of a matrix result as promtool-dump lines.
fn matrix_lines(answer: &serde_json::Value) -> Vec<String> {
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["data"]["resultType"], "matrix");
    let mut out = Vec::new();
    for series in answer["data"]["result"].as_array().unwrap() {
        let pairs: Vec<(String, String)> = series["metric"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let labels = Labels::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for point in series["values"].as_array().into_iter().flatten() {
            let t = (point[0].as_f64().unwrap() * 1000.0).round() as i64;
            let v: f64 = parse_value(point[1].as_str().unwrap());
            out.push(format!("{labels} {} {t}", tsdb_core::gofloat::go_g(v)));
        }
    }
    out.sort();
    out
}

fn parse_value(s: &str) -> f64 {
    match s {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap(),
    }
}

/// Every raw sample of a tenant in `[mint, maxt]`, read through `/api/v1/query`.
fn all_samples(server: &Server, tenant: Option<&str>, mint: i64, maxt: i64) -> Vec<String> {
    let range = format!("{{__name__=~\".+\"}}[{}ms]", maxt - mint + 1);
    let time = format!("{}.{:03}", maxt / 1000, maxt % 1000);
    let headers: Vec<(&str, &str)> = tenant.map(|t| ("X-Scope-OrgID", t)).into_iter().collect();
    let a = get(
        &server.url("/api/v1/query"),
        &[("query", &range), ("time", &time)],
        &headers,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    matrix_lines(&a.json())
}

#[test]
fn captured_remote_writes_are_stored_exactly() {
    let dir = common::shared_dir().join("fixtures/remote-write");
    let dump = std::fs::read_to_string(dir.join("prometheus-local.dump")).unwrap();
    let dump: BTreeMap<&str, ()> = dump.lines().map(|l| (l, ())).collect();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());

    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    let mut sent = BTreeMap::<&str, usize>::new();
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let tenant = if name.starts_with("v1") { "v1" } else { "v2" };
        let headers =
            captured_headers(&std::fs::read_to_string(f.with_extension("headers")).unwrap());
        let mut h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        h.push(("X-Scope-OrgID", tenant));
        let body = std::fs::read(f).unwrap();
        let a = post(&server.url("/api/v1/write"), &h, &body);
        assert_eq!(a.status, 204, "{name}: {}", a.body);
        if tenant == "v2" {
            let written: usize = a
                .header("X-Prometheus-Remote-Write-Samples-Written")
                .expect("v2 answers carry the written-samples header")
                .parse()
                .unwrap();
            *sent.entry(tenant).or_default() += written;
        }
    }

    for tenant in ["v1", "v2"] {
        let got = all_samples(&server, Some(tenant), 0, 4_000_000_000_000);
        assert!(got.len() > 1000, "{tenant}: only {} samples", got.len());
        for line in &got {
            assert!(
                dump.contains_key(line.as_str()),
                "{tenant}: stored sample not in Prometheus' own storage: {line}"
            );
        }
        let mut distinct = got.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), got.len(), "{tenant}: duplicated samples");
        if let Some(&n) = sent.get(tenant) {
            assert_eq!(got.len(), n, "{tenant}: stored vs acknowledged samples");
        }
    }
    // Nothing of one tenant leaks into another.
    let default = all_samples(&server, None, 0, 4_000_000_000_000);
    assert!(
        default.is_empty(),
        "default tenant holds {} samples",
        default.len()
    );
    assert!(server.stop().success());
}

#[test]
fn prometheus_blocks_are_served_as_they_are() {
    let fixture = common::prom_blocks();
    let data = tempfile::tempdir().unwrap();
    common::copy_dir(&fixture, data.path());
    let server = Server::start(data.path());
    let mut expected: Vec<String> = std::fs::read_to_string(fixture.join("expected.dump"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    expected.sort();
    let got = all_samples(&server, None, 0, 4_000_000_000_000);
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);

    let labels = get(&server.url("/api/v1/labels"), &[], &[]).json();
    assert_eq!(labels["status"], "success");
    assert!(labels["data"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("__name__")));
    let series = get(
        &server.url("/api/v1/series"),
        &[("match[]", "http_requests_total{code=\"200\"}")],
        &[],
    )
    .json();
    let n = series["data"].as_array().unwrap().len();
    assert!(n > 0);
    for s in series["data"].as_array().unwrap() {
        assert_eq!(s["code"], "200");
    }
    let values = get(&server.url("/api/v1/label/job/values"), &[], &[]).json();
    assert!(values["data"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("api")));
}

/// What `promtool tsdb dump` prints for a data directory, as sorted lines.
fn promtool_dump(dir: &std::path::Path) -> Vec<String> {
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    let out = common::run(
        std::process::Command::new(common::promtool())
            .args(["tsdb", "dump"])
            .arg(dir),
    );
    let mut lines: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn admin_api_deletes_cleans_and_snapshots_what_promtool_then_reads() {
    let fixture = common::prom_blocks();
    let data = tempfile::tempdir().unwrap();
    common::copy_dir(&fixture, data.path());
    let mut expected: Vec<String> = std::fs::read_to_string(fixture.join("expected.dump"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    expected.sort();

    // Off unless asked for, with Prometheus' answer.
    let off = Server::start(data.path());
    let a = post(&off.url("/api/v1/admin/tsdb/clean_tombstones"), &[], b"");
    assert_eq!(a.status, 503);
    assert_eq!(
        a.json(),
        serde_json::json!({"status": "error", "errorType": "unavailable",
                           "error": "admin APIs disabled"})
    );
    assert!(off.stop().success());

    let server = Server::start_with(data.path(), &["--enable-admin-api"]);
    let admin = |op: &str, form: &str| {
        post(
            &server.url(&format!("/api/v1/admin/tsdb/{op}")),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
    };

    // A snapshot holds every block, readable by promtool.
    let snap = admin("snapshot", "skip_head=false");
    assert_eq!(snap.status, 200, "{}", snap.body);
    let name = snap.json()["data"]["name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), "20261125T061500Z-".len() + 16, "{name}");
    let snap_dir = data.path().join("snapshots").join(&name);
    assert_eq!(promtool_dump(&snap_dir), expected);

    let bad = admin("delete_series", "start=1700000000");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "no match[] parameter provided");

    // Delete the first hour of the code="500" series.
    let del = admin(
        "delete_series",
        "match[]=http_requests_total%7Bcode%3D%22500%22%7D&start=1700000000&end=1700003600",
    );
    assert_eq!(del.status, 204, "{}", del.body);
    assert!(del.body.is_empty());
    let deleted = |line: &String| {
        let t: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        line.contains("code=\"500\"") && (1_700_000_000_000..=1_700_003_600_000).contains(&t)
    };
    let kept: Vec<String> = expected.iter().filter(|l| !deleted(l)).cloned().collect();
    assert!(kept.len() < expected.len());
    assert_eq!(all_samples(&server, None, 0, 4_000_000_000_000), kept);

    // Cleaning rewrites the blocks; the answer stays the same.
    let clean = admin("clean_tombstones", "");
    assert_eq!(clean.status, 204, "{}", clean.body);
    assert_eq!(all_samples(&server, None, 0, 4_000_000_000_000), kept);
    assert!(server.stop().success());

    // promtool reads the rewritten data directory to the same samples; the snapshot, made
    // of hard links, still holds everything.
    assert_eq!(promtool_dump(data.path()), kept);
    assert_eq!(promtool_dump(&snap_dir), expected);
}

#[test]
fn bad_requests_get_prometheus_status_codes_and_the_server_keeps_serving() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let write = server.url("/api/v1/write");
    let proto = ("Content-Type", "application/x-protobuf");
    let snappy_enc = ("Content-Encoding", "snappy");

    // Unsupported media type, message and encoding: 415.
    let a = post(&write, &[("Content-Type", "text/plain")], b"x");
    assert_eq!(a.status, 415, "{}", a.body);
    let a = post(
        &write,
        &[
            ("Content-Type", "application/x-protobuf;proto=foo.Bar"),
            snappy_enc,
        ],
        b"x",
    );
    assert_eq!(a.status, 415, "{}", a.body);
    let a = post(&write, &[proto, ("Content-Encoding", "gzip")], b"x");
    assert_eq!(a.status, 415, "{}", a.body);
    // Not snappy, snappy of garbage: 400 with a message.
    let a = post(&write, &[proto, snappy_enc], b"\xff\xff\xff\xff\xff\xff");
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(!a.body.is_empty());
    let a = post(
        &write,
        &[proto, snappy_enc],
        &snappy(b"\x0a\xff\xff\xff garbage"),
    );
    assert_eq!(a.status, 400, "{}", a.body);
    // Oversized body: refused before decoding.
    // (The server may answer 413 and close before the client has sent everything, which the
    // client sees as a broken pipe; either way nothing is stored and the server keeps going.)
    let big = vec![0u8; 40 << 20];
    match ureq::post(&write)
        .set(proto.0, proto.1)
        .set(snappy_enc.0, snappy_enc.1)
        .send_bytes(&big)
    {
        Err(ureq::Error::Status(code, _)) => assert_eq!(code, 413),
        Err(ureq::Error::Transport(_)) => {}
        Ok(r) => panic!("oversized body accepted: {}", r.status()),
    }
    // Unknown tenant formats: 400.
    let a = post(
        &write,
        &[proto, snappy_enc, ("X-Scope-OrgID", "../etc")],
        &snappy(b""),
    );
    assert_eq!(a.status, 400, "{}", a.body);

    // Out-of-order samples: 400, and the request's other samples are not stored.
    let req = |t: i64, v: f64| {
        // prometheus.WriteRequest { timeseries: [{labels: [__name__=m], samples: [{v, t}]}] }
        let mut sample = vec![0x09];
        sample.extend_from_slice(&v.to_le_bytes());
        sample.push(0x10);
        let mut tv = Vec::new();
        let mut x = t as u64;
        loop {
            let b = (x & 0x7f) as u8;
            x >>= 7;
            if x == 0 {
                tv.push(b);
                break;
            }
            tv.push(b | 0x80);
        }
        sample.extend_from_slice(&tv);
        let label = [&[0x0a, 8][..], b"__name__", &[0x12, 1], b"m"].concat();
        let mut ts = vec![0x0a, label.len() as u8];
        ts.extend_from_slice(&label);
        ts.push(0x12);
        ts.push(sample.len() as u8);
        ts.extend_from_slice(&sample);
        let mut wr = vec![0x0a, ts.len() as u8];
        wr.extend_from_slice(&ts);
        snappy(&wr)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(
        post(&write, &[proto, snappy_enc], &req(now, 1.0)).status,
        204
    );
    let a = post(&write, &[proto, snappy_enc], &req(now - 60_000, 2.0));
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("out of order"), "{}", a.body);
    // Too far in the future: out of bounds, 400.
    let a = post(&write, &[proto, snappy_enc], &req(now + 3_600_000, 3.0));
    assert_eq!(a.status, 400, "{}", a.body);

    // Invalid PromQL and parameters: 400 bad_data with Prometheus' wording.
    let a = get(&server.url("/api/v1/query"), &[("query", "sum(")], &[]);
    assert_eq!(a.status, 400);
    let j = a.json();
    assert_eq!(j["errorType"], "bad_data");
    assert!(j["error"]
        .as_str()
        .unwrap()
        .starts_with("invalid parameter \"query\": "));
    let a = get(
        &server.url("/api/v1/query_range"),
        &[("query", "m"), ("start", "10"), ("end", "5"), ("step", "1")],
        &[],
    );
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json()["error"],
        "end timestamp must not be before start time"
    );
    let a = get(
        &server.url("/api/v1/query_range"),
        &[
            ("query", "m"),
            ("start", "0"),
            ("end", "100000"),
            ("step", "1"),
        ],
        &[],
    );
    assert_eq!(a.status, 400);
    let a = get(&server.url("/api/v1/series"), &[], &[]);
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"], "no match[] parameter provided");

    // Still serving: the one good sample is there.
    let t = format!("{}.{:03}", now / 1000, now % 1000);
    let a = get(
        &server.url("/api/v1/query"),
        &[("query", "m"), ("time", &t)],
        &[],
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let j = a.json();
    assert_eq!(j["data"]["resultType"], "vector");
    assert_eq!(j["data"]["result"][0]["value"][1], "1");
    let a = get(
        &server.url("/api/v1/format_query"),
        &[("query", "sum(rate(m[5m]))by(job)")],
        &[],
    );
    assert_eq!(a.json()["data"], "sum by (job) (rate(m[5m]))");
    let a = get(&server.url("/-/healthy"), &[], &[]);
    assert_eq!(a.status, 200);
    let m = get(&server.url("/metrics"), &[], &[]);
    assert!(
        m.body
            .contains("tsdb_remote_write_requests_total{code=\"400\"}"),
        "{}",
        m.body
    );
    assert!(server.stop().success());
}

#[test]
fn native_histograms_are_stored_and_queryable() {
    use prost::Message;
    use storeapi::prompb::{histogram, BucketSpan, Histogram, Label, TimeSeries, WriteRequest};

    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t0 = now - 60_000;
    // Four scrapes of an integer histogram with buckets [1, 2) and [2, 4) (schema 0), the
    // third adding bucket [4, 8).
    let mut hs = Vec::new();
    for i in 0..4u64 {
        let n = if i >= 2 { 3 } else { 2 };
        let abs: Vec<i64> = (0..n).map(|j| ((i + 1) * (j + 1)) as i64).collect();
        let deltas: Vec<i64> = abs
            .iter()
            .scan(0, |prev, c| {
                let d = c - *prev;
                *prev = *c;
                Some(d)
            })
            .collect();
        hs.push(Histogram {
            count: Some(histogram::Count::CountInt(abs.iter().sum::<i64>() as u64)),
            sum: (i + 1) as f64 * 2.5,
            schema: 0,
            zero_threshold: 0.001,
            zero_count: Some(histogram::ZeroCount::ZeroCountInt(0)),
            positive_spans: vec![BucketSpan {
                offset: 1,
                length: n as u32,
            }],
            positive_deltas: deltas,
            timestamp: t0 + i as i64 * 15_000,
            ..Default::default()
        });
    }
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "latency_seconds".into(),
                },
                Label {
                    name: "job".into(),
                    value: "api".into(),
                },
            ],
            histograms: hs,
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

    let t = t0 + 45_000;
    let at = format!("{}.{:03}", t / 1000, t % 1000);
    let q = |query: &str| {
        let a = get(
            &server.url("/api/v1/query"),
            &[("query", query), ("time", &at)],
            &[],
        );
        assert_eq!(a.status, 200, "{}", a.body);
        a.json()
    };
    // Last scrape: buckets 4, 8, 12 → count 24, sum 10.
    let j = q("histogram_count(latency_seconds)");
    assert_eq!(j["data"]["result"][0]["value"][1], "24");
    let j = q("histogram_sum(latency_seconds)");
    assert_eq!(j["data"]["result"][0]["value"][1], "10");
    let j = q("latency_seconds");
    let h = &j["data"]["result"][0]["histogram"][1];
    assert_eq!(h["count"], "24");
    assert_eq!(
        h["buckets"],
        serde_json::json!([[0, "1", "2", "4"], [0, "2", "4", "8"], [0, "4", "8", "12"]])
    );
    // The rate over the window sees the recoded chunk as one counter.
    let j = q("histogram_count(rate(latency_seconds[1m]))");
    let v: f64 = j["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(v > 0.0, "{j}");
    assert!(server.stop().success());
}

#[test]
fn blocks_are_shipped_to_the_bucket_with_thanos_metadata() {
    let fixture = common::prom_blocks();
    let data = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    common::copy_dir(&fixture, data.path());
    let url = format!("file://{}", bucket.path().display());
    let server = Server::start_with(
        data.path(),
        &["--bucket", &url, "--external-label", "cluster=eu"],
    );
    // The fixture is a Prometheus data directory: it is the default tenant, and its blocks
    // are shipped at the first tick, under the tenant's prefix, meta.json last.
    let blocks: Vec<String> = std::fs::read_dir(&fixture)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("meta.json").is_file())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    let prefix = bucket.path().join("default-tenant");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !blocks
        .iter()
        .all(|b| prefix.join(b).join("meta.json").is_file())
    {
        assert!(std::time::Instant::now() < deadline, "blocks not shipped");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for b in &blocks {
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(prefix.join(b).join("meta.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(meta["thanos"]["labels"]["cluster"], "eu");
        assert_eq!(meta["thanos"]["labels"]["tenant_id"], "default-tenant");
        assert_eq!(meta["thanos"]["source"], "receive");
        assert_eq!(
            std::fs::read(prefix.join(b).join("index")).unwrap(),
            std::fs::read(fixture.join(b).join("index")).unwrap()
        );
    }
    assert!(data.path().join("thanos.shipper.json").is_file());
    assert!(server.stop().success());
}

#[test]
fn late_samples_are_kept_within_the_out_of_order_window() {
    use prost::Message;
    use storeapi::prompb::{Label, Sample, TimeSeries, WriteRequest};
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), &["--out-of-order-time-window", "30m"]);
    let write = |t: i64, v: f64| {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "late".into(),
                }],
                samples: vec![Sample {
                    value: v,
                    timestamp: t,
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        post(
            &server.url("/api/v1/write"),
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "snappy"),
            ],
            &snappy(&req.encode_to_vec()),
        )
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(write(now, 1.0).status, 204);
    let late = write(now - 10 * 60_000, 2.0);
    assert_eq!(late.status, 204, "{}", late.body);
    let too_old = write(now - 60 * 60_000, 3.0);
    assert_eq!(too_old.status, 400, "{}", too_old.body);
    assert!(too_old.body.contains("too old"), "{}", too_old.body);
    let got = all_samples(&server, None, now - 3_600_000, now);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.contains(&format!("{{__name__=\"late\"}} 2 {}", now - 600_000)),
        "{got:?}"
    );
    assert!(server.stop().success());
    // Restarted, the late sample comes back from the WBL.
    let server = Server::start_with(data.path(), &["--out-of-order-time-window", "30m"]);
    assert_eq!(all_samples(&server, None, now - 3_600_000, now).len(), 2);
    assert!(server.stop().success());
}

#[test]
fn exemplars_and_metadata_from_remote_write_are_served() {
    use prost::Message;
    use storeapi::prompb::{Exemplar, Label, MetricMetadata, Sample, TimeSeries, WriteRequest};
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let label = |n: &str, v: &str| Label {
        name: n.into(),
        value: v.into(),
    };
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                label("__name__", "http_requests_total"),
                label("job", "api"),
            ],
            samples: vec![Sample {
                value: 5.0,
                timestamp: now,
            }],
            exemplars: vec![Exemplar {
                labels: vec![label("trace_id", "abc123")],
                value: 0.25,
                timestamp: now - 500,
            }],
            ..Default::default()
        }],
        metadata: vec![MetricMetadata {
            r#type: 1,
            metric_family_name: "http_requests_total".into(),
            help: "Requests served.".into(),
            unit: String::new(),
        }],
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

    let ex = get(
        &server.url("/api/v1/query_exemplars"),
        &[
            ("query", "rate(http_requests_total{job=\"api\"}[5m])"),
            ("start", &format!("{}", now / 1000 - 60)),
            ("end", &format!("{}", now / 1000 + 60)),
        ],
        &[],
    )
    .json();
    assert_eq!(ex["status"], "success", "{ex}");
    let series = &ex["data"][0];
    assert_eq!(series["seriesLabels"]["job"], "api");
    assert_eq!(series["exemplars"][0]["labels"]["trace_id"], "abc123");
    assert_eq!(series["exemplars"][0]["value"], "0.25");
    let ts = series["exemplars"][0]["timestamp"].as_f64().unwrap();
    assert!((ts * 1000.0 - (now - 500) as f64).abs() < 1.0, "{ts}");
    let none = get(
        &server.url("/api/v1/query_exemplars"),
        &[("query", "other_metric")],
        &[],
    )
    .json();
    assert_eq!(none["data"], serde_json::json!([]));
    let bad = get(
        &server.url("/api/v1/query_exemplars"),
        &[("query", "sum(")],
        &[],
    );
    assert_eq!(bad.status, 400);

    let md = get(&server.url("/api/v1/metadata"), &[], &[]).json();
    assert_eq!(
        md["data"]["http_requests_total"],
        serde_json::json!([{"type": "counter", "help": "Requests served.", "unit": ""}])
    );
    let one = get(&server.url("/api/v1/metadata"), &[("metric", "nope")], &[]).json();
    assert_eq!(one["data"], serde_json::json!({}));
    assert!(server.stop().success());

    // Exemplars are in the WAL: a restarted node still has them.
    let server = Server::start(data.path());
    let again = get(
        &server.url("/api/v1/query_exemplars"),
        &[
            ("query", "http_requests_total"),
            ("start", &format!("{}", now / 1000 - 60)),
            ("end", &format!("{}", now / 1000 + 60)),
        ],
        &[],
    )
    .json();
    assert_eq!(again["data"], ex["data"]);
    assert!(server.stop().success());
}
