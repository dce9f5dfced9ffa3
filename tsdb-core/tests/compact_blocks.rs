//! Compaction checked by the real `promtool`: the Prometheus-written fixture blocks merged
//! into one block dump to exactly the fixture's `expected.dump`; overlapping blocks we write
//! merge to the deduplicated union (vertical compaction); tombstones are applied.

mod compact_common;

use std::collections::BTreeMap;

use compact_common::*;
use tsdb_core::block::reader::Block;
use tsdb_core::compact::gc::cleanup_data_dir;
use tsdb_core::compact::merge::MAX_SAMPLES_PER_MERGED_CHUNK;
use tsdb_core::compact::{CompactOutcome, Compactor};
use tsdb_core::delete::delete_in_block;
use tsdb_index::{Labels, MatchType, Matcher};

#[test]
fn fixture_blocks_compact_to_the_expected_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = copy_fixture_blocks(tmp.path());
    let parents: Vec<_> = dirs
        .iter()
        .map(|d| Block::open(d).unwrap().meta().clone())
        .collect();
    let out = Compactor::new().compact_dirs(tmp.path(), &dirs).unwrap();
    let CompactOutcome::Written(meta) = out else {
        panic!("expected a block, got {out:?}")
    };
    assert_eq!(meta.compaction.level, 2);
    assert_eq!(meta.min_time, 1_700_000_000_000);
    assert_eq!(meta.max_time, 1_700_014_385_490);
    assert_eq!(meta.stats.num_samples, 7478 + 8400 + 922);
    assert_eq!(meta.stats.num_series, 30);
    // Non-overlapping chunks pass through unchanged.
    assert_eq!(meta.stats.num_chunks, 58 + 70 + 30);
    let mut sources: Vec<_> = parents.iter().map(|p| p.ulid).collect();
    sources.sort();
    assert_eq!(meta.compaction.sources, sources);
    assert_eq!(
        meta.compaction
            .parents
            .iter()
            .map(|p| p.ulid)
            .collect::<Vec<_>>(),
        parents.iter().map(|p| p.ulid).collect::<Vec<_>>()
    );
    // Parents and child coexist until the cleanup removes the parents.
    assert_eq!(block_dirs(tmp.path()).len(), 4);
    let report = cleanup_data_dir(tmp.path()).unwrap();
    assert_eq!(report.deleted_blocks.len(), 3);
    assert_eq!(
        block_dirs(tmp.path()),
        [tmp.path().join(meta.ulid.to_string())]
    );

    let expected = std::fs::read_to_string(prom_blocks().join("expected.dump")).unwrap();
    let got = promtool_dump(tmp.path());
    assert_eq!(got.lines().count(), expected.lines().count());
    assert!(
        got == expected,
        "promtool dump of the compacted block differs"
    );
}

fn lbl(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name), ("i", &i.to_string())])
}

