//! `Db` over a data directory with Prometheus-written blocks: its querier reads blocks and
//! head together (exactly `promtool tsdb dump`'s samples for the blocks, plus what the head
//! took), and the head rejects samples inside the persisted range.

use std::path::{Path, PathBuf};

use tsdb_core::db::{Db, DbOptions};
use tsdb_core::head::AppendError;
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_index::{MatchType, Matcher};

fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
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

/// `(labels, t, value bits)` of every sample, in series order then time.
fn samples(db: &Db) -> Vec<(String, i64, u64)> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let m = Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap();
    let mut set = q.select(true, None, &[m]).unwrap();
    let mut out = Vec::new();
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let l = s.labels().to_string();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            out.push((l.clone(), t, v.to_bits()));
        }
        assert!(it.err().is_none());
    }
    out
}

fn parse_dump(text: &str) -> Vec<(String, i64, u64)> {
    text.lines()
        .map(|line| {
            let close = line.rfind('}').unwrap();
            let mut rest = line[close + 1..].split_whitespace();
            let v: f64 = match rest.next().unwrap() {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                x => x.parse().unwrap(),
            };
            let t: i64 = rest.next().unwrap().parse().unwrap();
            (line[..=close].to_string(), t, v.to_bits())
        })
        .collect()
}

#[test]
fn blocks_and_head_are_queried_together() {
    let fx = shared_dir().join("fixtures/prom-blocks");
    assert!(
        fx.join("expected.dump").exists(),
        "fixture {} missing: set SHARED_DIR",
        fx.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fx, tmp.path());
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    assert!(!db.blocks().blocks().is_empty());
    let expected = parse_dump(&std::fs::read_to_string(fx.join("expected.dump")).unwrap());
    let got = samples(&db);
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "blocks read through Db differ from promtool's dump"
    );

    // The head takes samples only after the newest block.
    let max = db
        .blocks()
        .blocks()
        .iter()
        .map(|b| b.meta().max_time)
        .max()
        .unwrap();
    let last_t = expected.last().unwrap().1;
    let series = db
        .querier(i64::MIN, i64::MAX)
        .unwrap()
        .select(
            true,
            None,
            &[Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap()],
        )
        .unwrap()
        .next_series()
        .unwrap()
        .unwrap()
        .labels()
        .clone();
    let mut app = db.appender();
    assert!(matches!(
        app.append(&series, last_t.min(max - 1), 1.0),
        Err(AppendError::OutOfBounds { .. })
    ));
    app.append(&series, max + 5, 7.0).unwrap();
    app.commit().unwrap();
    let got = samples(&db);
    assert_eq!(got.len(), expected.len() + 1);
    // The new sample follows the block samples of its series.
    let first = series.to_string();
    let pos = got.iter().rposition(|s| s.0 == first).unwrap();
    assert_eq!(got[pos], (first.clone(), max + 5, 7.0f64.to_bits()));
    assert!(got[..pos]
        .iter()
        .filter(|s| s.0 == first)
        .all(|s| s.1 < max));
    db.close().unwrap();
}
