//! Replaying the WAL that a real Prometheus 3.5 wrote (`fixtures/prom-wal`) gives exactly the
//! samples `promtool tsdb dump` prints for it; and after we open and close the directory,
//! the real `promtool` still reads the same samples.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tsdb_core::db::{Db, DbOptions};
use tsdb_core::gofloat::go_g;
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_index::Matcher;

fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

fn fixture() -> PathBuf {
    let p = shared_dir().join("fixtures/prom-wal");
    assert!(
        p.join("wal/00000000").exists(),
        "fixture {} missing: set SHARED_DIR to the shared directory",
        p.display()
    );
    p
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
            let mut perm = std::fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&target, perm).unwrap();
        }
    }
    let mut perm = std::fs::metadata(to).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(to, perm).unwrap();
}

fn dump(db: &dyn Queryable) -> String {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let all = Matcher::new(tsdb_index::MatchType::Regexp, "__name__", ".+").unwrap();
    // promtool dumps with one matcher set unsorted: the head then yields series in reference order.
    let mut set = q.select(false, None, &[all]).unwrap();
    let mut out = String::new();
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let labels = s.labels().to_string();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            writeln!(out, "{labels} {} {t}", go_g(v)).unwrap();
        }
        assert!(it.err().is_none(), "{:?}", it.err());
    }
    out
}

#[test]
fn replays_prometheus_wal_to_promtool_dump() {
    let fx = fixture();
    let expected = std::fs::read_to_string(fx.join("expected.dump")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fx.join("wal"), &tmp.path().join("wal"));
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    let rep = db.open_report();
    assert!(rep.repaired.is_none(), "{:?}", rep.repaired);
    assert_eq!(rep.replay.series, 537);
    assert_eq!(rep.replay.unknown_refs, 0);
    let got = dump(&db);
    assert_eq!(got.lines().count(), expected.lines().count());
    for (i, (g, e)) in got.lines().zip(expected.lines()).enumerate() {
        assert_eq!(g, e, "line {}", i + 1);
    }
    db.close().unwrap();
}

fn promtool() -> PathBuf {
    let bin = std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME"))
                .join(".cache/prometheus-ref/usr/bin")
        });
    let p = bin.join("promtool");
    assert!(
        p.exists(),
        "promtool not found at {}: run shared/tools/install-prometheus and set PROMETHEUS_BIN",
        p.display()
    );
    p
}

/// Opens Prometheus' WAL, appends to an existing and a new series, closes; then both the
/// real `promtool tsdb dump` and our own replay of the directory see the original samples plus
/// ours, in the same order.
#[test]
fn promtool_reads_the_wal_we_leave_behind() {
    let fx = fixture();
    let expected = std::fs::read_to_string(fx.join("expected.dump")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fx.join("wal"), &tmp.path().join("wal"));
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    let first_line = expected.lines().next().unwrap();
    let first_labels = &first_line[..first_line.find('}').unwrap() + 1];
    let max_t = db.head().max_time();
    let mut app = db.appender();
    let existing = db
        .head()
        .series_by_ref(1)
        .map(|s| s.labels().clone())
        .unwrap();
    assert_eq!(existing.to_string(), first_labels);
    app.append(&existing, max_t + 1000, 42.5).unwrap();
    let new = tsdb_index::Labels::from_pairs([("__name__", "wal_head_test"), ("job", "rust")]);
    for i in 0..3 {
        app.append(&new, max_t + 1000 * (i + 1), 1e7 * i as f64)
            .unwrap();
    }
    app.commit().unwrap();
    db.close().unwrap();

    // What both readers must print.
    let mut want = String::new();
    let mut inserted = false;
    let lines: Vec<&str> = expected.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        want.push_str(l);
        want.push('\n');
        let next_is_other = lines
            .get(i + 1)
            .is_none_or(|n| !n.starts_with(first_labels));
        if !inserted && l.starts_with(first_labels) && next_is_other {
            writeln!(want, "{first_labels} 42.5 {}", max_t + 1000).unwrap();
            inserted = true;
        }
    }
    for i in 0..3 {
        writeln!(
            want,
            "{{__name__=\"wal_head_test\", job=\"rust\"}} {} {}",
            go_g(1e7 * i as f64),
            max_t + 1000 * (i + 1)
        )
        .unwrap();
    }

    let out = std::process::Command::new(promtool())
        .args(["tsdb", "dump"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = String::from_utf8(out.stdout).unwrap();
    assert_eq!(theirs.lines().count(), want.lines().count());
    assert!(
        theirs == want,
        "promtool output differs from the expectation"
    );

    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    assert!(db.open_report().repaired.is_none());
    assert!(dump(&db) == want, "our replay differs from the expectation");
    db.close().unwrap();
}
