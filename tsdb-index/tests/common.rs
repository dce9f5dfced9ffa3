//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared directory with the Prometheus-written fixtures.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    assert!(
        dir.join("fixtures/prom-blocks").is_dir(),
        "fixtures not found under {} (set SHARED_DIR to the shared directory)",
        dir.display()
    );
    dir
}

/// The block directories of the Prometheus-written fixture, sorted.
pub fn fixture_blocks() -> Vec<PathBuf> {
    let root = shared_dir().join("fixtures/prom-blocks");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("index").is_file())
        .collect();
    v.sort();
    assert_eq!(
        v.len(),
        3,
        "expected three fixture blocks in {}",
        root.display()
    );
    v
}

/// `minTime` and `maxTime` of a block's meta.json.
pub fn block_range(dir: &std::path::Path) -> (i64, i64) {
    let meta = std::fs::read_to_string(dir.join("meta.json")).unwrap();
    let field = |k: &str| -> i64 {
        let i = meta.find(&format!("\"{k}\"")).unwrap() + k.len() + 2;
        let rest = meta[i..].trim_start_matches([':', ' ', '\t']);
        let end = rest
            .find(|c: char| c != '-' && !c.is_ascii_digit())
            .unwrap();
        rest[..end].parse().unwrap()
    };
    (field("minTime"), field("maxTime"))
}
