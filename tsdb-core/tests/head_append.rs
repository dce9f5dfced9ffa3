//! Head appends: Prometheus' errors, chunk cutting, commit/rollback durability, and the head
//! querier's matcher semantics.

use tsdb_core::db::{Db, DbOptions};
use tsdb_core::head::{AppendError, Head, HeadOptions};
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_index::{Labels, MatchType, Matcher};

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn select(
    q: &dyn Queryable,
    ms: &[Matcher],
    mint: i64,
    maxt: i64,
) -> Vec<(String, Vec<(i64, f64)>)> {
    let q = q.querier(mint, maxt).unwrap();
    let mut set = q.select(true, None, ms).unwrap();
    let mut out = Vec::new();
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let mut it = s.iter();
        let mut v = Vec::new();
        while it.next() == ValueType::Float {
            v.push(it.at());
        }
        out.push((s.labels().to_string(), v));
    }
    out
}

#[test]
fn prometheus_append_errors() {
    let head = Head::new(HeadOptions::default());
    let a = l(&[("__name__", "a")]);
    let mut app = head.appender();
    let r = app.append(&a, 10_000, 1.0).unwrap();
    app.commit().unwrap();

    let mut app = head.appender();
    // Same timestamp, same value: accepted (and ignored); different value: duplicate.
    app.append_ref(r, 10_000, 1.0).unwrap();
    assert!(matches!(
        app.append_ref(r, 10_000, 2.0),
        Err(AppendError::DuplicateSample { t: 10_000, .. })
    ));
    assert!(matches!(
        app.append_ref(r, 9_000, 2.0),
        Err(AppendError::OutOfOrder { t: 9_000 })
    ));
    // More than half a chunk range (1 h) behind the head's newest sample.
    assert!(matches!(
        app.append(&a, 10_000 - 3_600_001, 2.0),
        Err(AppendError::OutOfBounds { .. })
    ));
    assert!(matches!(
        app.append(&Labels::empty(), 20_000, 1.0),
        Err(AppendError::EmptyLabels)
    ));
    assert!(matches!(
        app.append_ref(999, 20_000, 1.0),
        Err(AppendError::UnknownRef(999))
    ));
    // The error messages are Prometheus'.
    assert_eq!(
        AppendError::OutOfOrder { t: 1 }.to_string(),
        "out of order sample (t=1)"
    );
    assert!(AppendError::DuplicateSample {
        t: 1,
        existing: 1.0,
        new: 2.0
    }
    .to_string()
    .starts_with("duplicate sample for timestamp"));
    app.append_ref(r, 11_000, 5.0).unwrap();
    app.commit().unwrap();
    let got = select(
        &head,
        &[Matcher::equal("__name__", "a")],
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(
        got,
        vec![(
            "{__name__=\"a\"}".to_string(),
            vec![(10_000, 1.0), (11_000, 5.0)]
        )]
    );
}

#[test]
fn min_valid_time_rejects_old_samples() {
    let head = Head::new(HeadOptions::default());
    head.set_min_valid_time(5_000);
    let mut app = head.appender();
    assert!(matches!(
        app.append(&l(&[("a", "b")]), 4_999, 1.0),
        Err(AppendError::OutOfBounds {
            t: 4_999,
            min_valid: 5_000
        })
    ));
    app.append(&l(&[("a", "b")]), 5_000, 1.0).unwrap();
    app.commit().unwrap();
}

#[test]
fn chunks_are_cut_like_prometheus() {
    let head = Head::new(HeadOptions::default());
    let mut app = head.appender();
    let a = l(&[("__name__", "scrape15s")]);
    let b = l(&[("__name__", "scrape1s")]);
    let ra = app.append(&a, 0, 0.0).unwrap();
    let rb = app.append(&b, 0, 0.0).unwrap();
    for i in 1..480 {
        app.append_ref(ra, i * 15_000, i as f64).unwrap();
    }
    // 1 s scrapes: cut at 120 samples via the 25 % prediction (30 samples span 29 s, so a
    // 2 h range fits 62 chunks: every 116.129 s ⇒ 117 samples per chunk ... computed below).
    for i in 1..1000 {
        app.append_ref(rb, i * 1000, i as f64).unwrap();
    }
    app.commit().unwrap();
    let sa = head.series_by_ref(ra).unwrap();
    let sb = head.series_by_ref(rb).unwrap();
    // 2 h of 15 s samples: four chunks of 120 (Prometheus' well-known layout).
    assert_eq!(head.num_chunks(), chunk_count(&sa) + chunk_count(&sb));
    assert_eq!(sa.chunk_sample_counts(), vec![120; 4]);
    // For 1 s samples Prometheus predicts the end at 0 + 7200000/floor(7200000/(29001*4)) =
    // 7200000/62 = 116129 ms: chunks hold samples [0, 116.129 s) ⇒ 117 samples each.
    let want = 1000usize.div_ceil(117);
    assert_eq!(chunk_count(&sb), want);
    let got = select(&head, &[Matcher::equal("__name__", "scrape1s")], 0, 2_000);
    assert_eq!(got[0].1, vec![(0, 0.0), (1000, 1.0), (2000, 2.0)]);
}

fn chunk_count(s: &tsdb_core::head::MemSeries) -> usize {
    s.num_chunks()
}

#[test]
fn querier_matchers_and_label_apis() {
    let head = Head::new(HeadOptions::default());
    let mut app = head.appender();
    app.append(
        &l(&[("__name__", "up"), ("job", "api"), ("env", "prod")]),
        1,
        1.0,
    )
    .unwrap();
    app.append(&l(&[("__name__", "up"), ("job", "db")]), 1, 0.0)
        .unwrap();
    app.append(&l(&[("__name__", "errors"), ("job", "api")]), 1, 5.0)
        .unwrap();
    app.commit().unwrap();
    let names = |ms: &[Matcher]| -> Vec<String> {
        select(&head, ms, i64::MIN, i64::MAX)
            .into_iter()
            .map(|x| x.0)
            .collect()
    };
    assert_eq!(names(&[Matcher::equal("__name__", "up")]).len(), 2);
    // A missing label matches the empty value.
    assert_eq!(
        names(&[Matcher::equal("__name__", "up"), Matcher::equal("env", "")]),
        vec!["{__name__=\"up\", job=\"db\"}"]
    );
    assert_eq!(
        names(&[Matcher::new(MatchType::NotEqual, "env", "").unwrap()]),
        vec!["{__name__=\"up\", env=\"prod\", job=\"api\"}"]
    );
    assert_eq!(
        names(&[Matcher::new(MatchType::Regexp, "job", "a.*").unwrap()]),
        vec![
            "{__name__=\"errors\", job=\"api\"}",
            "{__name__=\"up\", env=\"prod\", job=\"api\"}"
        ]
    );
    assert!(names(&[Matcher::equal("job", "nope")]).is_empty());
    // Outside the time range: no series.
    assert!(select(&head, &[Matcher::equal("__name__", "up")], 2, 10).is_empty());
    let q = head.querier(i64::MIN, i64::MAX);
    use tsdb_core::storage::Querier;
    assert_eq!(q.label_values("job", &[]).unwrap(), vec!["api", "db"]);
    assert_eq!(
        q.label_values("job", &[Matcher::equal("__name__", "errors")])
            .unwrap(),
        vec!["api"]
    );
    assert_eq!(q.label_names(&[]).unwrap(), vec!["__name__", "env", "job"]);
    assert_eq!(
        q.label_names(&[Matcher::equal("job", "db")]).unwrap(),
        vec!["__name__", "job"]
    );
}

#[test]
fn commit_is_durable_rollback_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    let mut app = db.appender();
    app.append(&l(&[("__name__", "kept")]), 1000, 1.0).unwrap();
    app.commit().unwrap();
    let mut app = db.appender();
    app.append(&l(&[("__name__", "rolled_back")]), 2000, 2.0)
        .unwrap();
    app.append(&l(&[("__name__", "kept")]), 2000, 2.0).unwrap();
    app.rollback().unwrap();
    // An appender dropped without commit: its new series must still be logged by whoever
    // commits samples for it later.
    let mut app = db.appender();
    app.append(&l(&[("__name__", "late")]), 3000, 3.0).unwrap();
    drop(app);
    let r = db
        .head()
        .series_by_labels(&l(&[("__name__", "late")]))
        .unwrap()
        .series_ref();
    let mut app = db.appender();
    app.append_ref(r, 3000, 3.0).unwrap();
    app.commit().unwrap();
    // No close: the WAL was fsynced at each commit; reopen from what is on disk.
    let copy = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(tmp.path().join("wal")).unwrap() {
        let e = e.unwrap();
        std::fs::create_dir_all(copy.path().join("wal")).unwrap();
        std::fs::copy(e.path(), copy.path().join("wal").join(e.file_name())).unwrap();
    }
    drop(db);
    let db = Db::open(copy.path(), DbOptions::default()).unwrap();
    let got = select(
        &db,
        &[Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap()],
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(
        got,
        vec![
            ("{__name__=\"kept\"}".to_string(), vec![(1000, 1.0)]),
            ("{__name__=\"late\"}".to_string(), vec![(3000, 3.0)]),
        ]
    );
    // The rolled-back series exists (logged) but has no samples.
    assert!(db
        .head()
        .series_by_labels(&l(&[("__name__", "rolled_back")]))
        .is_some());
    db.close().unwrap();
}

#[test]
fn segments_rotate_and_replay_across_them() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DbOptions {
        wal: tsdb_core::wlog::WalOptions {
            segment_size: 64 * 1024,
            ..Default::default()
        },
        ..Default::default()
    };
    let db = Db::open(tmp.path(), opts.clone()).unwrap();
    for batch in 0..200i64 {
        let mut app = db.appender();
        for s in 0..100 {
            let name = format!("m{s}");
            app.append(&l(&[("__name__", &name)]), batch * 1000, value(batch, s))
                .unwrap();
        }
        app.commit().unwrap();
    }
    db.close().unwrap();
    let segs = tsdb_core::wlog::list_segments(&tmp.path().join("wal")).unwrap();
    assert!(
        segs.len() > 2,
        "expected several segments, got {}",
        segs.len()
    );
    let db = Db::open(tmp.path(), opts).unwrap();
    // Each series' first chunk (117 samples: Prometheus' end-time prediction for 1 s
    // samples in a 2 h range) was cut and written to chunks_head: replay takes it from there
    // and applies only the WAL samples after it.
    let replay = &db.open_report().replay;
    assert_eq!(replay.mmapped_chunks, 100);
    assert_eq!(replay.samples_in_mmapped_chunks, 11_700);
    assert_eq!(replay.samples, 8_300);
    let got = select(&db, &[Matcher::equal("__name__", "m7")], i64::MIN, i64::MAX);
    let want: Vec<(i64, f64)> = (0..200).map(|b| (b * 1000, value(b, 7))).collect();
    assert_eq!(got[0].1, want);
    db.close().unwrap();
}

/// Values that do not compress away, so that the WAL fills several small segments.
fn value(batch: i64, s: i64) -> f64 {
    ((batch * 7919 + s * 104_729) % 1_000_003) as f64 / 7.0
}
