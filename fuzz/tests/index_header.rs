//! Runs the `index_header` fuzz body over index-headers of Prometheus' fixture blocks and
//! pseudo-random mutations of them.

use tsdb_bucket::store::index_header::IndexHeader;
use tsdb_fuzz::harness::{mutate_bytes, shared_dir, SplitMix64};
use tsdb_fuzz::index_header::index_header;

/// The index-header of a fixture index, from its sections.
fn seed(index: &[u8]) -> Vec<u8> {
    let toc = &index[index.len() - 52..];
    let be64 = |b: &[u8]| u64::from_be_bytes(b[..8].try_into().unwrap());
    let (symbols, series, table) = (be64(toc), be64(&toc[8..]), be64(&toc[40..]));
    IndexHeader::encode(
        index[4],
        table,
        &index[symbols as usize..series as usize],
        &index[table as usize..],
    )
}

#[test]
fn seeds_and_mutations_never_panic() {
    let blocks = shared_dir().join("fixtures/prom-blocks");
    let mut seeds = Vec::new();
    for e in std::fs::read_dir(blocks).unwrap() {
        let index = e.unwrap().path().join("index");
        if index.is_file() {
            seeds.push(seed(&std::fs::read(index).unwrap()));
        }
    }
    assert!(!seeds.is_empty());
    let mut rng = SplitMix64(0x1d7e4);
    for s in &seeds {
        IndexHeader::parse("seed", s.clone()).unwrap();
        index_header(s);
        for _ in 0..2_000 {
            let d = mutate_bytes(&mut rng, s, &[0, 1, 0x7f, 0x80, 0xff]);
            index_header(&d);
        }
    }
}
