//! The maintenance an embedded `Db` runs itself: leveled compaction of persisted blocks,
//! retention, deletes (blocks and head) with tombstone cleaning, and snapshots. Every end
//! state is also read by the real `promtool tsdb dump`, which must see exactly our samples.

mod compact_common;

use std::collections::BTreeMap;
use std::path::Path;

use compact_common::{dump_text, promtool_dump};
use tsdb_core::db::{Db, DbOptions};
use tsdb_core::querier::Blocks;
use tsdb_core::retention::RetentionPolicy;
use tsdb_core::storage::{Querier, Queryable, ValueType};
use tsdb_index::{Labels, MatchType, Matcher};

const HOUR: i64 = 3_600_000;
const STEP: i64 = 60_000;

type Model = BTreeMap<Labels, Vec<(i64, f64)>>;

fn series_labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "node_load"),
        ("instance", &format!("host-{i:03}")),
    ])
}

/// Appends `series` series every minute over `[from, to)`, one commit per step.
fn append(db: &Db, series: usize, from: i64, to: i64, model: &mut Model) {
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        for i in 0..series {
            let v = (t / STEP) as f64 * 0.5 + i as f64;
            app.append(&series_labels(i), t, v).unwrap();
            model.entry(series_labels(i)).or_default().push((t, v));
        }
        app.commit().unwrap();
        t += STEP;
    }
}

fn all_series() -> Matcher {
    Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap()
}

fn read_querier(q: &dyn Querier) -> Model {
    let mut set = q.select(true, None, &[all_series()]).unwrap();
    let mut out = Model::new();
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let mut samples = Vec::new();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            samples.push(it.at());
        }
        assert!(it.err().is_none(), "{:?}", it.err());
        if !samples.is_empty() {
            out.insert(s.labels().clone(), samples);
        }
    }
    out
}

fn read_all(db: &dyn Queryable) -> Model {
    read_querier(&*db.querier(i64::MIN, i64::MAX).unwrap())
}

fn block_dirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 26)
        .collect();
    v.sort();
    v
}

#[test]
fn compaction_merges_head_blocks_into_larger_levels_that_promtool_reads() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbOptions::default()).unwrap();
    let mut model = Model::new();
    append(&db, 8, 0, 26 * HOUR, &mut model);

    let report = db.compact().unwrap();
    // The head is cut into twelve 2 h blocks, then the planner merges them.
    assert_eq!(report.head.len(), 12, "{:?}", report.head);
    assert!(!report.merged.is_empty());
    let blocks = db.blocks();
    let metas: Vec<_> = blocks.blocks().iter().map(|b| b.meta().clone()).collect();
    assert!(metas.len() < 12, "{metas:?}");
    assert!(metas.iter().any(|m| m.compaction.level >= 3), "{metas:?}");
    for w in metas.windows(2) {
        assert!(w[0].max_time <= w[1].min_time, "overlap: {metas:?}");
    }
    // Only the merged blocks are left on disk.
    assert_eq!(block_dirs(dir.path()).len(), metas.len());
    assert_eq!(read_all(&db), model);
    // A second run finds nothing to do.
    let again = db.compact().unwrap();
    assert!(again.head.is_empty() && again.merged.is_empty() && again.deleted.is_empty());
    db.close().unwrap();

    assert_eq!(promtool_dump(dir.path()), dump_text(&model));
    let db = Db::open(dir.path(), DbOptions::default()).unwrap();
    assert_eq!(read_all(&db), model);
}

#[test]
fn no_block_compaction_leaves_the_head_blocks_alone() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DbOptions {
        no_block_compaction: true,
        ..DbOptions::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let mut model = Model::new();
    append(&db, 2, 0, 14 * HOUR, &mut model);
    let report = db.compact().unwrap();
    assert_eq!(report.head.len(), 6);
    assert!(report.merged.is_empty());
    assert_eq!(block_dirs(dir.path()).len(), 6);
    assert_eq!(read_all(&db), model);
}

