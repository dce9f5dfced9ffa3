//! Native histogram chunk benchmarks: encode, decode (as integer and as float histograms),
//! and seek, per sample, for 20-bucket exponential histograms in 120-sample chunks.
//!
//! `cargo bench -p tsdb-benches --bench chunkenc_histogram` runs them. Criterion reports time
//! per iteration and, since each iteration handles `SAMPLES` samples, the sample throughput;
//! ns/sample = 1e9 / (elements per second).
//!
//! Side by side with Prometheus' Go code: `CHUNKENC_HISTOGRAM_PEER=1 cargo bench -p tsdb-benches
//! --bench chunkenc_histogram` instead measures the way `benches/go-peer-histogram` does (best of
//! 7 wall-clock runs over the same 12,000 samples) and prints the same JSON lines, with an
//! FNV-1a checksum of the encoded chunks that must equal the Go side's (same data, same bytes).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chunkenc::{
    FloatHistogram, FloatHistogramAppender, FloatHistogramIterator, Histogram, HistogramAppender,
    HistogramIterator, Span,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SAMPLES: usize = 12_000;
const PER_CHUNK: usize = 120;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A counter histogram series: schema 3, 20 positive buckets in two spans, counts growing by
/// 0..50 per bucket per 15 s scrape (±10 ms jitter).
fn int_samples() -> Vec<(i64, Histogram)> {
    let mut r = SplitMix64(42);
    let mut abs = [0u64; 20];
    let mut zero = 0u64;
    let mut sum = 0.0f64;
    let mut t = 1_700_000_000_000i64;
    (0..SAMPLES)
        .map(|_| {
            for a in abs.iter_mut() {
                *a += r.next() % 50;
            }
            zero += r.next() % 5;
            sum += (r.next() % 10_000) as f64 / 7.0;
            t += 15_000 + (r.next() % 21) as i64 - 10;
            let mut prev = 0i64;
            let buckets = abs
                .iter()
                .map(|&c| {
                    let d = c as i64 - prev;
                    prev = c as i64;
                    d
                })
                .collect();
            (
                t,
                Histogram {
                    schema: 3,
                    zero_threshold: 2f64.powi(-128),
                    zero_count: zero,
                    count: zero + abs.iter().sum::<u64>(),
                    sum,
                    positive_spans: vec![
                        Span {
                            offset: -4,
                            length: 12,
                        },
                        Span {
                            offset: 3,
                            length: 8,
                        },
                    ],
                    positive_buckets: buckets,
                    ..Histogram::default()
                },
            )
        })
        .collect()
}

fn float_samples() -> Vec<(i64, FloatHistogram)> {
    int_samples()
        .into_iter()
        .map(|(t, h)| {
            let mut f = h.to_float();
            for b in &mut f.positive_buckets {
                *b *= 0.37;
            }
            (t, f)
        })
        .collect()
}

fn encode_int(samples: &[(i64, Histogram)]) -> Vec<Vec<u8>> {
    samples
        .chunks(PER_CHUNK)
        .map(|c| {
            let mut app = HistogramAppender::new();
            for (t, h) in c {
                app.append_histogram(None, *t, h, false).unwrap();
            }
            app.into_bytes()
        })
        .collect()
}

fn encode_float(samples: &[(i64, FloatHistogram)]) -> Vec<Vec<u8>> {
    samples
        .chunks(PER_CHUNK)
        .map(|c| {
            let mut app = FloatHistogramAppender::new();
            for (t, h) in c {
                app.append_float_histogram(None, *t, h, false).unwrap();
            }
            app.into_bytes()
        })
        .collect()
}

fn fnv1a(chunks: &[Vec<u8>]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in chunks.iter().flatten() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn best_ns_per_sample(mut f: impl FnMut()) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..7 {
        let start = Instant::now();
        f();
        best = best.min(start.elapsed());
    }
    best.as_nanos() as f64 / SAMPLES as f64
}

/// The go-peer-histogram measurements, as JSON lines.
fn peer() {
    let ints = int_samples();
    let floats = float_samples();
    let int_chunks = encode_int(&ints);
    let float_chunks = encode_float(&floats);
    let emit = |name: &str, ns: f64, chunks: &[Vec<u8>]| {
        let n: usize = chunks.iter().map(Vec::len).sum();
        println!(
            "{{\"bench\":\"{name}\",\"bytes_per_sample\":{},\"checksum\":\"{:016x}\",\"ns_per_sample\":{ns:.2}}}",
            n as f64 / SAMPLES as f64,
            fnv1a(chunks)
        );
    };
    emit(
        "encode_int",
        best_ns_per_sample(|| drop(black_box(encode_int(&ints)))),
        &int_chunks,
    );
    emit(
        "encode_float",
        best_ns_per_sample(|| drop(black_box(encode_float(&floats)))),
        &float_chunks,
    );
    let mut sink = 0.0f64;
    emit(
        "decode_int",
        best_ns_per_sample(|| {
            for chunk in &int_chunks {
                let mut it = HistogramIterator::new(chunk).unwrap();
                while it.next().unwrap() {
                    sink += it.at_histogram().1.count as f64;
                }
            }
        }),
        &int_chunks,
    );
    emit(
        "decode_float",
        best_ns_per_sample(|| {
            for chunk in &float_chunks {
                let mut it = FloatHistogramIterator::new(chunk).unwrap();
                while it.next().unwrap() {
                    sink += it.at_float_histogram().1.count;
                }
            }
        }),
        &float_chunks,
    );
    black_box(sink);
}

