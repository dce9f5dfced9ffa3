//! The block writer: round trip through the reader, merging of the same series across blocks,
//! atomic creation, and the storage traits over blocks.

mod block_common;

use block_common::read_all;
use chunkenc::{Encoding, XorAppender};
use tsdb_core::block::reader::{open_blocks, Block};
use tsdb_core::block::writer::{BlockWriter, ChunkData};
use tsdb_core::block::{BlockError, BlockMeta, Tombstones};
use tsdb_core::querier::Blocks;
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_index::{Labels, MatchType, Matcher};

/// Writes one block with `series`: (labels, samples), each series one chunk per 100 samples.
fn write_block(dir: &std::path::Path, series: &[(Labels, Vec<(i64, f64)>)]) -> BlockMeta {
    let mint = series
        .iter()
        .flat_map(|s| s.1.iter().map(|x| x.0))
        .min()
        .unwrap();
    let maxt = series
        .iter()
        .flat_map(|s| s.1.iter().map(|x| x.0))
        .max()
        .unwrap();
    let mut w = BlockWriter::create(dir, mint, maxt + 1).unwrap();
    let mut syms = std::collections::BTreeSet::new();
    for (l, _) in series {
        for x in l.iter() {
            syms.insert(x.name.to_string());
            syms.insert(x.value.to_string());
        }
    }
    w.add_symbols(syms.iter().map(String::as_str)).unwrap();
    let mut series: Vec<_> = series.iter().collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    for (l, samples) in series {
        let chunks: Vec<(Vec<u8>, i64, i64, u64)> = samples
            .chunks(100)
            .map(|c| {
                let mut a = XorAppender::new();
                for &(t, v) in c {
                    a.append(t, v).unwrap();
                }
                (a.bytes().to_vec(), c[0].0, c[c.len() - 1].0, c.len() as u64)
            })
            .collect();
        let data: Vec<ChunkData<'_>> = chunks
            .iter()
            .map(|(d, a, b, n)| ChunkData {
                encoding: Encoding::Xor as u8,
                data: d,
                min_time: *a,
                max_time: *b,
                num_samples: *n,
            })
            .collect();
        w.add_series(l, &data).unwrap();
    }
    w.finish(&Tombstones::new()).unwrap().unwrap()
}

fn lbl(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())])
}

