//! Crash safety: a child process appends batches and prints an acknowledgement after each
//! commit returns; the test SIGKILLs it at random moments, reopens the directory and checks
//! that every acknowledged batch is there, complete, exactly once, and that nothing else is.
//!
//! The child is this same test binary running the ignored `crash_child` test with
//! `CRASH_CHILD_DIR` set.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tsdb_core::db::{Db, DbOptions};
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_index::{Labels, MatchType, Matcher};

const SERIES: usize = 20;

fn value(batch: i64, s: usize) -> f64 {
    batch as f64 + s as f64 / 100.0
}

fn series_labels(s: usize) -> Labels {
    Labels::from_pairs([("__name__", "crash_test"), ("s", &s.to_string())])
}

/// Default options, or (for the compaction variant) 10 s blocks and small WAL segments so that
/// head compaction, checkpointing and segment deletion run constantly.
fn options(compact: bool) -> DbOptions {
    let mut o = DbOptions::default();
    if compact {
        o.head.chunk_range = 10_000;
        o.wal.segment_size = 64 * 1024;
    }
    o
}

/// The writer run in the child process.
#[test]
#[ignore = "child process of crash_wal_keeps_every_acknowledged_batch"]
fn crash_child() {
    let dir = std::env::var("CRASH_CHILD_DIR").expect("CRASH_CHILD_DIR");
    let compact = std::env::var_os("CRASH_CHILD_COMPACT").is_some();
    let db = Db::open(std::path::Path::new(&dir), options(compact)).unwrap();
    let mut batch = if db.head().max_time() == i64::MIN {
        0
    } else {
        db.head().max_time() / 1000 + 1
    };
    let mut out = std::io::stdout().lock();
    loop {
        let mut app = db.appender();
        for s in 0..SERIES {
            app.append(&series_labels(s), batch * 1000, value(batch, s))
                .unwrap();
        }
        app.commit().unwrap();
        if compact {
            // With 10 s blocks and a batch per second, a block is cut and the WAL checkpointed
            // about every ten batches: kills land inside compactions too.
            db.compact_head().unwrap();
        }
        use std::io::Write;
        writeln!(out, "ACK {batch}").unwrap();
        out.flush().unwrap();
        batch += 1;
    }
}

/// Per series, the batches present; checks values and returns the common last batch.
fn verify(db: &Db) -> i64 {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let m = Matcher::new(MatchType::Equal, "__name__", "crash_test").unwrap();
    let mut set = q.select(true, None, &[m]).unwrap();
    let mut last: Option<i64> = None;
    let mut n = 0;
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let idx: usize = s.labels().get("s").unwrap().parse().unwrap();
        let mut it = s.iter();
        let mut expect = 0i64;
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            assert_eq!(
                t,
                expect * 1000,
                "series {idx}: gap or duplicate at batch {expect}"
            );
            assert_eq!(v, value(expect, idx));
            expect += 1;
        }
        let l = expect - 1;
        if let Some(prev) = last {
            assert_eq!(prev, l, "batches are all-or-nothing across series");
        }
        last = Some(l);
        n += 1;
    }
    if n == 0 {
        return -1;
    }
    assert_eq!(n, SERIES);
    last.unwrap()
}

#[test]
fn crash_wal_keeps_every_acknowledged_batch() {
    crash_rounds(false);
}

/// The same with the child cutting its head into blocks and checkpointing its WAL after every
/// commit, so that kills also hit block writing, head truncation and WAL truncation.
#[test]
fn crash_during_head_compaction_keeps_every_acknowledged_batch() {
    let dir = crash_rounds(true);
    let blocks = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("meta.json").is_file())
        .count();
    assert!(blocks > 0, "the child never cut a block");
}

fn crash_rounds(compact: bool) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x00c0_ffee_u64;
    let mut last_acked = -1i64;
    let mut kills_mid_run = 0;
    for round in 0..8 {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CRASH_CHILD_DIR", tmp.path())
            .envs(compact.then_some(("CRASH_CHILD_COMPACT", "1")))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let acks = Arc::new(Mutex::new(Vec::<i64>::new()));
        let stdout = child.stdout.take().unwrap();
        let reader = {
            let acks = acks.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    // The harness may print "test crash_child ... " on the same line.
                    if let Some(i) = line.find("ACK ") {
                        acks.lock()
                            .unwrap()
                            .push(line[i + 4..].trim().parse().unwrap());
                    }
                }
            })
        };
        // Wait for the child to start acknowledging, then kill it at a random moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while acks.lock().unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "child never acknowledged"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(20 + (rng >> 33) % 200));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let acked = acks.lock().unwrap().clone();
        // Acknowledgements continue where the previous run stopped: nothing acked was lost.
        assert_eq!(
            acked[0],
            last_acked + 1,
            "round {round}: child resumed at the wrong batch"
        );
        let max_acked = *acked.last().unwrap();
        let db = Db::open(tmp.path(), options(compact)).unwrap();
        if db.open_report().repaired.is_some() {
            kills_mid_run += 1;
        }
        let last = verify(&db);
        assert!(
            last >= max_acked,
            "round {round}: batch {max_acked} was acknowledged but only {last} survived"
        );
        // At most the batch in flight at the kill is there unacknowledged.
        assert!(last <= max_acked + 1);
        db.close().unwrap();
        last_acked = last;
    }
    // Not an assertion on timing: just make the log tell whether a torn write was exercised.
    eprintln!("rounds with a torn tail repaired: {kills_mid_run}");
    tmp
}