#[test]
fn overlapping_blocks_merge_to_the_deduplicated_union() {
    let tmp = tempfile::tempdir().unwrap();
    // Block A: [0, 10000) every 10 ms; block B: [5000, 15000) every 4 ms; block C lies inside
    // B with some timestamps in common. Equal timestamps carry equal values.
    let value = |t: i64, i: usize| (t as f64) * 0.5 + i as f64;
    let mut a = BTreeMap::new();
    let mut b = BTreeMap::new();
    let mut c = BTreeMap::new();
    for i in 0..5 {
        a.insert(
            lbl("m", i),
            (0..10_000)
                .step_by(10)
                .map(|t| (t, value(t, i)))
                .collect::<Vec<_>>(),
        );
        b.insert(
            lbl("m", i),
            (5_000..15_000)
                .step_by(4)
                .map(|t| (t, value(t, i)))
                .collect::<Vec<_>>(),
        );
        c.insert(
            lbl("m", i),
            (7_000..8_000)
                .step_by(20)
                .map(|t| (t, value(t, i)))
                .collect::<Vec<_>>(),
        );
    }
    b.insert(lbl("only_b", 0), vec![(6_000, 1.0), (6_001, 2.0)]);
    write_block(tmp.path(), 0, 10_000, &a, 120);
    write_block(tmp.path(), 5_000, 15_000, &b, 120);
    write_block(tmp.path(), 7_000, 8_000, &c, 33);

    let mut want: BTreeMap<Labels, BTreeMap<i64, f64>> = BTreeMap::new();
    for set in [&a, &b, &c] {
        for (l, s) in set {
            want.entry(l.clone()).or_default().extend(s.iter().copied());
        }
    }
    let want: BTreeMap<Labels, Vec<(i64, f64)>> = want
        .into_iter()
        .map(|(l, m)| (l, m.into_iter().collect()))
        .collect();

    let planner = tsdb_core::compact::LeveledPlanner::new(vec![20_000, 60_000]).unwrap();
    let plan = planner.plan_dir(tmp.path()).unwrap();
    assert_eq!(plan.len(), 3, "all three overlap");
    let out = Compactor::new().compact_dirs(tmp.path(), &plan).unwrap();
    let CompactOutcome::Written(meta) = out else {
        panic!("{out:?}")
    };
    assert_eq!((meta.min_time, meta.max_time), (0, 15_000));
    cleanup_data_dir(tmp.path()).unwrap();
    assert_eq!(block_dirs(tmp.path()).len(), 1);

    // Merged chunks hold at most 120 samples and do not overlap.
    let block = Block::open(&tmp.path().join(meta.ulid.to_string())).unwrap();
    let mut postings = block.index().all_postings().unwrap();
    let (mut lb, mut cb) = (Vec::new(), Vec::new());
    use tsdb_index::postings::Postings;
    while postings.next() {
        block
            .index()
            .series(postings.at(), &mut lb, &mut cb)
            .unwrap();
        for w in cb.windows(2) {
            assert!(w[0].max_time < w[1].min_time);
        }
        for m in &cb {
            let raw = block.chunks().chunk(m.chunk_ref).unwrap();
            let n = u16::from_be_bytes([raw.data[0], raw.data[1]]) as usize;
            assert!(n <= MAX_SAMPLES_PER_MERGED_CHUNK, "chunk of {n} samples");
        }
    }
    let total: usize = want.values().map(Vec::len).sum();
    assert_eq!(meta.stats.num_samples as usize, total);
    assert!(
        promtool_dump(tmp.path()) == dump_text(&want),
        "promtool dump differs from the union"
    );
}

