//! `/api/v1/parse_query` and `/api/v1/format_query` side by side with the real Prometheus
//! 3.5: the same queries give the same syntax trees (and the same error status for invalid
//! ones) and the same formatted text.

mod common;
mod serve_common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serve_common::{get, Server};

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const QUERIES: &[&str] = &[
    "up",
    "http_requests_total{job=\"api\", code=~\"5..\", path!=\"/\", method!~\"GET|HEAD\"}",
    "{__name__=\"up\"}",
    "rate(http_requests_total[5m])",
    "rate(http_requests_total[5m] offset 1h)",
    "http_requests_total offset -30s",
    "http_requests_total @ 1700000000",
    "http_requests_total @ start()",
    "rate(http_requests_total[5m] @ end())",
    "sum by (job, code) (rate(http_requests_total[5m]))",
    "sum without (instance) (x)",
    "topk(3, x)",
    "count_values(\"value\", x)",
    "quantile(0.9, x)",
    "a + on (job) group_left (instance, code) b",
    "a / ignoring (code) group_right b",
    "a > bool 1",
    "a and b or c unless d",
    "-x",
    "-1.5",
    "+Inf",
    "NaN",
    "2 ^ 3 ^ 2",
    "1e6",
    "0x1f",
    "\"a string\"",
    "max_over_time(rate(x[1m])[30m:1m])",
    "max_over_time(rate(x[1m])[30m:] offset 5m)",
    "histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))",
    "label_replace(up, \"a\", \"$1\", \"job\", \"(.*)\")",
    "round(x)",
    "round(x, 0.5)",
    "time()",
    "vector(1)",
    "(a + b) * c",
    "absent_over_time(nonexistent[1h])",
];

#[test]
fn syntax_trees_equal_prometheus_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    std::fs::write(tmp.path().join("prometheus.yml"), "global: {}\n").unwrap();
    let _prom = Prometheus(
        Command::new(common::promtool().with_file_name("prometheus"))
            .arg(format!(
                "--config.file={}",
                tmp.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                tmp.path().join("prom").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let ours = Server::start(&tmp.path().join("ours"));
    let started = Instant::now();
    while ureq::get(&format!("http://{addr}/-/ready")).call().is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "prometheus not ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut differ = Vec::new();
    for q in QUERIES {
        let theirs = get(
            &format!("http://{addr}/api/v1/parse_query"),
            &[("query", q)],
            &[],
        );
        let mine = get(&ours.url("/api/v1/parse_query"), &[("query", q)], &[]);
        assert_eq!(theirs.status, 200, "{q}: {}", theirs.body);
        assert_eq!(mine.status, 200, "{q}: {}", mine.body);
        let (t, m) = (theirs.json(), mine.json());
        if t != m {
            differ.push(format!(
                "{q}\n  prometheus: {}\n  ours:       {}",
                t["data"], m["data"]
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    for bad in ["sum(", "rate(x)", "x[5m", "1 +"] {
        let theirs = get(
            &format!("http://{addr}/api/v1/parse_query"),
            &[("query", bad)],
            &[],
        );
        let mine = get(&ours.url("/api/v1/parse_query"), &[("query", bad)], &[]);
        assert_eq!(mine.status, theirs.status, "{bad}");
        assert_eq!(
            mine.json()["errorType"],
            theirs.json()["errorType"],
            "{bad}"
        );
    }

    // format_query: one line when it fits in 100 characters, Prometheus' layout beyond.
    let long = [
        "sum by (job, instance, code, method) (rate(http_requests_total{job=\"api-server\", code=~\"5..\"}[5m])) / sum by (job, instance, code, method) (rate(http_requests_total[5m]))",
        "histogram_quantile(0.99, sum by (le, job, instance) (rate(http_request_duration_seconds_bucket{job=\"api-server\"}[5m])))",
        "topk(10, max_over_time(sum by (pod, namespace) (container_memory_working_set_bytes{namespace=~\"prod-.*\"})[1h:5m]))",
        "(node_filesystem_avail_bytes{fstype!=\"tmpfs\", mountpoint=\"/\"} / node_filesystem_size_bytes{fstype!=\"tmpfs\"}) * 100 < bool 10",
        "rate(apiserver_request_total{verb=~\"LIST|GET\"}[5m]) * on (instance, job) group_left (version, commit, branch) apiserver_build_info",
        "-sum(rate(very_long_metric_name_for_testing_the_prettier_output_width{label_one=\"value one\", label_two=\"value two\"}[5m]))",
        "label_replace(sum by (instance_name_label) (rate(process_cpu_seconds_total{job=\"node\"}[5m])), \"host\", \"$1\", \"instance_name_label\", \"(.*):.*\")",
        "up",
        "sum(rate(x[5m])) by (job)",
    ];
    let mut differ = Vec::new();
    for q in long {
        let theirs = get(
            &format!("http://{addr}/api/v1/format_query"),
            &[("query", q)],
            &[],
        );
        let mine = get(&ours.url("/api/v1/format_query"), &[("query", q)], &[]);
        assert_eq!(theirs.status, 200, "{q}: {}", theirs.body);
        let (t, m) = (theirs.json()["data"].clone(), mine.json()["data"].clone());
        if t != m {
            differ.push(format!(
                "{q}\n--- prometheus:\n{}\n--- ours:\n{}",
                t.as_str().unwrap_or(""),
                m.as_str().unwrap_or("")
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(ours.stop().success());
}
