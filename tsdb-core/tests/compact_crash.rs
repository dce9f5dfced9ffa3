//! Crash safety of compaction: a child process rewrites blocks without their tombstones and
//! compacts a data directory (vertical and leveled compactions, then parent cleanup) while
//! this test kills it with SIGKILL at random moments. After every kill, the cleanup that runs on open must leave blocks that hold every
//! sample exactly once: none lost, none duplicated (no two blocks hold the same sample).
//! Then the child is run to completion and the fully compacted directory is checked again.

mod compact_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compact_common::*;
use tsdb_core::block::reader::Block;
use tsdb_core::compact::gc::cleanup_data_dir;
use tsdb_core::compact::{CompactOutcome, Compactor, LeveledPlanner};
use tsdb_core::querier::BlockQuerier;
use tsdb_core::storage::{Series, ValueType};
use tsdb_index::{Labels, MatchType, Matcher};

const CHILD_ENV: &str = "TSDB_COMPACT_CRASH_CHILD_DIR";
const RANGES: [i64; 3] = [10_000, 30_000, 90_000];

/// Child mode: rewrite blocks without their tombstones, then compact until the planner has
/// nothing left to do.
fn child_main(dir: &Path) {
    tsdb_core::compact::data_dir::clean_tombstones(dir).unwrap();
    let planner = LeveledPlanner::new(RANGES.to_vec()).unwrap();
    loop {
        cleanup_data_dir(dir).unwrap();
        let plan = planner.plan_dir(dir).unwrap();
        if plan.is_empty() {
            break;
        }
        match Compactor::new().compact_dirs(dir, &plan).unwrap() {
            CompactOutcome::Written(_) | CompactOutcome::Empty => {}
        }
    }
    cleanup_data_dir(dir).unwrap();
}

type Data = BTreeMap<Labels, Vec<(i64, f64)>>;

/// Nine adjacent level-1 blocks of 10 s, plus one block overlapping the third and fourth.
/// Returns every sample, keyed by series text and timestamp.
fn build_template(dir: &Path) -> BTreeMap<(String, i64), u64> {
    let mut want: BTreeMap<(String, i64), u64> = BTreeMap::new();
    let mut add = |data: &Data| {
        for (l, s) in data {
            for (t, v) in s {
                let prev = want.insert((l.to_string(), *t), v.to_bits());
                assert!(prev.is_none_or(|p| p == v.to_bits()));
            }
        }
    };
    let series =
        |i: usize| Labels::from_pairs([("__name__", "crash_test"), ("s", &format!("{i:04}"))]);
    for b in 0..9i64 {
        let mut data = Data::new();
        for i in 0..300 {
            let pts = (b * 10_000..(b + 1) * 10_000)
                .step_by(50)
                .map(|t| (t, (t as f64) * 1.5 + i as f64))
                .collect();
            data.insert(series(i), pts);
        }
        write_block(dir, b * 10_000, (b + 1) * 10_000, &data, 120);
        add(&data);
    }
    let mut data = Data::new();
    for i in 0..300 {
        // Odd timestamps: disjoint from the even ones of the other blocks, so that any sample
        // found twice was duplicated by compaction.
        let pts = (25_001..35_000)
            .step_by(30)
            .map(|t| (t, (t as f64) * 1.5 + i as f64))
            .collect();
        data.insert(series(i), pts);
    }
    write_block(dir, 25_000, 35_000, &data, 120);
    add(&data);
    want
}

/// Every sample of every block, checking that no sample appears in two blocks.
fn read_each_block(dir: &Path) -> BTreeMap<(String, i64), u64> {
    let mut got = BTreeMap::new();
    let all = [Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap()];
    for d in block_dirs(dir) {
        let b = Block::open(&d).unwrap();
        let q = BlockQuerier::new(&b, i64::MIN, i64::MAX);
        let mut set = q.select_block(&all).unwrap();
        while let Some(s) = set.next_block_series() {
            let s = s.unwrap();
            let name = s.labels().to_string();
            let mut it = s.iter();
            while it.next() == ValueType::Float {
                let (t, v) = it.at();
                let dup = got.insert((name.clone(), t), v.to_bits());
                assert!(dup.is_none(), "sample {name}@{t} is in two blocks");
            }
            assert!(it.err().is_none());
        }
    }
    got
}

fn next_rand(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn spawn_child(dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_during_compaction_loses_and_duplicates_nothing",
            "--nocapture",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigkill_during_compaction_loses_and_duplicates_nothing() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child_main(Path::new(&dir));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    std::fs::create_dir_all(&template).unwrap();
    let written = build_template(&template);
    // Tombstones in two blocks: the child starts by rewriting those blocks without them.
    let m = [Matcher::new(MatchType::Regexp, "s", "00[0-4].").unwrap()];
    for d in &block_dirs(&template)[3..5] {
        let b = Block::open(d).unwrap();
        tsdb_core::delete::delete_in_block(
            &b,
            &m,
            b.meta().min_time + 1234,
            b.meta().max_time - 3456,
        )
        .unwrap();
    }
    let want = read_each_block(&template);
    assert!(want.len() < written.len() && want.len() > written.len() / 2);

    // How long an undisturbed run takes, to spread kills over it.
    let full = tmp.path().join("full");
    copy_dir(&template, &full);
    let start = Instant::now();
    assert!(spawn_child(&full).wait().unwrap().success());
    let full_run = start.elapsed();
    assert_eq!(read_each_block(&full), want);
    // The planner has nothing left to do, and there are fewer, larger blocks.
    let planner = LeveledPlanner::new(RANGES.to_vec()).unwrap();
    assert!(planner.plan_dir(&full).unwrap().is_empty());
    assert!(block_dirs(&full).len() < 10);
    for d in block_dirs(&full) {
        assert!(Block::open(&d).unwrap().tombstones().is_empty());
    }

    let mut seed = 0x5EED_u64 ^ std::process::id() as u64;
    let budget = Instant::now();
    let (mut kills, mut tmp_left, mut parents_left) = (0, 0, 0);
    for round in 0..40 {
        if budget.elapsed() > Duration::from_secs(30) {
            break;
        }
        let dir = tmp.path().join(format!("round{round}"));
        copy_dir(&template, &dir);
        let delay = next_rand(&mut seed) % (full_run.as_micros() as u64).max(1);
        let mut child = spawn_child(&dir);
        std::thread::sleep(Duration::from_micros(delay));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        if !finished {
            kills += 1;
        }
        // What opening the directory does: remove temporary dirs and replaced parents.
        let report = cleanup_data_dir(&dir).unwrap();
        tmp_left += usize::from(!report.removed_tmp.is_empty());
        parents_left += usize::from(!report.deleted_blocks.is_empty());
        assert_eq!(
            read_each_block(&dir),
            want,
            "round {round}: after kill at {delay} us"
        );
        // Restarting finishes the work and still holds every sample once.
        assert!(spawn_child(&dir).wait().unwrap().success());
        assert_eq!(read_each_block(&dir), want, "round {round}: after restart");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    eprintln!(
        "{kills} kills during compaction (undisturbed run {full_run:?}); {tmp_left} left a \
         temporary block, {parents_left} left replaced parents beside their child"
    );
    assert!(kills >= 5, "only {kills} kills hit a running compaction");
}
