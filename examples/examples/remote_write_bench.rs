//! Remote-write ingestion throughput of a receiver: sends the `tsdb demo` workload (as
//! remote-write 1.0 requests) to a URL from `--clients` concurrent connections and prints
//! samples per second. Run it against `tsdb serve` and against Prometheus'
//! `--web.enable-remote-write-receiver` on the same machine to compare (see README).
//!
//! ```text
//! cargo run --release -p tsdb-examples --example remote_write_bench -- URL [INSTANCES] [CLIENTS]
//! ```

use std::time::Instant;

use tsdb_examples::serve::demo::{post_body, workload_requests, Workload};

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9090/api/v1/write".into());
    let instances: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(500);
    let clients: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);
    let workload = Workload {
        instances,
        samples_per_series: 240,
        interval_ms: 15_000,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    // Each client owns a slice of the instances and sends its rounds in time order, as one
    // Prometheus shard would.
    let per_client: Vec<Vec<(usize, Vec<u8>)>> = (0..clients)
        .map(|c| {
            let from = instances * c / clients;
            let to = instances * (c + 1) / clients;
            workload_requests(workload, from..to, now)
        })
        .collect();
    let samples: usize = per_client.iter().flatten().map(|(n, _)| n).sum();
    let n_requests: usize = per_client.iter().map(Vec::len).sum();
    let failed = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for requests in &per_client {
            let (url, failed) = (&url, &failed);
            s.spawn(move || {
                let agent = ureq::AgentBuilder::new().build();
                for (i, (_, body)) in requests.iter().enumerate() {
                    if let Err(e) = post_body(&agent, url, body) {
                        eprintln!("request {i}: {e}");
                        failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let took = started.elapsed();
    println!(
        "{samples} samples ({} series, {n_requests} requests, {clients} clients, {} failed) in {took:.2?}: {:.0} samples/s",
        samples / workload.samples_per_series,
        failed.load(std::sync::atomic::Ordering::Relaxed),
        samples as f64 / took.as_secs_f64()
    );
}
