//! Helpers shared by the block tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use tsdb_core::querier::Blocks;
use tsdb_core::storage::{Series, StorageError, ValueType};
use tsdb_index::Matcher;

/// The Prometheus-written fixture blocks (env `SHARED_DIR`, else `../../shared`).
pub fn prom_blocks() -> PathBuf {
    let shared = std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    let p = shared.join("fixtures/prom-blocks");
    assert!(
        p.is_dir(),
        "fixture blocks not found at {} (set SHARED_DIR)",
        p.display()
    );
    p
}

/// Copies a directory tree (files made writable).
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

/// Copies the first fixture block into `dir`, returning the block path.
pub fn copy_first_block(dir: &Path) -> PathBuf {
    let src = prom_blocks();
    let mut blocks: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    blocks.sort();
    let dst = dir.join(blocks[0].file_name().unwrap());
    copy_dir(&blocks[0], &dst);
    dst
}

/// Every float sample of every series under `data_dir`, as (labels text, t, v bits), or the
/// first error met (opening, selecting or iterating).
pub fn read_all(data_dir: &Path) -> Result<Vec<(String, i64, u64)>, String> {
    let blocks = Blocks::open_dir(data_dir).map_err(|e| e.to_string())?;
    let q = blocks.multi_querier(i64::MIN, i64::MAX);
    let all = [Matcher::new(tsdb_index::MatchType::Regexp, "__name__", ".+").unwrap()];
    let mut set = q
        .select_merged(&all)
        .map_err(|e: StorageError| e.to_string())?;
    let mut out = Vec::new();
    while let Some(s) = set.next_merged() {
        let s = s.map_err(|e| e.to_string())?;
        let name = s.labels().to_string();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            out.push((name.clone(), t, v.to_bits()));
        }
        if let Some(e) = it.err() {
            return Err(e.to_string());
        }
    }
    Ok(out)
}
