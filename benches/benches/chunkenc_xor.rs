//! XOR and XOR2 chunk encode/decode/seek benchmarks, and the side-by-side run against
//! Prometheus' Go code (`go-peer -only xor`).
//!
//! `cargo bench -p tsdb-benches --bench chunkenc_xor` runs the criterion benchmarks.
//! With `XOR_GO_PEER_STYLE=1` it instead measures exactly as go-peer does (its 1.2 M generated
//! samples in 120-sample chunks, best of 7 wall-clock runs) and prints one JSON line per
//! measurement, with the data checksum go-peer prints, so the two can be compared directly
//! (`XOR_GO_PEER_REPS` overrides the 7 repetitions, like go-peer's `-reps`);
//! `benches/go-peer-xor.sh` runs both.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chunkenc::{Xor2Appender, Xor2Chunk, XorAppender, XorChunk};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

/// go-peer's deterministic generator.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn float(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn intn(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// go-peer's `genSamples`: chunk k of `per` samples is a counter, gauge, constant or noise
/// (k % 4), 15 s scrapes with ±10 ms jitter; the value draw comes before the jitter draw.
fn go_peer_samples(seed: u64, n: usize, per: usize) -> Vec<(i64, f64)> {
    let mut r = SplitMix64(seed);
    let mut out = Vec::with_capacity(n);
    let mut k = 0usize;
    while out.len() < n {
        let mut t = 1_700_000_000_000i64 + (k * per * 15_000) as i64;
        let mut v = match k % 4 {
            1 => 100.0,
            2 => 42.0,
            _ => 0.0,
        };
        for _ in 0..per {
            if out.len() >= n {
                break;
            }
            match k % 4 {
                0 => v += r.intn(100) as f64,
                1 => v = ((v + (r.float() - 0.5) * 10.0) * 100.0).round() / 100.0,
                2 => v = 42.0,
                _ => v = r.float() * 1e6,
            }
            out.push((t, v));
            t += 15_000 + r.intn(21) as i64 - 10;
        }
        k += 1;
    }
    out
}

/// go-peer's `samplesChecksum` (FNV-1a over timestamps and value bits).
fn checksum(samples: &[(i64, f64)]) -> u64 {
    let mut h = 14_695_981_039_346_656_037u64;
    for &(t, v) in samples {
        h = (h ^ t as u64).wrapping_mul(1_099_511_628_211);
        h = (h ^ v.to_bits()).wrapping_mul(1_099_511_628_211);
    }
    h
}

fn encode_xor(samples: &[(i64, f64)], per: usize) -> Vec<XorChunk> {
    samples
        .chunks(per)
        .map(|chunk| {
            let mut app = XorAppender::new();
            for &(t, v) in chunk {
                app.append(t, v).unwrap();
            }
            app.into_chunk()
        })
        .collect()
}

fn encode_xor2(samples: &[(i64, f64)], per: usize) -> Vec<Xor2Chunk> {
    samples
        .chunks(per)
        .map(|chunk| {
            let mut app = Xor2Appender::new();
            for &(t, v) in chunk {
                app.append(0, t, v).unwrap();
            }
            app.into_chunk()
        })
        .collect()
}

fn decode_xor(chunks: &[XorChunk]) -> u64 {
    let mut acc = 0u64;
    for c in chunks {
        let mut it = c.iter();
        while it.next().unwrap() {
            let (t, v) = it.at();
            acc = acc.wrapping_add(t as u64 ^ v.to_bits());
        }
    }
    acc
}

fn decode_xor2(chunks: &[Xor2Chunk]) -> u64 {
    let mut acc = 0u64;
    for c in chunks {
        let mut it = c.iter();
        while it.next().unwrap() {
            let (t, v) = it.at();
            acc = acc.wrapping_add(t as u64 ^ v.to_bits());
        }
    }
    acc
}

/// Realistic series of 120 samples per chunk: (name, samples).
fn realistic() -> Vec<(&'static str, Vec<(i64, f64)>)> {
    let mut r = SplitMix64(7);
    let n = 120 * 200;
    let regular = |i: usize| 1_700_000_000_000 + i as i64 * 15_000;
    let mut counter = 0.0;
    let counter: Vec<_> = (0..n)
        .map(|i| {
            counter += r.intn(50) as f64;
            (regular(i), counter)
        })
        .collect();
    let mut g = 0.5;
    let gauge: Vec<_> = (0..n)
        .map(|i| {
            g = (g + (r.float() - 0.5) * 0.01f64).clamp(0.0, 1.0);
            (regular(i), g)
        })
        .collect();
    let mut t = 1_700_000_000_000i64;
    let jittered: Vec<_> = (0..n)
        .map(|i| {
            t += 15_000 + r.intn(400) as i64 - 200;
            (t, (i / 10) as f64)
        })
        .collect();
    vec![
        ("counter", counter),
        ("gauge", gauge),
        ("jittered", jittered),
    ]
}

