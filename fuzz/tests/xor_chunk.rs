//! Runs the `xor_chunk` fuzz body over every chunk of the Prometheus-written fixture blocks,
//! chunks from our writer, and deterministic pseudo-random mutations of them.

use chunkenc::XorAppender;
use tsdb_fuzz::harness::{shared_dir, SplitMix64};
use tsdb_fuzz::xor_chunk::xor_chunk;

/// The data of every XOR chunk in the fixture blocks' segment files (framing only).
fn fixture_chunks() -> Vec<Vec<u8>> {
    let dir = shared_dir().join("fixtures/prom-blocks");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "fixture blocks missing at {} ({e}); set SHARED_DIR",
            dir.display()
        )
    });
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path().join("chunks/000001");
        let Ok(file) = std::fs::read(&path) else {
            continue;
        };
        let mut pos = 8;
        while pos < file.len() {
            let (mut len, mut shift) = (0usize, 0);
            loop {
                let b = file[pos];
                pos += 1;
                len |= ((b & 0x7f) as usize) << shift;
                shift += 7;
                if b < 0x80 {
                    break;
                }
            }
            if file[pos] == 1 {
                out.push(file[pos + 1..pos + 1 + len].to_vec());
            }
            pos += 1 + len + 4;
        }
    }
    assert!(out.len() > 100, "found only {} fixture chunks", out.len());
    out
}

/// Mutations per run: enough to reach odd corners, fast enough for every CI run.
const ITERATIONS: usize = 20_000;

fn mutate(rng: &mut SplitMix64, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(data.len().max(1));
                if let Some(b) = data.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
        1 => data.truncate(rng.below(data.len() + 1)),
        2 => {
            let i = rng.below(data.len() + 1);
            data.insert(i, rng.next_u64() as u8);
        }
        3 => {
            // Make the header claim more samples than there are.
            if data.len() >= 2 {
                data[0] = rng.next_u64() as u8;
                data[1] = rng.next_u64() as u8;
            }
        }
        _ => data = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect(),
    }
    data
}

#[test]
fn xor_chunk_survives_seeds_and_mutations() {
    let mut seeds = fixture_chunks();
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
        xor_chunk(&mutate(&mut rng, seed));
    }
}
