//! Runs the `xor_chunk` fuzz body over every chunk of the Prometheus-written fixture blocks,
//! chunks from our writer, and deterministic pseudo-random mutations of them.

use chunkenc::XorAppender;
use tsdb_fuzz::harness::{fixture_xor_chunks, mutate_xor_chunk, SplitMix64};
use tsdb_fuzz::xor_chunk::xor_chunk;

/// Mutations per run: enough to reach odd corners, fast enough for every CI run.
const ITERATIONS: usize = 20_000;

#[test]
fn xor_chunk_survives_seeds_and_mutations() {
    let mut seeds = fixture_xor_chunks();
    let mut app = XorAppender::new();
    for i in 0..200i64 {
        let v = if i % 17 == 0 {
            f64::from_bits(0x7ff0_0000_0000_0002)
        } else {
            (i * i) as f64 / 7.0
        };
        app.append(i * 15_000 + (i * 7919) % 900 - (i % 5) * 100_000, v)
            .unwrap();
    }
    seeds.push(app.bytes().to_vec());
    seeds.push(vec![0, 0]);
    for seed in &seeds {
        xor_chunk(seed);
    }
    let mut rng = SplitMix64(0x5eed);
    for _ in 0..ITERATIONS {
        let seed = &seeds[rng.below(seeds.len())];
        xor_chunk(&mutate_xor_chunk(&mut rng, seed));
    }
}
