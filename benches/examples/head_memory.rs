//! Head memory per active series, with full chunks written to `chunks_head/` (the default)
//! or kept in memory (`DbOptions::keep_head_chunks_in_memory`).
//!
//! Appends go-peer's head workload (series of five labels, one sample per series every 15 s,
//! one commit per step) into a fresh `Db`, then prints the process' resident memory growth
//! (`VmRSS` of `/proc/self/status`, before the first append and after the last) and the
//! head's own count of chunk bytes it holds, both per series. Run each mode in its own
//! process:
//!
//! ```text
//! cargo run -p tsdb-benches --release --example head_memory -- 20000 480 mmap
//! cargo run -p tsdb-benches --release --example head_memory -- 20000 480 memory
//! ```

use tsdb_core::db::{Db, DbOptions};
use tsdb_index::Labels;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let series: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let steps: i64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(480);
    let in_memory = args.get(3).map(String::as_str) == Some("memory");
    let tmp = tempfile::tempdir().expect("temporary directory");
    let mut lsets = Vec::with_capacity(series);
    for s in 0..series {
        let inst = format!("i-{}", s % 50);
        let id = s.to_string();
        lsets.push(Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("instance", inst.as_str()),
            ("code", ["200", "404", "500"][s % 3]),
            ("series", id.as_str()),
        ]));
    }
    let opts = DbOptions {
        keep_head_chunks_in_memory: in_memory,
        ..DbOptions::default()
    };
    let db = Db::open(tmp.path(), opts).expect("open");
    let before = rss_kib();
    let t0 = 1_700_000_000_000i64;
    let mut refs = vec![0u64; series];
    let mut v = 0u64;
    for st in 0..steps {
        let mut app = db.appender();
        for (i, l) in lsets.iter().enumerate() {
            v = v
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let val = (i as f64) * 10.0 + (v >> 54) as f64;
            let t = t0 + st * 15_000;
            refs[i] = if st == 0 {
                app.append(l, t, val).expect("append")
            } else {
                app.append_ref(refs[i], t, val).expect("append")
            };
        }
        app.commit().expect("commit");
    }
    let after = rss_kib();
    let chunk_bytes = db.head().chunk_memory_bytes();
    let files = std::fs::read_dir(tmp.path().join("chunks_head"))
        .map(|d| d.count())
        .unwrap_or(0);
    println!(
        "mode={} series={series} samples/series={steps} chunks={} chunk_files={files}",
        if in_memory { "memory" } else { "mmap" },
        db.head().num_chunks()
    );
    println!(
        "rss growth: {} KiB = {:.0} bytes/series; head chunk bytes in memory: {} = {:.0} bytes/series",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 * 1024.0 / series as f64,
        chunk_bytes,
        chunk_bytes as f64 / series as f64
    );
    db.close().expect("close");
}
