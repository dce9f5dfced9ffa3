//! Out-of-order ingestion (Prometheus' `out_of_order_time_window`): samples older than their
//! series' newest are accepted within the window, logged to `wbl/`, merged into queries,
//! replayed after a restart, and persisted into blocks that compaction merges with the
//! in-order ones. The real `promtool tsdb dump` reads our WAL + WBL, and later our blocks,
//! to exactly the samples we accepted.

mod compact_common;

use std::collections::BTreeMap;

use compact_common::{dump_text, promtool_dump};
use tsdb_core::db::{Db, DbOptions};
use tsdb_core::head::{AppendError, HeadOptions};
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_index::{Labels, MatchType, Matcher};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

type Model = BTreeMap<Labels, BTreeMap<i64, f64>>;

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "temperature"), ("sensor", &format!("s{i}"))])
}

fn opts(window: i64) -> DbOptions {
    DbOptions {
        head: HeadOptions {
            ooo_window: window,
            ..HeadOptions::default()
        },
        ..DbOptions::default()
    }
}

fn append(db: &Db, model: &mut Model, series: usize, times: impl Iterator<Item = i64>) {
    for t in times {
        let mut app = db.appender();
        for i in 0..series {
            let v = (t / 1000) as f64 + i as f64 / 10.0;
            app.append(&labels(i), t, v).unwrap();
            model.entry(labels(i)).or_default().insert(t, v);
        }
        app.commit().unwrap();
    }
}

fn read_all(db: &dyn Queryable) -> Model {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let all = Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap();
    let mut set = q.select(true, None, &[all]).unwrap();
    let mut out = Model::new();
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let mut it = s.iter();
        let mut last = i64::MIN;
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            assert!(t > last, "samples out of order in {}", s.labels());
            last = t;
            out.entry(s.labels().clone()).or_default().insert(t, v);
        }
    }
    out
}

fn as_dump(model: &Model) -> String {
    let flat: BTreeMap<Labels, Vec<(i64, f64)>> = model
        .iter()
        .map(|(l, m)| (l.clone(), m.iter().map(|(t, v)| (*t, *v)).collect()))
        .collect();
    dump_text(&flat)
}

#[test]
fn out_of_order_samples_are_accepted_within_the_window_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(30 * MIN)).unwrap();
    let mut model = Model::new();
    append(&db, &mut model, 3, (0..120).map(|m| m * MIN));
    // Half-minute samples of the last 20 minutes, sent late.
    append(&db, &mut model, 3, (100..119).map(|m| m * MIN + 30_000));
    assert_eq!(db.head().num_ooo_samples(), 3 * 19);

    let mut app = db.appender();
    let err = app.append(&labels(0), 80 * MIN + 1, 1.0).unwrap_err();
    assert!(matches!(err, AppendError::TooOld { .. }), "{err}");
    // A timestamp held already (in order) with another value stays a duplicate error.
    let err = app.append(&labels(0), 119 * MIN, -1.0).unwrap_err();
    assert!(matches!(err, AppendError::DuplicateSample { .. }), "{err}");
    drop(app);

    // Without a window, the same late sample is out of order.
    let plain = tempfile::tempdir().unwrap();
    let db2 = Db::open(plain.path(), DbOptions::default()).unwrap();
    let mut m2 = Model::new();
    append(&db2, &mut m2, 1, [10 * MIN].into_iter());
    let mut app = db2.appender();
    let err = app.append(&labels(0), 5 * MIN, 1.0).unwrap_err();
    assert!(matches!(err, AppendError::OutOfOrder { .. }), "{err}");
    drop(app);
    db2.close().unwrap();

    assert_eq!(read_all(&db), model);
    db.close().unwrap();
    assert!(dir.path().join("wbl").is_dir());
    // Prometheus replays our WAL and WBL to the same samples.
    assert_eq!(promtool_dump(dir.path()), as_dump(&model));

    let db = Db::open(dir.path(), opts(30 * MIN)).unwrap();
    assert_eq!(db.open_report().replay.ooo_samples, 3 * 19);
    assert_eq!(read_all(&db), model);
}

