//! Compaction of 3 × 2 h blocks (1 000 series, a scrape every 15 s: 480 samples per series per
//! block, XOR chunks of 120 samples as a head cuts them; 1.44 M samples in all):
//! - `leveled`: three adjacent blocks into one 6 h block, as the first compaction level does
//!   (chunks are copied, not re-encoded);
//! - `vertical`: three overlapping blocks of the same 2 h (replicas scraping 5 s apart), merged
//!   sample by sample and re-encoded into 120-sample chunks.
//!
//! `cargo bench -p tsdb-benches --bench compaction`
//!
//! Side by side with Prometheus 3.5's own `LeveledCompactor` on the same three blocks
//! (`benches/go-compact`, built against the Go sources `install-prometheus-go` installs):
//! ```text
//! eval "$(../shared/tools/install-prometheus-go)"
//! (cd benches/go-compact && go build -o /tmp/go-compact .)
//! GO_COMPACT=/tmp/go-compact COMPACTION_TABLE_ONLY=1 cargo bench -p tsdb-benches --bench compaction
//! ```
//! With `GO_COMPACT` set, both compactors run `COMPACTION_REPS` times (default 5) on the same
//! directories, the best wall times and their ratio are printed, and the output blocks' sample
//! and chunk counts are compared.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chunkenc::XorAppender;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tsdb_core::block::writer::{BlockWriter, ChunkData};
use tsdb_core::block::Tombstones;
use tsdb_core::compact::{CompactOutcome, Compactor};
use tsdb_index::Labels;

const SERIES: usize = 1000;
const STEP_MS: i64 = 15_000;
const BLOCK_MS: i64 = 2 * 3600 * 1000;
const BLOCKS: i64 = 3;

fn labels() -> Vec<Labels> {
    let mut v: Vec<Labels> = (0..SERIES)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", format!("metric_{}", i % 20)),
                ("instance", format!("host-{}:9100", i / 20)),
                ("job", "node".to_string()),
            ])
        })
        .collect();
    v.sort();
    v
}

/// Writes block `b` of a scenario: adjacent blocks for `leveled`, the same range with
/// timestamps shifted by `b * 5 s` for `vertical`.
fn write_block(dir: &Path, b: i64, series: &[Labels], vertical: bool) -> PathBuf {
    let (mint, maxt) = if vertical {
        (0, BLOCK_MS)
    } else {
        (b * BLOCK_MS, (b + 1) * BLOCK_MS)
    };
    let shift = if vertical { b * 5_000 } else { 0 };
    let mut syms = BTreeSet::new();
    for l in series {
        for x in l.iter() {
            syms.insert(x.name.to_string());
            syms.insert(x.value.to_string());
        }
    }
    let mut w = BlockWriter::create(dir, mint, maxt).expect("create block");
    w.add_symbols(syms.iter().map(String::as_str))
        .expect("symbols");
    for (i, l) in series.iter().enumerate() {
        let mut chunks: Vec<(Vec<u8>, i64, i64, u64)> = Vec::new();
        let mut app = XorAppender::new();
        let (mut first, mut last) = (0, 0);
        let mut v = (i * 1000) as f64;
        let mut t = mint + (i as i64 * 37) % 5_000 + shift;
        while t < maxt {
            if app.num_samples() == 120 {
                let done = std::mem::replace(&mut app, XorAppender::new());
                chunks.push((done.into_chunk().into_bytes(), first, last, 120));
            }
            if app.num_samples() == 0 {
                first = t;
            }
            v += ((t / STEP_MS) as usize * (i + 3) % 17) as f64;
            app.append(t, v).expect("append");
            last = t;
            // A little jitter, as real scrapes have.
            t += STEP_MS + ((t / STEP_MS + i as i64) % 5) - 2;
        }
        let n = app.num_samples() as u64;
        chunks.push((app.into_chunk().into_bytes(), first, last, n));
        let data: Vec<ChunkData<'_>> = chunks
            .iter()
            .map(|(d, a, b, n)| ChunkData {
                encoding: 1,
                data: d,
                min_time: *a,
                max_time: *b,
                num_samples: *n,
            })
            .collect();
        w.add_series(l, &data).expect("series");
    }
    let meta = w
        .finish(&Tombstones::new())
        .expect("finish")
        .expect("non-empty");
    dir.join(meta.ulid.to_string())
}

fn compact_once(dirs: &[PathBuf], dest: &Path) -> (Duration, u64, u64) {
    std::fs::create_dir_all(dest).expect("dest");
    let start = Instant::now();
    let out = Compactor::new().compact_dirs(dest, dirs).expect("compact");
    let el = start.elapsed();
    let CompactOutcome::Written(meta) = out else {
        panic!("empty compaction")
    };
    std::fs::remove_dir_all(dest).expect("remove output");
    (el, meta.stats.num_samples, meta.stats.num_chunks)
}

fn side_by_side(name: &str, dirs: &[PathBuf], scratch: &Path) {
    let Ok(go) = std::env::var("GO_COMPACT") else {
        return;
    };
    let reps: usize = std::env::var("COMPACTION_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut best = Duration::MAX;
    let mut ours = (0, 0);
    for _ in 0..reps {
        let (el, s, c) = compact_once(dirs, &scratch.join("rust-out"));
        best = best.min(el);
        ours = (s, c);
    }
    let out = Command::new(&go)
        .arg("-reps")
        .arg(reps.to_string())
        .args(dirs)
        .output()
        .expect("run go-compact");
    assert!(
        out.status.success(),
        "go-compact failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let j: serde_json::Value = serde_json::from_str(line.trim()).expect("go-compact JSON");
    let go_ms = j["best_ms"].as_f64().expect("best_ms");
    let go_samples = j["num_samples"].as_u64().unwrap_or(0);
    let go_chunks = j["num_chunks"].as_u64().unwrap_or(0);
    assert_eq!(
        (ours.0, ours.1),
        (go_samples, go_chunks),
        "both compactors must write the same samples and chunks"
    );
    let rust_ms = best.as_secs_f64() * 1e3;
    println!(
        "{name} compaction of {BLOCKS} x 2h blocks ({} samples, {} chunks), best of {reps}:",
        ours.0, ours.1
    );
    println!("  rust {rust_ms:9.1} ms");
    println!("  go   {go_ms:9.1} ms");
    println!("  go / rust = {:.2}x", go_ms / rust_ms);
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let series = labels();
    let mut scenarios = Vec::new();
    for (name, vertical) in [("leveled", false), ("vertical", true)] {
        let data = tmp.path().join(name);
        std::fs::create_dir_all(&data).expect("data dir");
        let dirs: Vec<PathBuf> = (0..BLOCKS)
            .map(|b| write_block(&data, b, &series, vertical))
            .collect();
        side_by_side(name, &dirs, tmp.path());
        scenarios.push((name, dirs));
    }
    if std::env::var_os("COMPACTION_TABLE_ONLY").is_some() {
        return;
    }
    let mut g = c.benchmark_group("compaction");
    g.sample_size(10);
    g.throughput(Throughput::Elements(
        SERIES as u64 * (BLOCKS * BLOCK_MS / STEP_MS) as u64,
    ));
    for (name, dirs) in &scenarios {
        g.bench_function(format!("{name}_3x2h_1000_series"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += compact_once(dirs, &tmp.path().join("out")).0;
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
