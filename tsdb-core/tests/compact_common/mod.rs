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