#[test]
fn tombstones_are_applied_when_compacting() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = copy_fixture_blocks(tmp.path());
    // Delete one series entirely in the first block and a time slice of every
    // `http_requests_total` series across the first two blocks.
    let everything_of = Matcher::new(MatchType::Equal, "__name__", "http_requests_total").unwrap();
    let (cut_from, cut_to) = (1_700_005_000_000, 1_700_008_000_000);
    for d in &dirs[..2] {
        let b = Block::open(d).unwrap();
        delete_in_block(&b, std::slice::from_ref(&everything_of), cut_from, cut_to).unwrap();
    }
    let b0 = Block::open(&dirs[0]).unwrap();
    let first_series = b0.index().series_labels(first_ref(&b0)).unwrap();
    let eq: Vec<Matcher> = first_series
        .iter()
        .map(|l| Matcher::new(MatchType::Equal, l.name, l.value).unwrap())
        .collect();
    let stones = delete_in_block(&b0, &eq, i64::MIN, i64::MAX).unwrap();
    assert!(stones.total() > 1);
    let reopened = Block::open(&dirs[0]).unwrap();
    assert_eq!(reopened.meta().stats.num_tombstones, stones.total());

    let expected = std::fs::read_to_string(prom_blocks().join("expected.dump")).unwrap();
    let first_text = first_series.to_string();
    let b0_max = b0.meta().max_time;
    let want: String = expected
        .lines()
        .filter(|l| {
            let (series, rest) = l.split_at(l.find('}').unwrap() + 1);
            let t: i64 = rest.rsplit(' ').next().unwrap().parse().unwrap();
            if series == first_text && t < b0_max {
                return false;
            }
            let in_cut = (cut_from..=cut_to).contains(&t);
            !(series.starts_with("{__name__=\"http_requests_total\"") && in_cut)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(want.lines().count() < expected.lines().count() - 100);

    let out = Compactor::new().compact_dirs(tmp.path(), &dirs).unwrap();
    let CompactOutcome::Written(meta) = out else {
        panic!("{out:?}")
    };
    assert_eq!(meta.stats.num_tombstones, 0);
    assert_eq!(meta.stats.num_samples as usize, want.lines().count());
    cleanup_data_dir(tmp.path()).unwrap();
    assert!(
        promtool_dump(tmp.path()) == want,
        "tombstoned samples survived compaction"
    );
}

#[test]
fn rewrite_without_tombstones_and_fully_deleted_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = copy_fixture_blocks(tmp.path());
    let all = [Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap()];
    let b = Block::open(&dirs[2]).unwrap();
    assert_eq!(
        Compactor::new()
            .rewrite_without_tombstones(tmp.path(), &b)
            .unwrap(),
        None,
        "no tombstones, nothing to do"
    );
    delete_in_block(&b, &all, i64::MIN, i64::MAX).unwrap();
    let b = Block::open(&dirs[2]).unwrap();
    assert_eq!(
        Compactor::new()
            .rewrite_without_tombstones(tmp.path(), &b)
            .unwrap(),
        Some(CompactOutcome::Empty)
    );
    // Compacting only deleted data writes nothing and marks the input deletable.
    let out = Compactor::new()
        .compact_dirs(tmp.path(), &dirs[2..])
        .unwrap();
    assert_eq!(out, CompactOutcome::Empty);
    assert!(Block::open(&dirs[2]).unwrap().meta().compaction.deletable);
    let report = cleanup_data_dir(tmp.path()).unwrap();
    assert_eq!(report.deleted_blocks.len(), 1);
    assert_eq!(block_dirs(tmp.path()).len(), 2);

    // A partial deletion is rewritten into a level-1 block whose parent is the old block.
    let b = Block::open(&dirs[1]).unwrap();
    let one = [Matcher::new(MatchType::Equal, "__name__", "http_requests_total").unwrap()];
    delete_in_block(&b, &one, i64::MIN, i64::MAX).unwrap();
    let b = Block::open(&dirs[1]).unwrap();
    let Some(CompactOutcome::Written(m)) = Compactor::new()
        .rewrite_without_tombstones(tmp.path(), &b)
        .unwrap()
    else {
        panic!("expected a rewritten block")
    };
    assert_eq!(m.compaction.level, 1);
    assert_eq!(m.compaction.sources, [m.ulid]);
    assert_eq!(m.compaction.parents[0].ulid, b.meta().ulid);
    assert!(m.stats.num_series < b.meta().stats.num_series);
    assert_eq!(
        (m.min_time, m.max_time),
        (b.meta().min_time, b.meta().max_time)
    );
}

fn first_ref(b: &Block) -> u64 {
    use tsdb_index::postings::Postings;
    let mut p = b.index().all_postings().unwrap();
    assert!(p.next());
    p.at()
}

/// A query that started before its block was deleted (by retention or after a compaction)
/// reads every sample: the files are memory-mapped, and unlinking keeps mapped data alive.
#[test]
fn deleting_a_block_under_a_running_query_is_safe() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = copy_fixture_blocks(tmp.path());
    let blocks = tsdb_core::querier::Blocks::open_dir(tmp.path()).unwrap();
    let q = blocks.multi_querier(i64::MIN, i64::MAX);
    let all = [Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap()];
    let mut set = q.select_merged(&all).unwrap();
    let first = set.next_merged().unwrap().unwrap();
    for d in &dirs {
        let ulid = ulid::Ulid::from_string(d.file_name().unwrap().to_str().unwrap()).unwrap();
        tsdb_core::compact::gc::delete_block_dir(tmp.path(), ulid).unwrap();
        assert!(!d.exists());
    }
    assert!(block_dirs(tmp.path()).is_empty());
    let mut lines = 0;
    let mut count = |s: &dyn tsdb_core::storage::Series| {
        let mut it = s.iter();
        while it.next() != tsdb_core::storage::ValueType::None {
            lines += 1;
        }
        assert!(it.err().is_none());
    };
    count(&first);
    while let Some(s) = set.next_merged() {
        count(&s.unwrap());
    }
    let expected = std::fs::read_to_string(prom_blocks().join("expected.dump")).unwrap();
    assert_eq!(lines, expected.lines().count());
}

