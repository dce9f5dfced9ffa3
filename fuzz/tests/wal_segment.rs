//! Runs the `wal_segment` fuzz body over Prometheus' fixture segment, a segment from our
//! writer (multi-page records), and deterministic pseudo-random mutations of them.

use tsdb_core::wlog::{Compression, WalOptions, WalWriter};
use tsdb_fuzz::harness::{shared_dir, SplitMix64};
use tsdb_fuzz::wal_segment::wal_segment;

fn seeds() -> Vec<Vec<u8>> {
    let p = shared_dir().join("fixtures/prom-wal/wal/00000000");
    let fixture = std::fs::read(&p)
        .unwrap_or_else(|e| panic!("fixture {} missing ({e}); set SHARED_DIR", p.display()));
    // Our writer: an uncompressed record spanning three pages, plus small ones.
    let tmp = tempfile::tempdir().unwrap();
    let mut w = WalWriter::open(
        tmp.path(),
        WalOptions {
            compression: Compression::None,
            ..Default::default()
        },
    )
    .unwrap();
    let mut big = vec![2u8];
    big.extend((0..80_000u32).map(|i| (i * 31 % 251) as u8));
    w.log(&[&[1u8, 0, 0, 0, 0, 0, 0, 0, 1, 0], &big, &[3u8]])
        .unwrap();
    w.close().unwrap();
    let ours = std::fs::read(tmp.path().join("00000000")).unwrap();
    vec![fixture, ours]
}

#[test]
fn seeds_and_mutations() {
    let seeds = seeds();
    for s in &seeds {
        wal_segment(s);
    }
    let mut rng = SplitMix64(0x5eed_0001);
    for _ in 0..600 {
        let mut d = seeds[rng.below(seeds.len())].clone();
        match rng.below(4) {
            0 => {
                let n = rng.below(d.len());
                d.truncate(n);
            }
            1 => {
                for _ in 0..=rng.below(3) {
                    let i = rng.below(d.len());
                    d[i] ^= 1 << rng.below(8);
                }
            }
            2 => {
                // Damage a fragment header region at the start of a page.
                let page = rng.below(d.len() / 32768 + 1) * 32768;
                let i = (page + rng.below(8)).min(d.len().saturating_sub(1));
                if !d.is_empty() {
                    d[i] = rng.next_u64() as u8;
                }
            }
            _ => {
                let n = rng.below(300);
                d = (0..n).map(|_| rng.next_u64() as u8).collect();
            }
        }
        wal_segment(&d);
    }
}