fn bench_realistic(c: &mut Criterion) {
    let mut group = c.benchmark_group("xor");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(2));
    for (name, samples) in realistic() {
        group.throughput(Throughput::Elements(samples.len() as u64));
        group.bench_function(BenchmarkId::new("encode", name), |b| {
            b.iter(|| encode_xor(black_box(&samples), 120))
        });
        group.bench_function(BenchmarkId::new("encode_xor2", name), |b| {
            b.iter(|| encode_xor2(black_box(&samples), 120))
        });
        let chunks = encode_xor(&samples, 120);
        group.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| decode_xor(black_box(&chunks)))
        });
        let chunks2 = encode_xor2(&samples, 120);
        group.bench_function(BenchmarkId::new("decode_xor2", name), |b| {
            b.iter(|| decode_xor2(black_box(&chunks2)))
        });
        // Seek to the middle of each chunk: the cost of a range query's first sample.
        group.throughput(Throughput::Elements(chunks.len() as u64));
        group.bench_function(BenchmarkId::new("seek_middle", name), |b| {
            b.iter(|| {
                let mut acc = 0i64;
                for (c, s) in chunks.iter().zip(samples.chunks(120)) {
                    let mut it = c.iter();
                    if it.seek(black_box(s[60].0)).unwrap() {
                        acc = acc.wrapping_add(it.at_t());
                    }
                }
                acc
            })
        });
    }
    group.finish();
}

fn bench_go_peer_data(c: &mut Criterion) {
    let samples = go_peer_samples(1, 1_200_000, 120);
    let mut group = c.benchmark_group("xor_go_peer");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(samples.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| encode_xor(black_box(&samples), 120))
    });
    let chunks = encode_xor(&samples, 120);
    group.bench_function("decode", |b| b.iter(|| decode_xor(black_box(&chunks))));
    group.bench_function("encode_xor2", |b| {
        b.iter(|| encode_xor2(black_box(&samples), 120))
    });
    let chunks2 = encode_xor2(&samples, 120);
    group.bench_function("decode_xor2", |b| {
        b.iter(|| decode_xor2(black_box(&chunks2)))
    });
    group.finish();
}

/// Best wall-clock time of `reps` runs, as go-peer measures.
fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .min()
        .unwrap()
}

/// go-peer's measurement, same data and method, one JSON line per measurement.
fn go_peer_style() {
    let per = 120;
    let reps = std::env::var("XOR_GO_PEER_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let samples = go_peer_samples(1, 1_200_000, per);
    let sum = checksum(&samples);
    let chunks = encode_xor(&samples, per);
    let chunks2 = encode_xor2(&samples, per);
    let decoded: Vec<(i64, u64)> = chunks
        .iter()
        .flat_map(|c| {
            let mut it = c.iter();
            let mut out = Vec::new();
            while it.next().unwrap() {
                out.push((it.at().0, it.at().1.to_bits()));
            }
            out
        })
        .collect();
    let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert!(decoded == want, "round trip mismatch");
    let bytes: usize = chunks.iter().map(|c| c.bytes().len()).sum();
    let bytes2: usize = chunks2.iter().map(|c| c.bytes().len()).sum();
    let n = samples.len() as f64;
    let report = |bench: &str, bytes: usize, d: Duration| {
        println!(
            "{{\"bench\":\"{bench}\",\"impl\":\"rust\",\"samples\":{},\"samples_per_chunk\":{per},\"reps\":{reps},\"checksum\":{sum},\"bytes_per_sample\":{},\"best_ns\":{},\"ns_per_sample\":{:.2}}}",
            samples.len(),
            bytes as f64 / n,
            d.as_nanos(),
            d.as_nanos() as f64 / n
        );
    };
    report(
        "xor_encode",
        bytes,
        best(reps, || encode_xor(&samples, per)),
    );
    report("xor_decode", bytes, best(reps, || decode_xor(&chunks)));
    report(
        "xor2_encode",
        bytes2,
        best(reps, || encode_xor2(&samples, per)),
    );
    report("xor2_decode", bytes2, best(reps, || decode_xor2(&chunks2)));
}

criterion_group!(benches, bench_realistic, bench_go_peer_data);

fn main() {
    if std::env::var_os("XOR_GO_PEER_STYLE").is_some() {
        go_peer_style();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
