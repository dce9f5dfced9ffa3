//! Runs the `tombstones` fuzz body over valid files (the fixture blocks' and ours) and
//! deterministic pseudo-random mutations of them.

use tsdb_core::block::{Interval, Tombstones};
use tsdb_fuzz::harness::{shared_dir, SplitMix64};
use tsdb_fuzz::tombstones::tombstones;

/// Fixes the trailing CRC so mutations reach the entry decoder, not only the checksum check.
fn fix_crc(d: &mut [u8]) {
    if d.len() >= 9 {
        let n = d.len();
        let crc = crc32c::crc32c(&d[5..n - 4]);
        d[n - 4..].copy_from_slice(&crc.to_be_bytes());
    }
}

#[test]
fn tombstones_survive_seeds_and_mutations() {
    let dir = shared_dir().join("fixtures/prom-blocks");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "fixture blocks missing at {} ({e}); set SHARED_DIR",
                dir.display()
            )
        })
        .filter_map(|e| std::fs::read(e.unwrap().path().join("tombstones")).ok())
        .collect();
    assert_eq!(seeds.len(), 3, "fixture tombstones files");
    let mut t = Tombstones::new();
    for r in 0..40u64 {
        t.add(
            r * 16,
            Interval::new(r as i64 * 1000 - 500, r as i64 * 1000 + 499),
        );
        t.add(r * 16, Interval::new(i64::MIN, -1));
        t.add(r, Interval::new(1_700_000_000_000, i64::MAX));
    }
    seeds.push(t.encode());
    for s in &seeds {
        tombstones(s);
    }
    let mut rng = SplitMix64(0x7031);
    for _ in 0..20_000 {
        let mut d = seeds[rng.below(seeds.len())].clone();
        match rng.below(4) {
            0 => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            1 => d.truncate(rng.below(d.len() + 1)),
            2 => {
                let i = rng.below(d.len() + 1);
                for _ in 0..1 + rng.below(12) {
                    d.insert(i.min(d.len()), rng.next_u64() as u8);
                }
            }
            _ => d = (0..rng.below(40)).map(|_| rng.next_u64() as u8).collect(),
        }
        if rng.below(2) == 0 {
            fix_crc(&mut d);
        }
        tombstones(&d);
    }
}
