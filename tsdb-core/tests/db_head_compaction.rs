//! Cutting the head into blocks: `Db::compact_head` persists the oldest 2 h of the head once it
//! spans more than 3 h, drops it from memory and checkpoints the WAL; nothing is lost or
//! doubled, neither for us (live, and after reopening from block + checkpoint + segments) nor
//! for the real `promtool`, which reads the block, our checkpoint and our WAL segments.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tsdb_core::db::{Db, DbOptions};
use tsdb_core::gofloat::go_g;
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_core::wlog::checkpoint::list_checkpoints;
use tsdb_core::wlog::WalOptions;
use tsdb_index::{Labels, MatchType, Matcher};

const HOUR: i64 = 3_600_000;
const STEP: i64 = 15_000;

fn series_labels(i: usize) -> Labels {
    Labels::from_pairs([
        (
            "__name__",
            if i % 3 == 0 {
                "requests_total"
            } else {
                "temperature"
            },
        ),
        ("instance", &format!("host-{i:03}")),
    ])
}

/// Every sample as a promtool-dump line, sorted.
fn dump(db: &dyn Queryable) -> Vec<String> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let all = Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap();
    let mut set = q.select(true, None, &[all]).unwrap();
    let mut out = Vec::new();
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let labels = s.labels().to_string();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            out.push(format!("{labels} {} {t}", go_g(v)));
        }
        assert!(it.err().is_none(), "{:?}", it.err());
    }
    out.sort();
    out
}

fn expected_line(i: usize, t: i64) -> String {
    let mut s = String::new();
    write!(s, "{} {} {t}", series_labels(i), go_g(value(i, t))).unwrap();
    s
}

fn value(i: usize, t: i64) -> f64 {
    if i % 3 == 0 {
        (t / STEP) as f64 * (i + 1) as f64
    } else {
        20.0 + ((t / STEP + i as i64) % 17) as f64 * 0.25
    }
}

/// Appends `series` series from `from` to `to` (exclusive) every 15 s, one commit per step.
/// Series with `i % 10 == 9` stop after the first hour (so they leave the head once persisted).
fn append_range(db: &Db, series: usize, from: i64, to: i64, expected: &mut BTreeSet<String>) {
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        for i in 0..series {
            if i % 10 == 9 && t >= HOUR {
                continue;
            }
            app.append(&series_labels(i), t, value(i, t)).unwrap();
            expected.insert(expected_line(i, t));
        }
        app.commit().unwrap();
        t += STEP;
    }
}

fn small_wal() -> DbOptions {
    DbOptions {
        wal: WalOptions {
            segment_size: 128 * 1024,
            ..WalOptions::default()
        },
        ..DbOptions::default()
    }
}

fn promtool() -> PathBuf {
    let dir = std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/prometheus-ref/usr/bin")
        });
    dir.join("promtool")
}

#[test]
fn head_is_cut_into_a_block_and_the_wal_is_checkpointed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), small_wal()).unwrap();
    let mut expected = BTreeSet::new();
    append_range(&db, 60, 0, 3 * HOUR, &mut expected);
    assert!(
        !db.head_compactable(),
        "3 h - 15 s is not more than 1.5 block ranges"
    );
    assert!(db.compact_head().unwrap().is_empty());
    append_range(&db, 60, 3 * HOUR, 5 * HOUR, &mut expected);
    let series_before = db.head().num_series();

    let steps = db.compact_head().unwrap();
    assert_eq!(steps.len(), 1, "{steps:?}");
    let step = &steps[0];
    let meta = step.block.as_ref().expect("a block was written");
    assert_eq!((meta.min_time, meta.max_time), (0, 2 * HOUR));
    assert_eq!(
        meta.stats.num_samples,
        expected
            .iter()
            .filter(|l| {
                let t: i64 = l.rsplit(' ').next().unwrap().parse().unwrap();
                t < 2 * HOUR
            })
            .count() as u64
    );
    // The six series that stopped after an hour are gone from the head.
    assert_eq!(step.series_removed, 6);
    assert_eq!(db.head().num_series(), series_before - 6);
    assert_eq!(db.head().min_time(), 2 * HOUR);
    assert_eq!(db.blocks().blocks().len(), 1);
    assert!(
        step.checkpoint.series > 0 && step.checkpoint.samples > 0,
        "{:?}",
        step.checkpoint
    );

    // Live: every sample once, from the block and the head together.
    let want: Vec<String> = expected.iter().cloned().collect();
    assert_eq!(dump(&db), want);
    // Samples the block now holds are refused.
    let mut app = db.appender();
    assert!(app.append(&series_labels(1), HOUR, 1.0).is_err());
    drop(app);

    let wal = tmp.path().join("wal");
    let cps = list_checkpoints(&wal).unwrap();
    assert_eq!(cps.len(), 1);
    let first_segment = tsdb_core::wlog::list_segments(&wal).unwrap()[0].index;
    assert_eq!(
        first_segment,
        cps[0].index + 1,
        "segments covered by the checkpoint are deleted"
    );
    db.close().unwrap();

    // Reopened: block + checkpoint + remaining segments give the same samples.
    let db = Db::open(tmp.path(), small_wal()).unwrap();
    assert_eq!(db.open_report().replay.checkpoint, Some(cps[0].index));
    assert_eq!(dump(&db), want);
    db.close().unwrap();

    // The real promtool reads our block, checkpoint and WAL to the same samples.
    let out = std::process::Command::new(promtool())
        .args(["tsdb", "dump"])
        .arg(tmp.path())
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut theirs: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    theirs.sort();
    assert_eq!(theirs.len(), want.len());
    assert_eq!(theirs, want);
}

#[test]
fn appends_and_queries_keep_going_during_head_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(tmp.path(), small_wal()).unwrap());
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    append_range(&db, 20, 0, 4 * HOUR, &mut acked.lock().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, acked, stop) = (db.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut t = 4 * HOUR;
            while !stop.load(Ordering::Relaxed) && t < 9 * HOUR {
                let mut batch = BTreeSet::new();
                append_range(&db, 20, t, t + STEP, &mut batch);
                acked.lock().unwrap().extend(batch);
                t += STEP;
            }
        })
    };
    let reader = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                assert!(!dump(&*db).is_empty());
                n += 1;
            }
            n
        })
    };
    let mut blocks = 0;
    for _ in 0..20 {
        blocks += db
            .compact_head()
            .unwrap()
            .iter()
            .filter(|s| s.block.is_some())
            .count();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(reader.join().unwrap() > 0);
    blocks += db.compact_head().unwrap().len();
    assert!(blocks >= 1);
    let want: Vec<String> = acked.lock().unwrap().iter().cloned().collect();
    assert_eq!(dump(&*db), want);
    let db = Arc::try_unwrap(db).ok().unwrap();
    db.close().unwrap();
    let db = Db::open(tmp.path(), small_wal()).unwrap();
    assert_eq!(dump(&db), want);
}
