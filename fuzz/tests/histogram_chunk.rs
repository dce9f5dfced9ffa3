//! Runs the `histogram_chunk` fuzz body over the Prometheus-written reference chunks, chunks
//! from our appender, and deterministic pseudo-random mutations of them.

use std::path::PathBuf;

/// The reference chunks Prometheus 3.5 wrote (`chunkenc/testdata/histograms`) with `encoding`.
fn fixture_chunks(encoding: u64) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../chunkenc/testdata/histograms"
    ));
    let manifest = std::fs::read_to_string(dir.join("fixture.json"))
        .unwrap_or_else(|e| panic!("histogram fixtures missing at {} ({e})", dir.display()));
    // Lines of the manifest are not needed: the file names carry the kind.
    let prefix = if encoding == 2 { "int_" } else { "float_" };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with(prefix) && name.ends_with(".chunk") {
            assert!(manifest.contains(&name), "{name} not in fixture.json");
            out.push(std::fs::read(&path).unwrap());
        }
    }
    assert!(out.len() >= 20, "found only {} fixture chunks", out.len());
    out
}

/// Mutations per run: enough to reach odd corners, fast enough for every CI run.
const ITERATIONS: usize = 5_000;

fn mutate(rng: &mut SplitMix64, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    match rng.below(6) {
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
            // Make the header claim another number of samples or another reset header.
            if data.len() >= 3 {
                data[rng.below(3)] = rng.next_u64() as u8;
            }
        }
        4 => {
            // Corrupt the layout region right after the header.
            let end = data.len().min(24);
            if end > 3 {
                let i = 3 + rng.below(end - 3);
                data[i] = rng.next_u64() as u8;
            }
        }
        _ => data = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect(),
    }
    data
}

use chunkenc::{CounterResetHint, Histogram, HistogramAppender, Span};
use tsdb_fuzz::harness::SplitMix64;
use tsdb_fuzz::histogram_chunk::histogram_chunk;

#[test]
fn histogram_chunk_survives_seeds_and_mutations() {
    let mut seeds = fixture_chunks(2);
    for hint in [CounterResetHint::Unknown, CounterResetHint::Gauge] {
        let mut app = HistogramAppender::new();
        for i in 0..40u64 {
            let h = Histogram {
                counter_reset_hint: hint,
                schema: if i < 20 { 3 } else { -53 },
                count: 10 * i,
                zero_count: i,
                sum: if i % 9 == 8 {
                    f64::from_bits(0x7ff0_0000_0000_0002)
                } else {
                    i as f64 * 1.5
                },
                positive_spans: vec![
                    Span {
                        offset: -2,
                        length: 3,
                    },
                    Span {
                        offset: 1,
                        length: 1,
                    },
                ],
                positive_buckets: vec![i as i64, 1, 2, 3],
                custom_values: if i < 20 {
                    vec![]
                } else {
                    vec![0.5, 1.0, 2.0, 1e9]
                },
                ..Histogram::default()
            };
            let _ = app.append_histogram(None, i as i64 * 15_000, &h, false);
        }
        seeds.push(app.bytes().to_vec());
    }
    seeds.push(vec![0, 0, 0]);
    for seed in &seeds {
        histogram_chunk(seed);
    }
    let mut rng = SplitMix64(0x415);
    for _ in 0..ITERATIONS {
        let seed = &seeds[rng.below(seeds.len())];
        histogram_chunk(&mutate(&mut rng, seed));
    }
}