fn benches(c: &mut Criterion) {
    if std::env::var_os("CHUNKENC_HISTOGRAM_PEER").is_some() {
        peer();
        return;
    }
    let ints = int_samples();
    let floats = float_samples();
    let int_chunks = encode_int(&ints);
    let float_chunks = encode_float(&floats);
    let int_bytes: usize = int_chunks.iter().map(Vec::len).sum();
    let float_bytes: usize = float_chunks.iter().map(Vec::len).sum();
    eprintln!(
        "histogram chunks: {:.2} bytes/sample (integer), {:.2} bytes/sample (float)",
        int_bytes as f64 / SAMPLES as f64,
        float_bytes as f64 / SAMPLES as f64
    );

    let mut g = c.benchmark_group("histogram_chunk");
    g.throughput(Throughput::Elements(SAMPLES as u64));
    g.bench_function("encode_int", |b| {
        b.iter(|| black_box(encode_int(black_box(&ints))))
    });
    g.bench_function("encode_float", |b| {
        b.iter(|| black_box(encode_float(black_box(&floats))))
    });
    g.bench_function("decode_int", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for chunk in &int_chunks {
                let mut it = HistogramIterator::new(chunk).unwrap();
                while it.next().unwrap() {
                    let (t, h) = it.at_histogram();
                    acc = acc.wrapping_add(t as u64 ^ h.count ^ h.positive_buckets[19] as u64);
                }
            }
            black_box(acc)
        })
    });
    g.bench_function("decode_int_as_float", |b| {
        b.iter(|| {
            let mut acc = 0.0f64;
            for chunk in &int_chunks {
                let mut it = HistogramIterator::new(chunk).unwrap();
                while it.next().unwrap() {
                    acc += it.at_float_histogram().1.positive_buckets[19];
                }
            }
            black_box(acc)
        })
    });
    g.bench_function("decode_float", |b| {
        b.iter(|| {
            let mut acc = 0.0f64;
            for chunk in &float_chunks {
                let mut it = FloatHistogramIterator::new(chunk).unwrap();
                while it.next().unwrap() {
                    let (_, h) = it.at_float_histogram();
                    acc += h.count + h.positive_buckets[19];
                }
            }
            black_box(acc)
        })
    });
    g.finish();

    // Seek to the middle of every chunk (decodes the first half of each), per chunk.
    let mut g = c.benchmark_group("histogram_chunk_seek");
    g.throughput(Throughput::Elements(int_chunks.len() as u64));
    let mids: Vec<i64> = ints.chunks(PER_CHUNK).map(|c| c[c.len() / 2].0).collect();
    g.bench_function("seek_int_mid", |b| {
        b.iter(|| {
            let mut acc = 0i64;
            for (chunk, &mid) in int_chunks.iter().zip(&mids) {
                let mut it = HistogramIterator::new(chunk).unwrap();
                assert!(it.seek(mid).unwrap());
                acc = acc.wrapping_add(it.at_t());
            }
            black_box(acc)
        })
    });
    g.bench_function("seek_float_mid", |b| {
        b.iter(|| {
            let mut acc = 0i64;
            for (chunk, &mid) in float_chunks.iter().zip(&mids) {
                let mut it = FloatHistogramIterator::new(chunk).unwrap();
                assert!(it.seek(mid).unwrap());
                acc = acc.wrapping_add(it.at_t());
            }
            black_box(acc)
        })
    });
    g.finish();

    // Resuming an appender on a full chunk (decodes it once) and appending one sample.
    let mut g = c.benchmark_group("histogram_chunk_resume");
    g.throughput(Throughput::Elements(1));
    let (t_next, h_next) = &ints[PER_CHUNK];
    g.bench_function("resume_int_120_and_append", |b| {
        b.iter(|| {
            let mut app = HistogramAppender::from_bytes(int_chunks[0].clone()).unwrap();
            app.append_histogram(None, *t_next, h_next, false).unwrap();
            black_box(app.num_samples())
        })
    });
    g.finish();
}

criterion_group!(histogram, benches);
criterion_main!(histogram);
