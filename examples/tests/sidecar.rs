//! `tsdb sidecar` next to the real Prometheus 3.5 (which serves Prometheus' fixture blocks
//! plus what it scrapes from itself): a `tsdb query` over the sidecar's StoreAPI answers
//! exactly what Prometheus answers (plus the external label), reading through Prometheus'
//! remote-read API; the sidecar ships Prometheus' blocks with Thanos' metadata. The external
//! label comes from Prometheus' own configuration, as Thanos reads it.

mod common;
mod serve_common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serve_common::{get, start_tsdb};

/// The real Prometheus, killed when dropped.
struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An instant query's result as sorted `metric value` lines, without the `cluster` label.
fn answer(addr: &str, query: &str, time: &str) -> Vec<String> {
    let a = get(
        &format!("http://{addr}/api/v1/query"),
        &[("query", query), ("time", time)],
        &[],
    );
    assert_eq!(a.status, 200, "{addr} {query}: {}", a.body);
    let j = a.json();
    let mut out: Vec<String> = j["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut m = s["metric"].as_object().unwrap().clone();
            m.remove("cluster");
            format!("{} {}", serde_json::Value::Object(m), s["value"])
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_querier_over_the_sidecar_answers_as_prometheus_does() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("prometheus");
    common::copy_dir(&common::prom_blocks(), &data);
    let port = free_port();
    let prom_addr = format!("127.0.0.1:{port}");
    std::fs::write(
        tmp.path().join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s, external_labels: {{cluster: eu-1}}}}\nscrape_configs:\n  - job_name: prom\n    static_configs: [{{targets: [\"{prom_addr}\"]}}]\n"
        ),
    )
    .unwrap();
    let _prom = Prometheus(
        Command::new(common::promtool().with_file_name("prometheus"))
            .arg(format!(
                "--config.file={}",
                tmp.path().join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={prom_addr}"))
            // As Thanos requires of a Prometheus whose blocks are shipped.
            .args([
                "--storage.tsdb.min-block-duration=2h",
                "--storage.tsdb.max-block-duration=2h",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let started = Instant::now();
    while ureq::get(&format!("http://{prom_addr}/-/ready"))
        .call()
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "prometheus not ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Wait for a few scrapes of itself; `now` is the newest one's time.
    let now = loop {
        assert!(started.elapsed() < Duration::from_secs(90), "no scrape");
        let a = get(
            &format!("http://{prom_addr}/api/v1/query"),
            &[("query", "timestamp(up)"), ("time", "")],
            &[],
        );
        let j = a.json();
        if let Some(v) = j["data"]["result"][0]["value"][1].as_str() {
            if started.elapsed() > Duration::from_secs(5) {
                break v.to_string();
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    };

    let bucket = tmp.path().join("bucket");
    let sidecar = start_tsdb(
        &[
            "sidecar",
            "--prometheus",
            &format!("http://{prom_addr}"),
            "--tsdb-path",
            data.to_str().unwrap(),
            "--bucket",
            &format!("file://{}", bucket.display()),
            "--grpc-listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
        ],
        &[
            "tsdb sidecar: listening on ",
            "tsdb sidecar: StoreAPI gRPC listening on ",
        ],
    );
    let querier_proc = start_tsdb(
        &[
            "query",
            "--listen",
            "127.0.0.1:0",
            "--endpoint",
            &sidecar.addrs[1],
        ],
        &["tsdb query: listening on "],
    );
    let querier = querier_proc.addrs[0].clone();

    let mut with_data = 0;
    for (query, time) in [
        (
            "sum by (code) (rate(http_requests_total[5m]))",
            "1700003000",
        ),
        ("http_requests_total{code=\"500\"}", "1700010000"),
        (
            "histogram_quantile(0.9, sum by (le) (rate(req_duration_seconds_bucket[10m])))",
            "1700010000",
        ),
        ("count by (job) (http_requests_total)", "1700014000"),
        ("up", now.as_str()),
        ("count(prometheus_build_info)", now.as_str()),
    ] {
        let theirs = answer(&prom_addr, query, time);
        let ours = answer(&querier, query, time);
        assert_eq!(ours, theirs, "{query} @ {time}");
        println!("{query} @ {time}: {} series", theirs.len());
        with_data += usize::from(!theirs.is_empty());
    }
    assert_eq!(with_data, 6);
    let codes = get(
        &format!("http://{querier}/api/v1/label/code/values"),
        &[],
        &[],
    )
    .json();
    assert!(codes["data"].is_array(), "{codes}");
    assert!(
        codes["data"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("500")),
        "{codes}"
    );

    // The shipper uploaded Prometheus' three blocks with the external label.
    let started = Instant::now();
    let metas = loop {
        let metas: Vec<serde_json::Value> = std::fs::read_dir(&bucket)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read(e.path().join("meta.json")).ok())
                    .map(|b| serde_json::from_slice(&b).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        if metas.len() >= 3 || started.elapsed() > Duration::from_secs(30) {
            break metas;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(metas.len(), 3, "{metas:?}");
    for m in &metas {
        assert_eq!(m["thanos"]["labels"]["cluster"], "eu-1");
        assert_eq!(m["thanos"]["source"], "sidecar");
    }
}