#[test]
fn retention_drops_old_blocks_while_a_running_query_still_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DbOptions {
        retention: RetentionPolicy {
            time_ms: 6 * HOUR,
            max_bytes: 0,
        },
        ..DbOptions::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let mut model = Model::new();
    append(&db, 4, 0, 8 * HOUR, &mut model);
    let first = db.compact().unwrap();
    assert_eq!(first.head.len(), 3);
    assert!(first.deleted.is_empty());
    let old_blocks = block_dirs(dir.path());
    assert_eq!(old_blocks.len(), 3);

    // A query that started before retention runs.
    let running = db.querier(0, 6 * HOUR - 1).unwrap();

    append(&db, 4, 8 * HOUR, 14 * HOUR, &mut model);
    let second = db.compact().unwrap();
    assert_eq!(second.head.len(), 3);
    // Newest block ends at 12 h: every block ending 6 h or more before it goes.
    assert_eq!(second.deleted.len(), 3, "{second:?}");
    for b in &old_blocks {
        assert!(!dir.path().join(b).exists(), "{b} still there");
    }

    // The running query reads every sample of the deleted blocks.
    let expected_old: Model = model
        .iter()
        .map(|(l, v)| {
            let old = v.iter().copied().filter(|(t, _)| *t < 6 * HOUR).collect();
            (l.clone(), old)
        })
        .collect();
    assert_eq!(read_querier(&*running), expected_old);
    drop(running);

    // New queries see the retained data only.
    let retained: Model = model
        .iter()
        .map(|(l, v)| {
            let kept = v.iter().copied().filter(|(t, _)| *t >= 6 * HOUR).collect();
            (l.clone(), kept)
        })
        .collect();
    assert_eq!(read_all(&db), retained);
    db.close().unwrap();
    assert_eq!(promtool_dump(dir.path()), dump_text(&retained));
}

fn without(model: &Model, doomed: &[usize], mint: i64, maxt: i64) -> Model {
    model
        .iter()
        .map(|(l, v)| {
            let hit = doomed.iter().any(|&i| series_labels(i) == *l);
            let kept = v
                .iter()
                .copied()
                .filter(|(t, _)| !(hit && *t >= mint && *t <= maxt))
                .collect();
            (l.clone(), kept)
        })
        .collect()
}

#[test]
fn delete_hides_samples_in_blocks_and_head_across_restart_compaction_and_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbOptions::default()).unwrap();
    let mut model = Model::new();
    append(&db, 6, 0, 5 * HOUR, &mut model);
    assert_eq!(db.compact().unwrap().head.len(), 1); // [0, 2h) persisted, head keeps the rest

    let doomed = Matcher::new(MatchType::Regexp, "instance", "host-00[12]").unwrap();
    db.delete(&[doomed], HOUR, 3 * HOUR).unwrap();
    let model = without(&model, &[1, 2], HOUR, 3 * HOUR);
    assert_eq!(read_all(&db), model);
    assert_eq!(db.blocks().blocks()[0].tombstones().total(), 2);
    // No matcher deletes nothing.
    db.delete(&[], 0, 5 * HOUR).unwrap();
    assert_eq!(read_all(&db), model);
    db.close().unwrap();

    // promtool reads the block tombstones and the WAL's tombstones record as we do.
    assert_eq!(promtool_dump(dir.path()), dump_text(&model));

    // The WAL replays the head's deletion.
    let db = Db::open(dir.path(), DbOptions::default()).unwrap();
    assert_eq!(db.open_report().replay.tombstones, 2);
    assert_eq!(read_all(&db), model);

    // Cleaning rewrites the block without the deleted samples.
    assert_eq!(db.clean_tombstones().unwrap().len(), 1);
    let blocks = db.blocks();
    assert_eq!(blocks.blocks().len(), 1);
    assert_eq!(blocks.blocks()[0].tombstones().total(), 0);
    drop(blocks);
    assert_eq!(read_all(&db), model);

    // The head's deleted samples stay out of the blocks it is cut into.
    let mut model = model;
    append(&db, 6, 5 * HOUR, 7 * HOUR, &mut model);
    assert!(!db.compact().unwrap().head.is_empty());
    assert_eq!(read_all(&db), model);
    db.close().unwrap();
    assert_eq!(promtool_dump(dir.path()), dump_text(&model));
}

#[test]
fn snapshot_is_a_data_dir_that_outlives_later_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbOptions::default()).unwrap();
    let mut model = Model::new();
    append(&db, 5, 0, 5 * HOUR, &mut model);
    db.compact().unwrap();

    let snap = dir.path().join("snapshots").join("with-head");
    let ulids = db.snapshot(&snap, true).unwrap();
    assert_eq!(ulids.len(), 2); // the persisted block and the head
    let blocks_only = dir.path().join("snapshots").join("blocks-only");
    assert_eq!(db.snapshot(&blocks_only, false).unwrap().len(), 1);

    // Later deletes, appends and compactions leave the snapshot as it was.
    let all = all_series();
    db.delete(&[all], 0, HOUR).unwrap();
    db.clean_tombstones().unwrap();
    append(&db, 5, 5 * HOUR, 9 * HOUR, &mut Model::new());
    db.compact().unwrap();
    db.close().unwrap();

    assert_eq!(read_all(&Blocks::open_dir(&snap).unwrap()), model);
    assert_eq!(promtool_dump(&snap), dump_text(&model));
    let before_2h: Model = model
        .iter()
        .map(|(l, v)| {
            (
                l.clone(),
                v.iter().copied().filter(|(t, _)| *t < 2 * HOUR).collect(),
            )
        })
        .collect();
    assert_eq!(
        read_all(&Blocks::open_dir(&blocks_only).unwrap()),
        before_2h
    );
}
