//! Runs the `histogram_chunk` fuzz body over the Prometheus-written reference chunks, chunks
//! from our appender, and deterministic pseudo-random mutations of them.

/// Mutations per run: enough to reach odd corners, fast enough for every CI run.
const ITERATIONS: usize = 5_000;

use chunkenc::{CounterResetHint, Histogram, HistogramAppender, Span};
use tsdb_fuzz::harness::{histogram_reference_chunks, mutate_histogram_chunk, SplitMix64};
use tsdb_fuzz::histogram_chunk::histogram_chunk;

#[test]
fn histogram_chunk_survives_seeds_and_mutations() {
    let mut seeds = histogram_reference_chunks(2);
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
        histogram_chunk(&mutate_histogram_chunk(&mut rng, seed));
    }
}
