//! Runs the `aggr_chunk` fuzz body over aggregate chunks written by our downsampler and
//! pseudo-random mutations of them.

use tsdb_bucket::downsample::aggregate::downsample_raw;
use tsdb_fuzz::aggr_chunk::aggr_chunk;
use tsdb_fuzz::harness::{mutate_bytes, SplitMix64};

#[test]
fn seeds_and_mutations_never_panic() {
    let raw: Vec<(i64, f64)> = (0..600)
        .map(|i| (i * 15_000, if i % 97 == 0 { 1.0 } else { i as f64 }))
        .collect();
    let seeds: Vec<Vec<u8>> = downsample_raw(&raw, 300_000)
        .unwrap()
        .into_iter()
        .map(|c| c.data)
        .chain([vec![0, 0, 0, 0, 0], vec![]])
        .collect();
    for seed in &seeds {
        aggr_chunk(seed);
    }
    let mut rng = SplitMix64(0xa66c);
    for seed in &seeds {
        for _ in 0..3_000 {
            let d = mutate_bytes(&mut rng, seed, &[0, 1, 2, 3, 0x7f, 0x80, 0xff]);
            aggr_chunk(&d);
        }
    }
}