#[test]
fn out_of_order_samples_become_blocks_merged_with_the_in_order_ones() {
    let dir = tempfile::tempdir().unwrap();
    // A wide window: late samples may fall into ranges already persisted.
    let db = Db::open(dir.path(), opts(4 * HOUR)).unwrap();
    let mut model = Model::new();
    append(&db, &mut model, 4, (0..170).map(|m| m * MIN));
    let first = db.compact().unwrap();
    assert_eq!(first.head.len(), 0, "the head spans less than 3 h");
    append(&db, &mut model, 4, (170..300).map(|m| m * MIN));
    // Late samples: some in [0, 2 h), which the next compaction persists in order, some in
    // the head's range.
    append(&db, &mut model, 4, (60..90).map(|m| m * MIN + 15_000));
    append(&db, &mut model, 4, (200..230).map(|m| m * MIN + 15_000));
    assert_eq!(read_all(&db), model);

    let report = db.compact().unwrap();
    assert_eq!(report.head.len(), 1, "{report:?}");
    // Late samples before the in-order blocks' end (2 h) become a block; those in the
    // head's range wait for the head to move past them.
    assert_eq!(report.out_of_order.len(), 1, "{report:?}");
    assert!(report.out_of_order.iter().all(|m| m
        .compaction
        .hints
        .contains(&"from-out-of-order".to_string())));
    assert_eq!(db.head().num_ooo_samples(), 4 * 30);
    // The late block of [0, 2 h) overlapped the in-order one: they were merged.
    let blocks = db.blocks();
    let metas: Vec<_> = blocks.blocks().iter().map(|b| b.meta().clone()).collect();
    for w in metas.windows(2) {
        assert!(w[0].max_time <= w[1].min_time, "overlap left: {metas:?}");
    }
    drop(blocks);
    assert_eq!(read_all(&db), model);
    // The WBL segments that held the persisted samples are gone; the samples left were
    // logged again into the current one.
    let wbl_segments = std::fs::read_dir(dir.path().join("wbl")).unwrap().count();
    assert_eq!(wbl_segments, 1);

    // Deletes reach late samples too.
    let s1 = Matcher::new(MatchType::Equal, "sensor", "s1").unwrap();
    append(&db, &mut model, 4, (280..290).map(|m| m * MIN + 20_000));
    db.delete(&[s1], 270 * MIN, 285 * MIN).unwrap();
    for (t, _) in model[&labels(1)].clone() {
        if (270 * MIN..=285 * MIN).contains(&t) {
            model.get_mut(&labels(1)).unwrap().remove(&t);
        }
    }
    assert_eq!(read_all(&db), model);
    db.close().unwrap();
    assert_eq!(promtool_dump(dir.path()), as_dump(&model));

    let db = Db::open(dir.path(), opts(4 * HOUR)).unwrap();
    assert_eq!(read_all(&db), model);

    // Once the head has moved past them, the rest become blocks too.
    append(&db, &mut model, 4, (300..540).map(|m| m * MIN));
    let report = db.compact().unwrap();
    assert!(!report.out_of_order.is_empty(), "{report:?}");
    assert_eq!(db.head().num_ooo_samples(), 0);
    let got = read_all(&db);
    for (l, want) in &model {
        let have = got.get(l).cloned().unwrap_or_default();
        let missing: Vec<_> = want
            .keys()
            .filter(|t| !have.contains_key(t))
            .take(5)
            .collect();
        let extra: Vec<_> = have
            .keys()
            .filter(|t| !want.contains_key(t))
            .take(5)
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{l}: missing {missing:?} extra {extra:?}"
        );
    }
    assert_eq!(got, model);
    db.close().unwrap();
    assert_eq!(promtool_dump(dir.path()), as_dump(&model));
}
