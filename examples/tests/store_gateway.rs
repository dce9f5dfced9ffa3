//! `tsdb store` over Prometheus' fixture blocks uploaded to a file:// bucket: every sample
//! reads back as Prometheus' own dump has it (plus the external label), PromQL answers
//! equal those of `tsdb serve` over the same blocks on disk, and a `tsdb query` in front of
//! the store's StoreAPI answers the same.

mod common;
mod serve_common;

use std::process::Command;

use serve_common::{get, start_tsdb, Server};

fn instant(addr: &str, query: &str, time: &str) -> serde_json::Value {
    let a = get(
        &format!("http://{addr}/api/v1/query"),
        &[("query", query), ("time", time)],
        &[],
    );
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()
}

/// A vector or matrix answer as sorted `labels value(s)` lines, without `drop` labels.
fn lines(answer: &serde_json::Value, drop: &str) -> Vec<String> {
    let mut out: Vec<String> = answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut metric = s["metric"].as_object().unwrap().clone();
            metric.remove(drop);
            let values = if s["values"].is_array() {
                s["values"].to_string()
            } else {
                s["value"].to_string()
            };
            format!("{} {values}", serde_json::Value::Object(metric))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn serves_uploaded_blocks_like_the_local_node_and_through_the_querier() {
    let fixture = common::prom_blocks();
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("file://{}", tmp.path().join("bucket").display());
    let up = Command::new(env!("CARGO_BIN_EXE_tsdb"))
        .args(["bucket", "upload"])
        .arg(&fixture)
        .args(["--bucket", &url, "--label", "cluster=eu-1", "-q"])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );

    let cache = tmp.path().join("cache");
    let store = start_tsdb(
        &[
            "store",
            "--bucket",
            &url,
            "--cache-dir",
            cache.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
        ],
        &[
            "tsdb store: listening on ",
            "tsdb store: StoreAPI gRPC listening on ",
        ],
    );
    let (http, grpc) = (store.addrs[0].clone(), store.addrs[1].clone());
    let data = tmp.path().join("data");
    common::copy_dir(&fixture, &data);
    let local = Server::start(&data);
    let querier = start_tsdb(
        &["query", "--listen", "127.0.0.1:0", "--endpoint", &grpc],
        &["tsdb query: listening on "],
    );

    // Every raw sample, as Prometheus' dump has them.
    let all = instant(&http, "{__name__=~\".+\"}[10h]", "1700014400");
    let mut got = Vec::new();
    for s in all["data"]["result"].as_array().unwrap() {
        assert_eq!(s["metric"]["cluster"], "eu-1");
        for p in s["values"].as_array().unwrap() {
            got.push((s["metric"].clone(), p.clone()));
        }
    }
    let expected = std::fs::read_to_string(fixture.join("expected.dump")).unwrap();
    assert_eq!(got.len(), expected.lines().count());
    let from_local = instant(&local.addr, "{__name__=~\".+\"}[10h]", "1700014400");
    assert_eq!(lines(&all, "cluster"), lines(&from_local, "cluster"));

    let mut with_data = 0;
    for q in [
        "sum by (code) (rate(http_requests_total[5m]))",
        "histogram_quantile(0.9, sum by (le) (rate(req_duration_seconds_bucket[10m])))",
        "count by (job) (up)",
        "topk(2, http_requests_total)",
    ] {
        for t in ["1700003000", "1700010000", "1700014000"] {
            let ours = instant(&http, q, t);
            let reference = instant(&local.addr, q, t);
            with_data += usize::from(!lines(&reference, "").is_empty());
            assert_eq!(
                lines(&ours, "cluster"),
                lines(&reference, "cluster"),
                "{q} @ {t}"
            );
            let through = instant(&querier.addrs[0], q, t);
            assert_eq!(
                lines(&through, "cluster"),
                lines(&reference, "cluster"),
                "{q} @ {t}"
            );
        }
    }
    assert!(with_data >= 8, "only {with_data} of 12 answers hold data");
    // Info announces the blocks' label set, so that queriers can select the store by it.
    let info = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use storeapi::grpc::proto::info::{info_client::InfoClient, InfoRequest};
        let mut c = InfoClient::connect(format!("http://{grpc}")).await.unwrap();
        c.info(InfoRequest {}).await.unwrap().into_inner()
    });
    let sets: Vec<_> = info
        .label_sets
        .iter()
        .map(|s| storeapi::grpc::convert::from_proto_labels(&s.labels))
        .collect();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(sets[0].get("cluster"), Some("eu-1"));
    assert_eq!(info.component_type, "store");
    let labels = get(
        &format!("http://{http}/api/v1/label/cluster/values"),
        &[],
        &[],
    )
    .json();
    assert_eq!(labels["data"], serde_json::json!(["eu-1"]));
    drop((store, querier));
    assert!(local.stop().success());
}

