//! Byte-for-byte comparison with Prometheus' own Go compactor (`benches/go-compact`): for the
//! same input blocks, our output block's `index`, chunk segments and `tombstones` must equal
//! the Go `LeveledCompactor`'s. Needs the Go peer: `scripts/test` builds it and sets
//! `GO_COMPACT` to the binary; a plain `cargo test` without it says so and checks nothing.

mod compact_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use compact_common::*;
use tsdb_core::block::reader::Block;
use tsdb_core::compact::{CompactOutcome, Compactor};
use tsdb_core::delete::delete_in_block;
use tsdb_index::{Labels, MatchType, Matcher};

fn go_compact(go: &str, dirs: &[PathBuf], out: &Path) -> PathBuf {
    let st = Command::new(go)
        .args(["-reps", "1", "-keep"])
        .arg(out)
        .args(dirs)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    block_dirs(out).pop().expect("go wrote a block")
}

fn assert_same_files(go: &Path, ours: &Path) {
    for f in ["index", "tombstones", "chunks/000001"] {
        let a = std::fs::read(go.join(f)).unwrap();
        let b = std::fs::read(ours.join(f)).unwrap();
        assert!(a == b, "{f} differs ({} vs {} bytes)", a.len(), b.len());
    }
    let (gm, om) = (Block::open(go).unwrap(), Block::open(ours).unwrap());
    assert_eq!(gm.meta().stats, om.meta().stats);
    assert_eq!(gm.meta().compaction.level, om.meta().compaction.level);
    assert_eq!(gm.meta().compaction.sources, om.meta().compaction.sources);
    assert_eq!(gm.meta().compaction.parents, om.meta().compaction.parents);
}

fn ours(dirs: &[PathBuf], out: &Path) -> PathBuf {
    std::fs::create_dir_all(out).unwrap();
    match Compactor::new().compact_dirs(out, dirs).unwrap() {
        CompactOutcome::Written(m) => out.join(m.ulid.to_string()),
        CompactOutcome::Empty => panic!("empty"),
    }
}

#[test]
fn same_bytes_as_prometheus_compactor() {
    let Ok(go) = std::env::var("GO_COMPACT") else {
        eprintln!("GO_COMPACT not set: skipping the byte comparison with Prometheus' compactor");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();

    // 1. The fixture blocks (adjacent: leveled compaction).
    let input = tmp.path().join("fixture");
    let dirs = copy_fixture_blocks(&input);
    let g = go_compact(&go, &dirs, &tmp.path().join("go1"));
    let o = ours(&dirs, &tmp.path().join("rust1"));
    assert_same_files(&g, &o);

    // 2. The same with tombstones (chunks re-encoded without deleted samples).
    let input = tmp.path().join("tomb");
    let dirs = copy_fixture_blocks(&input);
    let m = [Matcher::new(MatchType::Regexp, "__name__", "http_.*").unwrap()];
    for d in &dirs {
        let b = Block::open(d).unwrap();
        delete_in_block(&b, &m, 1_700_005_000_123, 1_700_009_000_456).unwrap();
    }
    let g = go_compact(&go, &dirs, &tmp.path().join("go2"));
    let o = ours(&dirs, &tmp.path().join("rust2"));
    assert_same_files(&g, &o);

    // 3. Overlapping blocks (vertical compaction), with distinct values on shared timestamps.
    let input = tmp.path().join("vertical");
    std::fs::create_dir_all(&input).unwrap();
    for (k, (lo, hi, step)) in [
        (0i64, 10_000i64, 10usize),
        (5_000, 15_000, 4),
        (7_000, 8_000, 20),
    ]
    .into_iter()
    .enumerate()
    {
        let mut data = BTreeMap::new();
        for i in 0..20 {
            let l = Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]);
            let pts: Vec<(i64, f64)> = (lo..hi)
                .step_by(step)
                .map(|t| (t, t as f64 + (k * 1000 + i) as f64))
                .collect();
            data.insert(l, pts);
        }
        write_block(&input, lo, hi, &data, 120);
    }
    let dirs = block_dirs(&input);
    let g = go_compact(&go, &dirs, &tmp.path().join("go3"));
    let o = ours(&dirs, &tmp.path().join("rust3"));
    assert_same_files(&g, &o);

    // 4. Overlapping native-histogram blocks (counter resets, new buckets, shifted replicas).
    let input = tmp.path().join("histograms");
    std::fs::create_dir_all(&input).unwrap();
    let series: Vec<Labels> = (0..3)
        .map(|i| Labels::from_pairs([("__name__", "h"), ("i", &i.to_string())]))
        .collect();
    write_histogram_block(&input, 0, 60_000, 100, 0, &series);
    write_histogram_block(&input, 30_000, 90_000, 100, 0, &series);
    write_histogram_block(&input, 40_000, 50_000, 100, 50, &series);
    let dirs = block_dirs(&input);
    let g = go_compact(&go, &dirs, &tmp.path().join("go4"));
    let o = ours(&dirs, &tmp.path().join("rust4"));
    assert_same_files(&g, &o);
}
