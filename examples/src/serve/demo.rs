//! `tsdb demo`: starts a `tsdb serve` node on a fresh directory, pushes a realistic workload
//! into it through remote write (as Prometheus would), queries it through the HTTP API (as
//! Grafana would), and prints what happened. Needs no other service.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use prost::Message;
use storeapi::prompb::{Label, Sample, TimeSeries, WriteRequest};

use super::{run, ServeConfig};

/// Shape of the generated workload.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Number of instances (each with the same set of series).
    pub instances: usize,
    /// Samples per series.
    pub samples_per_series: usize,
    /// Scrape interval in ms.
    pub interval_ms: i64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            instances: 50,
            samples_per_series: 240,
            interval_ms: 15_000,
        }
    }
}

const HANDLERS: [&str; 4] = ["/api/v1/query", "/api/v1/write", "/metrics", "/-/ready"];
const CODES: [&str; 2] = ["200", "500"];
const BUCKETS: [&str; 6] = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.into(),
        value: value.into(),
    }
}

/// A deterministic pseudo-random step in `[0, n)`.
fn noise(seed: u64, n: u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x ^ (x >> 29)) % n.max(1)
}

/// The series of one scrape of one instance at `t`, values depending on the scrape index.
fn scrape(instance: usize, i: usize, t: i64) -> Vec<TimeSeries> {
    let inst = format!("10.0.{}.{}:9100", instance / 250, instance % 250);
    let job = if instance % 5 == 0 { "db" } else { "api" };
    let base = |name: &str| {
        vec![
            label("__name__", name),
            label("instance", &inst),
            label("job", job),
        ]
    };
    let sample = |v: f64| {
        vec![Sample {
            value: v,
            timestamp: t,
        }]
    };
    let mut out = Vec::new();
    out.push(TimeSeries {
        labels: base("up"),
        samples: sample(1.0),
        ..Default::default()
    });
    for (h, handler) in HANDLERS.iter().enumerate() {
        for (c, code) in CODES.iter().enumerate() {
            let rate = if c == 0 { 20 } else { 1 };
            let seed = (instance * 100 + h * 10 + c) as u64;
            let total: u64 = (0..=i as u64)
                .map(|k| noise(seed * 7919 + k, rate * 2))
                .sum();
            let mut l = base("http_requests_total");
            l.insert(1, label("code", code));
            l.insert(2, label("handler", handler));
            out.push(TimeSeries {
                labels: l,
                samples: sample(total as f64),
                ..Default::default()
            });
        }
    }
    let observed = (i as u64 + 1) * 10;
    for (b, le) in BUCKETS.iter().enumerate() {
        let mut l = base("http_request_duration_seconds_bucket");
        l.insert(2, label("le", le));
        let frac = [0.3, 0.5, 0.75, 0.9, 0.97, 1.0][b];
        out.push(TimeSeries {
            labels: l,
            samples: sample((observed as f64 * frac).floor()),
            ..Default::default()
        });
    }
    out.push(TimeSeries {
        labels: base("process_resident_memory_bytes"),
        samples: sample(50e6 + noise(instance as u64 * 100_003 + i as u64, 5_000_000) as f64),
        ..Default::default()
    });
    out
}

/// The workload of instances `instances` as remote-write 1.0 request bodies
/// (snappy-compressed) with their sample counts, one per scrape round, in time order; the
/// first round is `interval_ms * samples_per_series` before `now`.
pub fn workload_requests(
    workload: Workload,
    instances: std::ops::Range<usize>,
    now: i64,
) -> Vec<(usize, Vec<u8>)> {
    let first = now - workload.interval_ms * workload.samples_per_series as i64;
    (0..workload.samples_per_series)
        .map(|i| {
            let t = first + i as i64 * workload.interval_ms;
            let mut req = WriteRequest::default();
            for inst in instances.clone() {
                req.timeseries.extend(scrape(inst, i, t));
            }
            let body = snap::raw::Encoder::new()
                .compress_vec(&req.encode_to_vec())
                .unwrap_or_default();
            (req.timeseries.len(), body)
        })
        .collect()
}

/// POSTs one snappy-compressed remote-write 1.0 body to `url`.
pub fn post_body(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<(), String> {
    agent
        .post(url)
        .set("Content-Type", "application/x-protobuf")
        .set("Content-Encoding", "snappy")
        .set("X-Prometheus-Remote-Write-Version", "0.1.0")
        .send_bytes(body)
        .map_err(|e| format!("remote write failed: {e}"))?;
    Ok(())
}

fn query(
    agent: &ureq::Agent,
    addr: SocketAddr,
    q: &str,
    t: i64,
) -> Result<serde_json::Value, String> {
    let time = format!("{}.{:03}", t / 1000, t % 1000);
    let text = agent
        .get(&format!("http://{addr}/api/v1/query"))
        .query("query", q)
        .query("time", &time)
        .call()
        .map_err(|e| format!("query {q}: {e}"))?
        .into_string()
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// Runs the demo on `data` and prints a report to stdout.
pub fn run_demo(data: &Path, workload: Workload) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let cfg = ServeConfig {
        data: data.to_path_buf(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server = rt.spawn(run(
        cfg,
        async {
            let _ = stop_rx.await;
        },
        move |a| {
            let _ = addr_tx.send(a);
        },
    ));
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| "the server did not start".to_string())?;
    println!(
        "tsdb serve listening on http://{addr}, data in {}",
        data.display()
    );

    let agent = ureq::AgentBuilder::new().build();
    let now = crate::http_api::now_ms();
    let first = now - workload.interval_ms * workload.samples_per_series as i64;
    let bodies = workload_requests(workload, 0..workload.instances, now);
    let url = format!("http://{addr}/api/v1/write");
    let started = Instant::now();
    let mut samples = 0usize;
    let requests = bodies.len();
    for (n, body) in &bodies {
        post_body(&agent, &url, body)?;
        samples += n;
    }
    let took = started.elapsed();
    println!(
        "remote write: {samples} samples in {requests} requests ({} series) in {:.2?}: {:.0} samples/s, each acknowledged after its WAL commit",
        samples / workload.samples_per_series,
        took,
        samples as f64 / took.as_secs_f64()
    );

    let last = first + (workload.samples_per_series as i64 - 1) * workload.interval_ms;
    for q in [
        "count(up)",
        "sum by (job) (rate(http_requests_total[5m]))",
        "sum by (code) (rate(http_requests_total{handler=~\"/api/.*\"}[5m]))",
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        "topk(3, max_over_time(process_resident_memory_bytes[30m]))",
    ] {
        let started = Instant::now();
        let answer = query(&agent, addr, q, last)?;
        let took = started.elapsed();
        let result = &answer["data"]["result"];
        let shown: Vec<String> = match result.as_array() {
            Some(samples) => samples
                .iter()
                .take(3)
                .map(|s| format!("{} => {}", s["metric"], s["value"][1]))
                .collect(),
            None => vec![answer.to_string()],
        };
        println!("query {q} ({took:.2?}):");
        for line in shown {
            println!("    {line}");
        }
    }
    let _ = stop_tx.send(());
    rt.block_on(server)
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    println!("server stopped (SIGTERM path: requests drained, WAL flushed and closed)");
    Ok(())
}