#[test]
fn store_flags_set_caches_lazy_readers_and_limits() {
    let fixture = common::prom_blocks();
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("file://{}", tmp.path().join("bucket").display());
    let up = Command::new(env!("CARGO_BIN_EXE_tsdb"))
        .args(["bucket", "upload"])
        .arg(&fixture)
        .args(["--bucket", &url, "-q"])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let cache = tmp.path().join("cache");
    let store = start_tsdb(
        &[
            "store",
            "--bucket",
            &url,
            "--cache-dir",
            cache.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
            "--index-cache-size",
            "64MB",
            "--chunks-cache-size",
            "64MB",
            "--store.enable-index-header-lazy-reader",
            "--store.limits.request-series",
            "3",
        ],
        &[
            "tsdb store: listening on ",
            "tsdb store: StoreAPI gRPC listening on ",
        ],
    );
    let (http, grpc) = (store.addrs[0].clone(), store.addrs[1].clone());
    // Index-headers are on disk; the readers are not loaded until a query needs them.
    for e in std::fs::read_dir(fixture).unwrap() {
        let e = e.unwrap();
        if e.path().join("index").is_file() {
            assert!(cache.join(e.file_name()).join("index-header").is_file());
        }
    }
    let metrics = get(&format!("http://{http}/metrics"), &[], &[]);
    assert!(metrics
        .body
        .contains("thanos_bucket_store_indexheader_lazy_load_total 0"));

    // Within the limit: an answer.
    let one = instant(
        &http,
        "http_requests_total{instance=\"10.0.0.1:9100\",code=\"500\"}",
        "1700003000",
    );
    assert!(!lines(&one, "").is_empty());
    // Past it: Thanos' error, over HTTP (a storage error: 500 `internal`, as Prometheus'
    // API answers one) and over gRPC.
    let many = get(
        &format!("http://{http}/api/v1/query"),
        &[("query", "http_requests_total"), ("time", "1700003000")],
        &[],
    );
    assert_eq!(many.status, 500, "{}", many.body);
    assert!(
        many.body.contains("\"errorType\":\"internal\""),
        "{}",
        many.body
    );
    assert!(
        many.body
            .contains("exceeded series limit: limit 3 violated"),
        "{}",
        many.body
    );
    let status = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use storeapi::grpc::proto::{
            label_matcher::Type, store_client::StoreClient, LabelMatcher, SeriesRequest,
        };
        let mut c = StoreClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
        let req = SeriesRequest {
            min_time: i64::MIN,
            max_time: i64::MAX,
            matchers: vec![LabelMatcher {
                r#type: Type::Eq as i32,
                name: "__name__".into(),
                value: "http_requests_total".into(),
            }],
            ..Default::default()
        };
        match c.series(req).await {
            Err(s) => s,
            Ok(resp) => {
                let mut stream = resp.into_inner();
                loop {
                    match stream.message().await {
                        Err(s) => break s,
                        Ok(Some(_)) => continue,
                        Ok(None) => panic!("the series limit did not trip over gRPC"),
                    }
                }
            }
        }
    });
    assert!(
        status
            .message()
            .contains("exceeded series limit: limit 3 violated"),
        "{status:?}"
    );
    let metrics = get(&format!("http://{http}/metrics"), &[], &[]).body;
    assert!(metrics.contains("thanos_bucket_store_queries_dropped_total{reason=\"series\"} 2"));
    assert!(metrics.contains("thanos_bucket_store_indexheader_lazy_load_total 3"));
    assert!(metrics.contains("thanos_store_index_cache_items_added_total{item_type=\"Postings\"}"));
}
