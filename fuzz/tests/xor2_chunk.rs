//! Runs the `xor2_chunk` fuzz body over chunks from our writer (with and without start
//! timestamps), the fixture chunks re-encoded as XOR2, and pseudo-random mutations of them.

use chunkenc::{Xor2Appender, XorIterator};
use tsdb_fuzz::harness::{fixture_xor_chunks, mutate_xor_chunk, SplitMix64};
use tsdb_fuzz::xor2_chunk::xor2_chunk;

/// Mutations per run: enough to reach odd corners, fast enough for every CI run.
const ITERATIONS: usize = 20_000;

#[test]
fn xor2_chunk_survives_seeds_and_mutations() {
    // The fixture's XOR chunks, re-encoded as XOR2 (every other one with start timestamps).
    let mut seeds: Vec<Vec<u8>> = fixture_xor_chunks()
        .iter()
        .enumerate()
        .map(|(n, xor)| {
            let mut it = XorIterator::new(xor).unwrap();
            let mut app = Xor2Appender::new();
            while it.next().unwrap() {
                let (t, v) = it.at();
                let st = if n % 2 == 0 { 0 } else { t - 60_000 - (t % 7) };
                app.append(st, t, v).unwrap();
            }
            app.bytes().to_vec()
        })
        .collect();
    let mut app = Xor2Appender::new();
    for i in 0..200i64 {
        let v = if i % 17 == 0 {
            f64::from_bits(0x7ff0_0000_0000_0002)
        } else {
            (i * i) as f64 / 7.0
        };
        app.append(
            if i > 30 {
                i * 15_000 - 3_000 - i % 4
            } else {
                0
            },
            i * 15_000 + (i * 7919) % 900 - (i % 5) * 100_000,
            v,
        )
        .unwrap();
    }
    seeds.push(app.bytes().to_vec());
    seeds.push(vec![0, 0, 0]);
    for seed in &seeds {
        xor2_chunk(seed);
    }
    let mut rng = SplitMix64(0x5eed);
    for _ in 0..ITERATIONS {
        let seed = &seeds[rng.below(seeds.len())];
        xor2_chunk(&mutate_xor_chunk(&mut rng, seed));
    }
}
