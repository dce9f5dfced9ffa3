//! Tombstones: the file format against a Prometheus-format expectation, and deletions applied
//! by the block querier.

mod block_common;

use std::path::Path;

use block_common::{copy_first_block, read_all};
use tsdb_core::block::reader::Block;
use tsdb_core::block::{Interval, Tombstones};
use tsdb_index::Matcher;

/// Prometheus' encoding of {ref 3: [1700000000000, 1700000100000], ref 16: [-5, 100]}:
/// magic, version 1, `uvarint ref | varint mint | varint maxt` per interval, then CRC32C of the
/// entries only (computed independently of this crate).
const PROMETHEUS_BYTES: [u8; 26] = [
    0x01, 0x30, 0xba, 0x30, 0x01, 0x03, 0x80, 0xa0, 0xab, 0xfe, 0xf9, 0x62, 0xc0, 0xba, 0xb7, 0xfe,
    0xf9, 0x62, 0x10, 0x09, 0xc8, 0x01, 0x09, 0xea, 0xcf, 0x2c,
];

#[test]
fn encoding_matches_prometheus_format() {
    let mut t = Tombstones::new();
    t.add(16, Interval::new(-5, 100));
    t.add(3, Interval::new(1_700_000_000_000, 1_700_000_100_000));
    assert_eq!(t.encode(), PROMETHEUS_BYTES);
    let back = Tombstones::decode(&PROMETHEUS_BYTES, Path::new("tombstones")).unwrap();
    assert_eq!(back, t);
    assert_eq!(back.total(), 2);
    // The fixture blocks' files are Prometheus' empty tombstones.
    let tmp = tempfile::tempdir().unwrap();
    let fixture = copy_first_block(tmp.path());
    let (empty, size) = Tombstones::read_from_dir(&fixture).unwrap();
    assert!(empty.is_empty());
    assert_eq!(size, 9);
}

fn series_ref(block: &Block, name: &str, label: (&str, &str)) -> u64 {
    use tsdb_index::postings::Postings;
    let ms = [
        Matcher::equal("__name__", name),
        Matcher::equal(label.0, label.1),
    ];
    let mut p = tsdb_core::querier::postings::select_postings(block.index(), &ms).unwrap();
    assert!(p.next());
    p.at()
}

#[test]
fn querier_applies_tombstones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_first_block(tmp.path());
    let before = read_all(tmp.path()).unwrap();
    let block = Block::open(&dir).unwrap();
    let kitchen = series_ref(&block, "temperature_celsius", ("room", "kitchen"));
    let attic = series_ref(&block, "temperature_celsius", ("room", "attic"));
    drop(block);
    let (lo, hi) = (1_700_001_000_000, 1_700_002_000_000);
    let mut t = Tombstones::new();
    t.add(kitchen, Interval::new(lo, hi));
    t.add(kitchen, Interval::new(hi + 1, hi + 60_000)); // merges with the first
    t.add(attic, Interval::new(i64::MIN, i64::MAX));
    t.write_to_dir(&dir).unwrap();
    assert_eq!(
        Tombstones::read_from_dir(&dir).unwrap().0.get(kitchen),
        [Interval::new(lo, hi + 60_000)]
    );

    let after = read_all(tmp.path()).unwrap();
    let want: Vec<_> = before
        .iter()
        .filter(|(l, t, _)| {
            let is_kitchen = l.contains("room=\"kitchen\"");
            let is_attic = l.contains("room=\"attic\"");
            let deleted = is_kitchen && (lo..=hi + 60_000).contains(t);
            !is_attic && !deleted
        })
        .cloned()
        .collect();
    assert!(want.len() < before.len() - 100);
    assert!(before
        .iter()
        .any(|(l, t, _)| l.contains("kitchen") && (lo..=hi).contains(t)));
    assert_eq!(after, want);
    // A wholly deleted series is not returned at all.
    let blocks = tsdb_core::querier::Blocks::open_dir(tmp.path()).unwrap();
    let q = blocks.multi_querier(i64::MIN, i64::MAX);
    let mut set = q.select_merged(&[Matcher::equal("room", "attic")]).unwrap();
    assert!(set.next_merged().is_none());
}
