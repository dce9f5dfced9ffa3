//! Runs the `float_histogram_chunk` fuzz body over the Prometheus-written reference chunks,
//! chunks from our appender, and deterministic pseudo-random mutations of them.

/// Mutations per run: enough to reach odd corners, fast enough for every CI run.
const ITERATIONS: usize = 5_000;

use chunkenc::{CounterResetHint, FloatHistogram, FloatHistogramAppender, Span};
use tsdb_fuzz::float_histogram_chunk::float_histogram_chunk;
use tsdb_fuzz::harness::{histogram_reference_chunks, mutate_histogram_chunk, SplitMix64};

#[test]
fn float_histogram_chunk_survives_seeds_and_mutations() {
    let mut seeds = histogram_reference_chunks(3);
    for hint in [CounterResetHint::Unknown, CounterResetHint::Gauge] {
        let mut app = FloatHistogramAppender::new();
        for i in 0..40u64 {
            let h = FloatHistogram {
                counter_reset_hint: hint,
                schema: 1,
                count: 10.5 * i as f64,
                zero_count: i as f64,
                sum: if i % 9 == 8 {
                    f64::from_bits(0x7ff0_0000_0000_0002)
                } else {
                    i as f64 * 1.5
                },
                positive_spans: vec![Span {
                    offset: 0,
                    length: 2,
                }],
                positive_buckets: vec![i as f64, 0.25 * i as f64],
                negative_spans: vec![Span {
                    offset: 3,
                    length: 1,
                }],
                negative_buckets: vec![0.5],
                ..FloatHistogram::default()
            };
            let _ = app.append_float_histogram(None, i as i64 * 15_000, &h, false);
        }
        seeds.push(app.bytes().to_vec());
    }
    seeds.push(vec![0, 0, 0]);
    for seed in &seeds {
        float_histogram_chunk(seed);
    }
    let mut rng = SplitMix64(0xf10a7);
    for _ in 0..ITERATIONS {
        let seed = &seeds[rng.below(seeds.len())];
        float_histogram_chunk(&mutate_histogram_chunk(&mut rng, seed));
    }
}
