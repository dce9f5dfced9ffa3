//! Helpers shared by the compaction tests: the real promtool, dumps, and blocks we generate.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chunkenc::XorAppender;
use tsdb_core::block::writer::{BlockWriter, ChunkData};
use tsdb_core::block::BlockMeta;
use tsdb_index::Labels;

/// `promtool` (env `PROMETHEUS_BIN`, else `$HOME/.cache/prometheus-ref/usr/bin`).
pub fn promtool() -> PathBuf {
    let dir = std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME"))
                .join(".cache/prometheus-ref/usr/bin")
        });
    let p = dir.join("promtool");
    assert!(
        p.exists(),
        "promtool not found at {} (run shared/tools/install-prometheus or set PROMETHEUS_BIN)",
        p.display()
    );
    p
}

/// What `promtool tsdb dump` prints for a data directory (an empty `wal/` is created, as
/// promtool opens the directory as a database).
pub fn promtool_dump(data_dir: &Path) -> String {
    std::fs::create_dir_all(data_dir.join("wal")).unwrap();
    let out = Command::new(promtool())
        .args(["tsdb", "dump"])
        .arg(data_dir)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool tsdb dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Samples per series, keyed by the series' text form (`{a="b"}`), each in time order.
pub type Samples = BTreeMap<String, Vec<(i64, f64)>>;

/// The dump text promtool prints for `samples`: series in label order, samples in time order.
/// `labels` maps each key to its labels (for ordering).
pub fn dump_text(samples: &BTreeMap<Labels, Vec<(i64, f64)>>) -> String {
    let mut out = String::new();
    for (l, v) in samples {
        for (t, x) in v {
            out.push_str(&l.to_string());
            out.push(' ');
            tsdb_core::gofloat::push_go_g(&mut out, *x);
            out.push(' ');
            out.push_str(&t.to_string());
            out.push('\n');
        }
    }
    out
}

/// Writes a level-1 block under `dir` covering `[mint, maxt)` with the given float samples,
/// cutting XOR chunks every `per_chunk` samples. Returns its meta.
pub fn write_block(
    dir: &Path,
    mint: i64,
    maxt: i64,
    series: &BTreeMap<Labels, Vec<(i64, f64)>>,
    per_chunk: usize,
) -> BlockMeta {
    let mut w = BlockWriter::create(dir, mint, maxt).unwrap();
    let mut symbols = std::collections::BTreeSet::new();
    for l in series.keys() {
        for lbl in l.iter() {
            symbols.insert(lbl.name.to_string());
            symbols.insert(lbl.value.to_string());
        }
    }
    w.add_symbols(symbols.iter().map(String::as_str)).unwrap();
    for (l, samples) in series {
        let mut chunks = Vec::new();
        for part in samples.chunks(per_chunk) {
            let mut a = XorAppender::new();
            for (t, v) in part {
                a.append(*t, *v).unwrap();
            }
            chunks.push((
                part[0].0,
                part[part.len() - 1].0,
                part.len(),
                a.into_chunk().into_bytes(),
            ));
        }
        let data: Vec<ChunkData<'_>> = chunks
            .iter()
            .map(|(a, b, n, d)| ChunkData {
                encoding: 1,
                data: d,
                min_time: *a,
                max_time: *b,
                num_samples: *n as u64,
            })
            .collect();
        w.add_series(l, &data).unwrap();
    }
    w.finish(&tsdb_core::block::Tombstones::new())
        .unwrap()
        .unwrap()
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::write(&dst, std::fs::read(e.path()).unwrap()).unwrap();
        }
    }
}

/// The Prometheus-written fixture blocks (env `SHARED_DIR`, else `../../shared`).
pub fn prom_blocks() -> PathBuf {
    let shared = std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    shared.join("fixtures/prom-blocks")
}

