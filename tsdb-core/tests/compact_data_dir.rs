//! Whole-directory operations: compacting until done, retention by time and size, and the
//! delete API followed by tombstone cleaning, checked with our reader and the real promtool.

mod compact_common;

use std::collections::BTreeMap;

use compact_common::*;
use tsdb_core::block::reader::Block;
use tsdb_core::compact::data_dir::{
    apply_retention, clean_tombstones, compact_until_done, delete_series, head_bytes,
};
use tsdb_core::compact::{CompactOutcome, LeveledPlanner};
use tsdb_core::retention::RetentionPolicy;
use tsdb_index::{Labels, MatchType, Matcher};

fn series_data(mint: i64, maxt: i64) -> BTreeMap<Labels, Vec<(i64, f64)>> {
    let mut d = BTreeMap::new();
    for i in 0..4 {
        let l = Labels::from_pairs([("__name__", "up"), ("i", &i.to_string())]);
        d.insert(
            l,
            (mint..maxt)
                .step_by(100)
                .map(|t| (t, (t + i) as f64))
                .collect(),
        );
    }
    d
}

fn metas(dir: &std::path::Path) -> Vec<(i64, i64, u32)> {
    let mut v: Vec<_> = block_dirs(dir)
        .iter()
        .map(|d| {
            let b = Block::open(d).unwrap();
            let m = b.meta();
            (m.min_time, m.max_time, m.compaction.level)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn compacts_level_by_level_until_the_planner_is_done() {
    let tmp = tempfile::tempdir().unwrap();
    let mut all = BTreeMap::new();
    for b in 0..10 {
        let d = series_data(b * 1000, (b + 1) * 1000);
        write_block(tmp.path(), b * 1000, (b + 1) * 1000, &d, 120);
        for (l, s) in d {
            all.entry(l).or_insert_with(Vec::new).extend(s);
        }
    }
    let planner = LeveledPlanner::new(vec![1000, 3000, 9000]).unwrap();
    let outcomes = compact_until_done(tmp.path(), &planner).unwrap();
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, CompactOutcome::Written(_))));
    // Three 3 s blocks become one 9 s block of level 3; the tenth block stays fresh.
    assert_eq!(metas(tmp.path()), [(0, 9000, 3), (9000, 10000, 1)]);
    assert_eq!(outcomes.len(), 4);
    assert!(promtool_dump(tmp.path()) == dump_text(&all));
}

#[test]
fn retention_by_time_and_by_size() {
    let tmp = tempfile::tempdir().unwrap();
    for b in 0..5 {
        write_block(
            tmp.path(),
            b * 1000,
            (b + 1) * 1000,
            &series_data(b * 1000, (b + 1) * 1000),
            120,
        );
    }
    // Newest max time 5000: blocks ending 2000 or earlier are >= 3000 behind.
    let deleted = apply_retention(
        tmp.path(),
        RetentionPolicy {
            time_ms: 3000,
            max_bytes: 0,
        },
    )
    .unwrap();
    assert_eq!(deleted.len(), 2);
    assert_eq!(metas(tmp.path()).first().map(|m| m.0), Some(2000));
    assert!(apply_retention(tmp.path(), RetentionPolicy::default())
        .unwrap()
        .is_empty());

    // Size: room for the WAL and two blocks only.
    std::fs::create_dir_all(tmp.path().join("wal")).unwrap();
    std::fs::write(tmp.path().join("wal/00000000"), vec![0u8; 1000]).unwrap();
    let block_size = tsdb_core::retention::dir_size(&block_dirs(tmp.path())[0]).unwrap();
    let wal = head_bytes(tmp.path()).unwrap();
    assert_eq!(wal, 1000);
    let limit = (wal + 2 * block_size + block_size / 2) as i64;
    let deleted = apply_retention(
        tmp.path(),
        RetentionPolicy {
            time_ms: 0,
            max_bytes: limit,
        },
    )
    .unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(metas(tmp.path()), [(3000, 4000, 1), (4000, 5000, 1)]);
}

#[test]
fn delete_api_then_clean_tombstones() {
    let tmp = tempfile::tempdir().unwrap();
    copy_fixture_blocks(tmp.path());
    let m = [Matcher::new(MatchType::Equal, "job", "api").unwrap()];
    let (from, to) = (1_700_003_000_000, 1_700_010_000_000);
    let touched = delete_series(tmp.path(), &m, from, to).unwrap();
    assert_eq!(touched.len(), 2, "the third block starts after the range");
    // Deleting again changes nothing.
    assert!(delete_series(tmp.path(), &m, from, to).unwrap().is_empty());
    let want: String = std::fs::read_to_string(prom_blocks().join("expected.dump"))
        .unwrap()
        .lines()
        .filter(|l| {
            let t: i64 = l.rsplit(' ').next().unwrap().parse().unwrap();
            !(l.contains("job=\"api\"") && (from..=to).contains(&t))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    // Tombstones hide the samples from promtool already...
    assert!(promtool_dump(tmp.path()) == want);
    // ...and cleaning rewrites the two blocks without them.
    let cleaned = clean_tombstones(tmp.path()).unwrap();
    assert_eq!(cleaned.len(), 2);
    let dirs = block_dirs(tmp.path());
    assert_eq!(dirs.len(), 3);
    for d in &dirs {
        assert!(Block::open(d).unwrap().tombstones().is_empty());
    }
    assert!(promtool_dump(tmp.path()) == want);
    assert!(clean_tombstones(tmp.path()).unwrap().is_empty());
}
