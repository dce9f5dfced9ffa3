//! Runs the `remote_write` fuzz body over every request a real Prometheus 3.5 sent (as sent and
//! decompressed), hand-made v1/v2 bodies, and deterministic pseudo-random mutations of them.

use tsdb_fuzz::harness::{shared_dir, SplitMix64};
use tsdb_fuzz::remote_write::remote_write;

/// Seeds: mode byte + body. Each fixture body is used as sent (snappy) and decompressed.
fn seeds() -> Vec<Vec<u8>> {
    let dir = shared_dir().join("fixtures/remote-write");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "remote-write fixtures missing at {} ({e}); set SHARED_DIR",
            dir.display()
        )
    });
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".bin") {
            continue;
        }
        let v2 = u8::from(name.starts_with("v2-"));
        let body = std::fs::read(&path).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        out.push([&[v2][..], &body].concat());
        out.push([&[v2 | 2][..], &raw].concat());
    }
    assert!(out.len() >= 8, "found only {} fixture seeds", out.len());
    out
}

/// Mutations per run: fixture bodies are tens of KiB, so this stays within a few seconds.
const ITERATIONS: usize = 3_000;

fn mutate(rng: &mut SplitMix64, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                // Leave the mode byte alone so the seed's layer is kept.
                let i = 1 + rng.below(data.len().max(2) - 1);
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
            // Overwrite a short run with random bytes (hits varints and lengths).
            let i = rng.below(data.len().max(1));
            for b in data.iter_mut().skip(i).take(1 + rng.below(8)) {
                *b = rng.next_u64() as u8;
            }
        }
        _ => data = (0..rng.below(256)).map(|_| rng.next_u64() as u8).collect(),
    }
    data
}

#[test]
fn remote_write_survives_seeds_and_mutations() {
    let seeds = seeds();
    for seed in &seeds {
        remote_write(seed);
    }
    let mut rng = SplitMix64(0x5eed_7e57);
    for _ in 0..ITERATIONS {
        let seed = &seeds[rng.below(seeds.len())];
        remote_write(&mutate(&mut rng, seed));
    }
}