/// Copies the three fixture blocks into `dir`; returns their directories in name order.
pub fn copy_fixture_blocks(dir: &Path) -> Vec<PathBuf> {
    let src = prom_blocks();
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    names.sort();
    for b in names {
        let dst = dir.join(b.file_name().unwrap());
        copy_dir(&b, &dst);
        out.push(dst);
    }
    out
}

/// Block directories (ULID names) under `dir`, sorted.
pub fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    tsdb_core::compact::planner::block_dirs(dir).unwrap()
}

/// An integer counter histogram for sample `idx` of series `i`: it grows, resets every 37
/// samples and gains a third bucket for part of each cycle (so chunks are recoded or cut).
pub fn test_histogram(idx: i64, i: usize) -> chunkenc::Histogram {
    let k = (idx % 37) as u64;
    let a = k * 2 + i as u64;
    let b = k + 1;
    let third = idx % 50 > 25;
    let c = if third { k } else { 0 };
    let zero = k / 3;
    let mut spans = vec![chunkenc::Span {
        offset: 0,
        length: 2,
    }];
    let mut deltas = vec![a as i64, b as i64 - a as i64];
    if third {
        spans[0].length = 3;
        deltas.push(c as i64 - b as i64);
    }
    chunkenc::Histogram {
        schema: 1,
        zero_threshold: 0.001,
        zero_count: zero,
        count: zero + a + b + c,
        sum: (a * 3 + b * 5 + c * 7) as f64 * 0.25,
        positive_spans: spans,
        positive_buckets: deltas,
        ..Default::default()
    }
}

/// Writes a level-1 block of integer-histogram series (samples at `mint..maxt` every `step`,
/// shifted by `offset`), cutting chunks every 120 samples or when the appender asks for it.
pub fn write_histogram_block(
    dir: &Path,
    mint: i64,
    maxt: i64,
    step: usize,
    offset: i64,
    series: &[Labels],
) -> BlockMeta {
    use chunkenc::{AppendOutcome, HistogramAppender};
    let mut w = BlockWriter::create(dir, mint, maxt).unwrap();
    let mut symbols = std::collections::BTreeSet::new();
    for l in series {
        for lbl in l.iter() {
            symbols.insert(lbl.name.to_string());
            symbols.insert(lbl.value.to_string());
        }
    }
    w.add_symbols(symbols.iter().map(String::as_str)).unwrap();
    let mut sorted = series.to_vec();
    sorted.sort();
    for (i, l) in sorted.iter().enumerate() {
        let mut done: Vec<(i64, i64, u64, Vec<u8>)> = Vec::new();
        let mut app = HistogramAppender::new();
        let (mut first, mut last) = (0, 0);
        for t in (mint + offset..maxt).step_by(step) {
            let h = test_histogram(t / step as i64, i);
            if app.num_samples() == 120 {
                let prev = std::mem::replace(&mut app, HistogramAppender::new());
                app.append_histogram(Some(&prev), t, &h, false).unwrap();
                done.push((first, last, prev.num_samples() as u64, prev.into_bytes()));
                first = t;
                last = t;
                continue;
            }
            if app.num_samples() == 0 {
                first = t;
            }
            match app.append_histogram(None, t, &h, false).unwrap() {
                AppendOutcome::Appended | AppendOutcome::Recoded => {}
                AppendOutcome::NewChunk(next) => {
                    let prev = std::mem::replace(&mut app, *next);
                    done.push((first, last, prev.num_samples() as u64, prev.into_bytes()));
                    first = t;
                }
            }
            last = t;
        }
        if app.num_samples() > 0 {
            done.push((first, last, app.num_samples() as u64, app.into_bytes()));
        }
        let data: Vec<ChunkData<'_>> = done
            .iter()
            .map(|(a, b, n, d)| ChunkData {
                encoding: 2,
                data: d,
                min_time: *a,
                max_time: *b,
                num_samples: *n,
            })
            .collect();
        w.add_series(l, &data).unwrap();
    }
    w.finish(&tsdb_core::block::Tombstones::new())
        .unwrap()
        .unwrap()
}
