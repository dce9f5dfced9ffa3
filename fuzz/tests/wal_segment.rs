//! Runs the `wal_segment` fuzz body over Prometheus' fixture segment, a segment from our
//! writer (multi-page records), and deterministic pseudo-random mutations of them.

use std::path::PathBuf;

use tsdb_core::wlog::{Compression, WalOptions, WalWriter};
use tsdb_fuzz::wal_segment::wal_segment;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

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
                    d[i] = rng.next() as u8;
                }
            }
            _ => {
                let n = rng.below(300);
                d = (0..n).map(|_| rng.next() as u8).collect();
            }
        }
        wal_segment(&d);
    }
}