#[test]
fn round_trip_and_meta() {
    let tmp = tempfile::tempdir().unwrap();
    let series: Vec<_> = (0..20)
        .map(|i| {
            (
                lbl("m", i),
                (0..250)
                    .map(|k| (k * 1000 + i as i64, (k * i as i64) as f64 / 3.0))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let meta = write_block(tmp.path(), &series);
    assert_eq!(meta.stats.num_series, 20);
    assert_eq!(meta.stats.num_samples, 20 * 250);
    assert_eq!(meta.stats.num_chunks, 20 * 3);
    assert_eq!(meta.compaction.level, 1);
    assert_eq!(meta.compaction.sources, vec![meta.ulid]);
    let b = Block::open(&tmp.path().join(meta.ulid.to_string())).unwrap();
    assert_eq!(b.meta(), &meta);
    let json = std::fs::read_to_string(b.dir().join("meta.json")).unwrap();
    assert!(
        json.starts_with("{\n\t\"ulid\": ") && json.ends_with("\"version\": 1\n}"),
        "{json}"
    );
    let got = read_all(tmp.path()).unwrap();
    let mut want = Vec::new();
    let mut sorted = series.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (l, s) in &sorted {
        for &(t, v) in s {
            want.push((l.to_string(), t, v.to_bits()));
        }
    }
    assert_eq!(got, want);
    // No temporary directory is left behind.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn merges_series_across_blocks_with_dedup_and_time_range() {
    let tmp = tempfile::tempdir().unwrap();
    // Block A: series 0,1 at t=0..100; block B: series 1,2 at t=50..150 (overlap, same values at
    // the same timestamps for series 1).
    let a: Vec<_> = (0..2)
        .map(|i| {
            (
                lbl("m", i),
                (0..100).map(|t| (t, t as f64)).collect::<Vec<_>>(),
            )
        })
        .collect();
    let b: Vec<_> = (1..3)
        .map(|i| {
            (
                lbl("m", i),
                (50..150).map(|t| (t, t as f64)).collect::<Vec<_>>(),
            )
        })
        .collect();
    write_block(tmp.path(), &a);
    write_block(tmp.path(), &b);
    assert_eq!(open_blocks(tmp.path()).unwrap().len(), 2);
    let got = read_all(tmp.path()).unwrap();
    let count = |i: usize| {
        got.iter()
            .filter(|x| x.0 == lbl("m", i).to_string())
            .count()
    };
    assert_eq!((count(0), count(1), count(2)), (100, 150, 100));
    let s1: Vec<i64> = got
        .iter()
        .filter(|x| x.0 == lbl("m", 1).to_string())
        .map(|x| x.1)
        .collect();
    assert_eq!(s1, (0..150).collect::<Vec<_>>());

    // Through the storage traits, with a time range and seek.
    let blocks = Blocks::open_dir(tmp.path()).unwrap();
    let q = blocks.querier(40, 120).unwrap();
    let ms = [Matcher::new(MatchType::Regexp, "i", "1|2").unwrap()];
    let mut set = q.select(true, None, &ms).unwrap();
    let s = set.next_series().unwrap().unwrap();
    assert_eq!(s.labels(), &lbl("m", 1));
    let mut it = s.iter();
    assert_eq!(it.next(), ValueType::Float);
    assert_eq!(it.at(), (40, 40.0));
    assert_eq!(it.seek(99), ValueType::Float);
    assert_eq!(it.at_t(), 99);
    assert_eq!(it.next(), ValueType::Float);
    assert_eq!(it.at_t(), 100);
    assert_eq!(it.seek(120), ValueType::Float);
    assert_eq!(it.next(), ValueType::None);
    assert!(it.err().is_none());
    drop(it);
    drop(s);
    let s = set.next_series().unwrap().unwrap();
    assert_eq!(s.labels(), &lbl("m", 2));
    drop(s);
    assert!(set.next_series().is_none());
    drop(set);
    assert_eq!(q.label_values("i", &[]).unwrap(), ["0", "1", "2"]);
    assert_eq!(q.label_values("i", &ms).unwrap(), ["1", "2"]);
    assert_eq!(q.label_names(&[]).unwrap(), ["__name__", "i"]);
}

#[test]
fn abandoned_or_invalid_writes_leave_no_block() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let mut w = BlockWriter::create(tmp.path(), 0, 10).unwrap();
        w.add_symbols(["__name__", "a", "b", "i", "m"]).unwrap();
        let mut app = XorAppender::new();
        app.append(1, 1.0).unwrap();
        let c = [ChunkData {
            encoding: 1,
            data: app.bytes(),
            min_time: 1,
            max_time: 1,
            num_samples: 1,
        }];
        w.add_series(&Labels::from_pairs([("__name__", "m"), ("i", "b")]), &c)
            .unwrap();
        let err = w
            .add_series(&Labels::from_pairs([("__name__", "m"), ("i", "a")]), &c)
            .unwrap_err();
        assert!(matches!(err, BlockError::Invalid(_)), "{err}");
        // Dropped without finish: the temporary directory disappears.
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    // A leftover temporary directory is never taken for a block.
    std::fs::create_dir(
        tmp.path()
            .join("01M87WF4HJ3VKBT462E4NRF9ZN.tmp-for-creation"),
    )
    .unwrap();
    assert!(open_blocks(tmp.path()).unwrap().is_empty());
    // An empty block is not written.
    let w = BlockWriter::create(tmp.path(), 0, 10).unwrap();
    assert!(w.finish(&Tombstones::new()).unwrap().is_none());
}