/// A corrupt chunk in an input block makes compaction fail with a typed error naming the
/// block: no block and no temporary directory is left, and the inputs are flagged
/// `compaction.failed` so the planner skips them.
#[test]
fn corrupt_input_fails_cleanly_and_flags_the_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = copy_fixture_blocks(tmp.path());
    let seg = dirs[1].join("chunks/000001");
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let err = Compactor::new()
        .compact_dirs(tmp.path(), &dirs)
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("checksum") || msg.contains("corrupt"), "{msg}");
    assert!(
        msg.contains(dirs[1].file_name().unwrap().to_str().unwrap()),
        "{msg}"
    );
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "nothing but the inputs: {names:?}");
    for d in &dirs {
        assert!(Block::open(d).unwrap().meta().compaction.failed);
    }
    let planner = tsdb_core::compact::LeveledPlanner::new(vec![7_200_000, 21_600_000]).unwrap();
    assert!(planner.plan_dir(tmp.path()).unwrap().is_empty());
}

/// Native histograms through vertical compaction: two overlapping blocks of counter
/// histograms (with resets and new buckets) merge to one sample per timestamp, each equal to
/// the histogram written for it.
#[test]
fn overlapping_histogram_blocks_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let series: Vec<Labels> = (0..3).map(|i| lbl("h", i)).collect();
    write_histogram_block(tmp.path(), 0, 60_000, 100, 0, &series);
    write_histogram_block(tmp.path(), 30_000, 90_000, 100, 0, &series);
    write_histogram_block(tmp.path(), 40_000, 50_000, 100, 50, &series);
    let dirs = block_dirs(tmp.path());
    let CompactOutcome::Written(meta) = Compactor::new().compact_dirs(tmp.path(), &dirs).unwrap()
    else {
        panic!("empty")
    };
    cleanup_data_dir(tmp.path()).unwrap();
    let b = Block::open(&tmp.path().join(meta.ulid.to_string())).unwrap();
    let q = tsdb_core::querier::BlockQuerier::new(&b, i64::MIN, i64::MAX);
    let all = [Matcher::new(MatchType::Equal, "__name__", "h").unwrap()];
    let mut set = q.select_block(&all).unwrap();
    let mut n = 0;
    let mut sorted = series.clone();
    sorted.sort();
    let mut idx = 0;
    while let Some(s) = set.next_block_series() {
        let s = s.unwrap();
        use tsdb_core::storage::{SampleIterator, Series};
        assert_eq!(s.labels(), &sorted[idx]);
        let mut it = s.samples();
        let mut ts = Vec::new();
        while it.next() == tsdb_core::storage::ValueType::Histogram {
            let (t, h) = it.at_histogram();
            let want = test_histogram(t / 100, idx);
            assert_eq!(
                (h.count, h.sum, h.zero_count),
                (want.count, want.sum, want.zero_count),
                "t={t}"
            );
            ts.push(t);
            n += 1;
        }
        assert!(it.err().is_none());
        let mut want_ts: Vec<i64> = (0..90_000).step_by(100).collect();
        want_ts.extend((40_050..50_000).step_by(100));
        want_ts.sort();
        assert_eq!(ts, want_ts);
        idx += 1;
    }
    assert_eq!(idx, 3);
    assert_eq!(meta.stats.num_samples, n);
}
