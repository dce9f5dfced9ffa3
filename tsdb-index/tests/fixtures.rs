//! Reading the indexes Prometheus 3.5 wrote, and writing them again byte for byte.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use tsdb_index::postings::{collect, Postings};
use tsdb_index::{ChunkMeta, Labels, Reader, Writer};

/// Every series of an index: labels and chunk metas, in postings order.
fn read_all(r: &Reader) -> Vec<(Labels, Vec<ChunkMeta>)> {
    let ids = collect(r.all_postings().unwrap()).unwrap();
    let (mut ls, mut cs) = (Vec::new(), Vec::new());
    ids.iter()
        .map(|&id| {
            r.series(id, &mut ls, &mut cs).unwrap();
            (
                Labels::from_sorted(ls.iter().map(|l| (l.name, l.value))),
                cs.clone(),
            )
        })
        .collect()
}

/// Series label sets and timestamps from `expected.dump`.
fn dump() -> BTreeMap<String, Vec<i64>> {
    let path = common::shared_dir().join("fixtures/prom-blocks/expected.dump");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut m: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for line in text.lines() {
        let close = line.rfind('}').unwrap();
        let ts: i64 = line[close + 1..]
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        m.entry(line[..=close].to_string()).or_default().push(ts);
    }
    m
}

#[test]
fn reads_prometheus_indexes() {
    let dump = dump();
    let mut seen = BTreeSet::new();
    for dir in common::fixture_blocks() {
        let r = Reader::open(dir.join("index")).unwrap();
        assert_eq!(r.version(), 2);
        let (bmin, bmax) = common::block_range(&dir);

        // Symbols are sorted and contain every name and value.
        let syms: Vec<&str> = r.symbols().collect();
        assert!(syms.windows(2).all(|w| w[0] < w[1]));
        for (i, s) in syms.iter().enumerate() {
            assert_eq!(r.lookup_symbol(i as u32).unwrap(), *s);
            assert_eq!(
                r.symbol_table().reverse_lookup(r.bytes(), s),
                Some(i as u32)
            );
        }
        assert_eq!(
            r.symbol_table().reverse_lookup(r.bytes(), "no such symbol"),
            None
        );

        let series = read_all(&r);
        assert!(!series.is_empty());
        assert!(
            series.windows(2).all(|w| w[0].0 < w[1].0),
            "series sorted by labels"
        );
        let mut last_ref = 0;
        for (ls, chunks) in &series {
            for l in ls.iter() {
                assert!(syms.binary_search(&l.name).is_ok());
                assert!(syms.binary_search(&l.value).is_ok());
            }
            // Chunk metas agree with the samples promtool dumped for this block's range.
            let key = ls.to_string();
            let ts: Vec<i64> = dump[&key]
                .iter()
                .copied()
                .filter(|&t| t >= bmin && t < bmax)
                .collect();
            assert!(!chunks.is_empty() && !ts.is_empty(), "{key}");
            assert_eq!(chunks[0].min_time, *ts.iter().min().unwrap(), "{key}");
            assert_eq!(
                chunks.last().unwrap().max_time,
                *ts.iter().max().unwrap(),
                "{key}"
            );
            for c in chunks {
                assert!(c.chunk_ref >= last_ref && c.min_time <= c.max_time);
                last_ref = c.chunk_ref;
            }
            seen.insert(key);
        }

        // Postings of every label pair are exactly the series carrying it.
        let names = r.label_names();
        let mut expect_names: BTreeSet<&str> = BTreeSet::new();
        let ids = collect(r.all_postings().unwrap()).unwrap();
        for (ls, _) in &series {
            expect_names.extend(ls.iter().map(|l| l.name));
        }
        assert_eq!(names, expect_names.into_iter().collect::<Vec<_>>());
        for name in names {
            let values = r.label_values(name).unwrap();
            let mut expect_values: Vec<&str> =
                series.iter().filter_map(|(l, _)| l.get(name)).collect();
            expect_values.sort_unstable();
            expect_values.dedup();
            assert_eq!(values, expect_values, "values of {name}");
            for v in values {
                let got = collect(r.postings(name, &[v]).unwrap()).unwrap();
                let want: Vec<u64> = ids
                    .iter()
                    .zip(&series)
                    .filter(|(_, (l, _))| l.get(name) == Some(v))
                    .map(|(&id, _)| id)
                    .collect();
                assert_eq!(got, want, "postings {name}={v}");
            }
            assert!(r
                .postings(name, &["no such value"])
                .unwrap()
                .is_known_empty());
        }
        let stats = r.verify().unwrap();
        assert_eq!(stats.series, series.len() as u64);
    }
    let all: BTreeSet<String> = dump.keys().cloned().collect();
    assert_eq!(seen, all, "the blocks together hold every dumped series");
}

#[test]
fn rewrites_prometheus_indexes_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    for dir in common::fixture_blocks() {
        let orig = std::fs::read(dir.join("index")).unwrap();
        let r = Reader::open(dir.join("index")).unwrap();
        let out = tmp.path().join("index");
        let mut w = Writer::create(&out).unwrap();
        for s in r.symbols() {
            w.add_symbol(s).unwrap();
        }
        for (ls, chunks) in read_all(&r) {
            w.add_series(&ls, &chunks).unwrap();
        }
        w.finish().unwrap();
        let ours = std::fs::read(&out).unwrap();
        if let Some(i) = ours.iter().zip(&orig).position(|(a, b)| a != b) {
            panic!(
                "{}: first difference at byte {i} (toc {:?})",
                dir.display(),
                r.toc()
            );
        }
        assert_eq!(ours.len(), orig.len(), "{}: size", dir.display());
        // And what we wrote reads back the same.
        let r2 = Reader::open(&out).unwrap();
        assert_eq!(read_all(&r2), read_all(&r));
        assert_eq!(r2.toc(), r.toc());
    }
}

#[test]
fn postings_cursor_seeks_in_fixture() {
    let dir = &common::fixture_blocks()[0];
    let r = Reader::open(dir.join("index")).unwrap();
    let ids = collect(r.all_postings().unwrap()).unwrap();
    let mut p = r.all_postings().unwrap();
    assert!(p.seek(ids[ids.len() / 2]));
    assert_eq!(p.at(), ids[ids.len() / 2]);
    assert!(!p.seek(ids[ids.len() - 1] + 1));
}

#[test]
fn label_names_for_postings() {
    let dir = &common::fixture_blocks()[0];
    let r = Reader::open(dir.join("index")).unwrap();
    let all = r.label_names_for(r.all_postings().unwrap()).unwrap();
    assert_eq!(all, r.label_names());
    let name = r.label_names()[0];
    let value = r.label_values(name).unwrap()[0];
    let some = r
        .label_names_for(r.postings(name, &[value]).unwrap())
        .unwrap();
    assert!(some.contains(&name) && some.iter().all(|n| all.contains(n)));
}
