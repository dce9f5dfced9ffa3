//! Property tests: histograms appended to a chunk decode to exactly what was appended; an
//! appender resumed on a chunk's bytes continues it byte for byte; damaged chunks give errors,
//! never panics.

use chunkenc::histogram_meta::STALE_NAN_BITS;
use chunkenc::{
    AppendOutcome, CounterResetHint, FloatHistogram, FloatHistogramAppender,
    FloatHistogramIterator, Histogram, HistogramAppender, HistogramIterator, Span,
};
use proptest::prelude::*;

fn spans() -> impl Strategy<Value = Vec<Span>> {
    proptest::collection::vec((0i32..4, 0u32..5), 0..4).prop_flat_map(|rest| {
        (-20i32..20).prop_map(move |first| {
            rest.iter()
                .enumerate()
                .map(|(i, &(o, l))| Span {
                    offset: if i == 0 { first } else { o },
                    length: l,
                })
                .collect()
        })
    })
}

fn nbuckets(s: &[Span]) -> usize {
    s.iter().map(|s| s.length as usize).sum()
}

#[derive(Debug, Clone)]
struct Series {
    gauge: bool,
    schema: i32,
    zero_threshold: f64,
    pos: Vec<Span>,
    neg: Vec<Span>,
    custom: Vec<f64>,
    /// Per sample: time step, count increments per bucket and zero bucket, sum.
    steps: Vec<(i64, Vec<u64>, u64, f64)>,
    stale_tail: usize,
}

fn series() -> impl Strategy<Value = Series> {
    (
        any::<bool>(),
        prop_oneof![(-4i32..=8), Just(-53)],
        prop_oneof![Just(0.0), Just(2f64.powi(-128)), Just(0.001), Just(1e-300)],
        spans(),
        spans(),
        0usize..4,
        1usize..60,
        any::<u64>(),
    )
        .prop_map(|(gauge, schema, zt, pos, neg, stale_tail, n, seed)| {
            let mut rng = seed | 1;
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let custom = if schema == -53 {
                (0..nbuckets(&pos))
                    .map(|i| i as f64 * 0.25 + (next() % 3) as f64 * 1e-4)
                    .collect()
            } else {
                Vec::new()
            };
            let nb = nbuckets(&pos) + nbuckets(&neg);
            let steps = (0..n)
                .map(|_| {
                    let dt = match next() % 4 {
                        0 => 15_000,
                        1 => 1 + (next() % 100_000) as i64,
                        2 => (next() % (1 << 40)) as i64,
                        _ => 15_000 + (next() % 7) as i64 - 3,
                    };
                    let inc = (0..nb)
                        .map(|_| next() % [1, 10, 1000, 1 << 30][(next() % 4) as usize])
                        .collect();
                    let sum = match next() % 5 {
                        0 => f64::NAN,
                        1 => 0.0,
                        _ => f64::from_bits(next()) % 1e12,
                    };
                    (dt, inc, next() % 5, sum)
                })
                .collect();
            Series {
                gauge,
                schema,
                zero_threshold: if schema == -53 { 0.0 } else { zt },
                neg: if schema == -53 { Vec::new() } else { neg },
                pos,
                custom,
                steps,
                stale_tail,
            }
        })
}

/// The integer histograms of a series: counters grow; gauges take the increments as values.
fn int_samples(s: &Series) -> Vec<(i64, Histogram)> {
    let np = nbuckets(&s.pos);
    let nn = nbuckets(&s.neg);
    let mut abs = vec![0u64; np + nn];
    let mut zero = 0u64;
    let mut t = -1_000_000i64;
    let mut out = Vec::new();
    for (dt, inc, zinc, sum) in &s.steps {
        t += dt;
        for (a, i) in abs.iter_mut().zip(inc) {
            *a = if s.gauge { *i } else { *a + i };
        }
        zero = if s.gauge { *zinc } else { zero + zinc };
        let deltas = |v: &[u64]| -> Vec<i64> {
            let mut prev = 0i64;
            v.iter()
                .map(|&c| {
                    let d = c as i64 - prev;
                    prev = c as i64;
                    d
                })
                .collect()
        };
        out.push((
            t,
            Histogram {
                counter_reset_hint: if s.gauge {
                    CounterResetHint::Gauge
                } else {
                    CounterResetHint::Unknown
                },
                schema: s.schema,
                zero_threshold: s.zero_threshold,
                zero_count: zero,
                count: zero + abs.iter().sum::<u64>(),
                sum: *sum,
                positive_spans: s.pos.clone(),
                negative_spans: s.neg.clone(),
                positive_buckets: deltas(&abs[..np]),
                negative_buckets: deltas(&abs[np..]),
                custom_values: s.custom.clone(),
            },
        ));
    }
    for _ in 0..s.stale_tail {
        t += 15_000;
        out.push((
            t,
            Histogram {
                // Markers in a gauge series keep the gauge hint, else they would cut a chunk.
                counter_reset_hint: if s.gauge {
                    CounterResetHint::Gauge
                } else {
                    CounterResetHint::Unknown
                },
                sum: f64::from_bits(STALE_NAN_BITS),
                ..Histogram::default()
            },
        ));
    }
    out
}

fn hint_at(gauge: bool, i: usize) -> CounterResetHint {
    match (gauge, i) {
        (true, _) => CounterResetHint::Gauge,
        (false, 0) => CounterResetHint::Unknown,
        _ => CounterResetHint::NotCounterReset,
    }
}

fn same_int(a: &Histogram, b: &Histogram) -> bool {
    a.sum.to_bits() == b.sum.to_bits()
        && Histogram {
            sum: 0.0,
            ..a.clone()
        } == Histogram {
            sum: 0.0,
            ..b.clone()
        }
}

fn same_float(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    a.sum.to_bits() == b.sum.to_bits()
        && a.count.to_bits() == b.count.to_bits()
        && a.zero_count.to_bits() == b.zero_count.to_bits()
        && bits(&a.positive_buckets) == bits(&b.positive_buckets)
        && bits(&a.negative_buckets) == bits(&b.negative_buckets)
        && (
            a.schema,
            a.zero_threshold.to_bits(),
            &a.positive_spans,
            &a.negative_spans,
            a.counter_reset_hint,
        ) == (
            b.schema,
            b.zero_threshold.to_bits(),
            &b.positive_spans,
            &b.negative_spans,
            b.counter_reset_hint,
        )
        && bits(&a.custom_values) == bits(&b.custom_values)
}

fn expected_decoded_int(gauge: bool, i: usize, h: &Histogram) -> Histogram {
    if h.sum.to_bits() == STALE_NAN_BITS {
        // Decoded markers carry only the sum.
        return Histogram {
            sum: h.sum,
            ..Histogram::default()
        };
    }
    Histogram {
        counter_reset_hint: hint_at(gauge, i),
        ..h.clone()
    }
}

/// Feeds every byte prefix and a few bit flips of `chunk` to `decode`, which must not panic.
fn damage(chunk: &[u8], decode: impl Fn(&[u8])) {
    for len in (0..chunk.len()).step_by(chunk.len() / 40 + 1) {
        decode(&chunk[..len]);
    }
    let mut copy = chunk.to_vec();
    for i in (0..copy.len() * 8).step_by(copy.len() / 5 + 7) {
        copy[i / 8] ^= 1 << (i % 8);
        decode(&copy);
        copy[i / 8] ^= 1 << (i % 8);
    }
}

fn drain_int(b: &[u8]) {
    if let Ok(mut it) = HistogramIterator::new(b) {
        let mut n = 0;
        while let Ok(true) = it.next() {
            let _ = it.at_float_histogram();
            n += 1;
            assert!(n <= it.num_samples());
        }
    }
}

fn drain_float(b: &[u8]) {
    if let Ok(mut it) = FloatHistogramIterator::new(b) {
        let mut n = 0;
        while let Ok(true) = it.next() {
            n += 1;
            assert!(n <= it.num_samples());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn integer_round_trip(s in series(), split in 0usize..60) {
        let samples = int_samples(&s);
        let mut app = HistogramAppender::new();
        for (t, h) in &samples {
            let out = app.append_histogram(None, *t, h, false).unwrap();
            prop_assert!(matches!(out, AppendOutcome::Appended), "{:?}", out);
        }
        let mut it = HistogramIterator::new(app.bytes()).unwrap();
        for (i, (t, h)) in samples.iter().enumerate() {
            prop_assert!(it.next().unwrap());
            let (gt, gh) = it.at_histogram();
            prop_assert_eq!(gt, *t);
            prop_assert!(same_int(gh, &expected_decoded_int(s.gauge, i, h)), "sample {}: {:?} vs {:?}", i, gh, h);
            let want_f = if h.sum.to_bits() == STALE_NAN_BITS {
                FloatHistogram { sum: h.sum, ..FloatHistogram::default() }
            } else {
                expected_decoded_int(s.gauge, i, h).to_float()
            };
            prop_assert!(same_float(it.at_float_histogram().1, &want_f));
        }
        prop_assert!(!it.next().unwrap());

        // Seek finds the first sample at or after a time.
        let target = samples[split % samples.len()].0;
        let mut it = HistogramIterator::new(app.bytes()).unwrap();
        prop_assert!(it.seek(target).unwrap());
        prop_assert_eq!(it.at_t(), target);

        // Resume after `split` samples and append the rest: same bytes.
        let k = split % (samples.len() + 1);
        let mut first = HistogramAppender::new();
        for (t, h) in &samples[..k] {
            first.append_histogram(None, *t, h, false).unwrap();
        }
        let mut resumed = HistogramAppender::from_bytes(first.bytes().to_vec()).unwrap();
        for (t, h) in &samples[k..] {
            resumed.append_histogram(None, *t, h, false).unwrap();
        }
        prop_assert_eq!(resumed.bytes(), app.bytes());

        damage(app.bytes(), drain_int);
    }

    #[test]
    fn float_round_trip(s in series(), split in 0usize..60) {
        let samples: Vec<(i64, FloatHistogram)> = int_samples(&s)
            .iter()
            .map(|(t, h)| {
                let mut f = h.to_float();
                // Make the counts fractional where there are any.
                for b in f.positive_buckets.iter_mut().chain(f.negative_buckets.iter_mut()) {
                    *b *= 0.5;
                }
                (*t, f)
            })
            .collect();
        let mut app = FloatHistogramAppender::new();
        for (t, h) in &samples {
            let out = app.append_float_histogram(None, *t, h, false).unwrap();
            prop_assert!(matches!(out, AppendOutcome::Appended), "{:?}", out);
        }
        let mut it = FloatHistogramIterator::new(app.bytes()).unwrap();
        for (i, (t, h)) in samples.iter().enumerate() {
            prop_assert!(it.next().unwrap());
            let (gt, gh) = it.at_float_histogram();
            prop_assert_eq!(gt, *t);
            let want = if h.sum.to_bits() == STALE_NAN_BITS {
                FloatHistogram { sum: h.sum, ..FloatHistogram::default() }
            } else {
                FloatHistogram { counter_reset_hint: hint_at(s.gauge, i), ..h.clone() }
            };
            prop_assert!(same_float(gh, &want), "sample {}: {:?} vs {:?}", i, gh, want);
        }
        prop_assert!(!it.next().unwrap());

        let k = split % (samples.len() + 1);
        let mut first = FloatHistogramAppender::new();
        for (t, h) in &samples[..k] {
            first.append_float_histogram(None, *t, h, false).unwrap();
        }
        let mut resumed = FloatHistogramAppender::from_bytes(first.bytes().to_vec()).unwrap();
        for (t, h) in &samples[k..] {
            resumed.append_float_histogram(None, *t, h, false).unwrap();
        }
        prop_assert_eq!(resumed.bytes(), app.bytes());

        damage(app.bytes(), drain_float);
    }
}

#[test]
fn absurd_counts_in_the_layout_are_errors_not_allocations() {
    use chunkenc::bstream::BitWriter;
    use chunkenc::varbit::put_varbit_uint;
    // Header for 1 sample, zero threshold 0, schema 0, then 2^60 positive spans.
    let mut w = BitWriter::default();
    w.write_bits(0x00_01_00, 24);
    w.write_byte(0);
    w.write_bit(false);
    put_varbit_uint(&mut w, 1 << 60);
    let mut it = HistogramIterator::new(w.bytes()).unwrap();
    assert!(it.next().is_err());
    let mut it = FloatHistogramIterator::new(w.bytes()).unwrap();
    assert!(it.next().is_err());
    // One span of 2^31 buckets.
    let mut w = BitWriter::default();
    w.write_bits(0x00_01_00, 24);
    w.write_byte(0);
    w.write_bit(false);
    put_varbit_uint(&mut w, 1);
    put_varbit_uint(&mut w, 1 << 31);
    w.write_bit(false);
    put_varbit_uint(&mut w, 0);
    let mut it = HistogramIterator::new(w.bytes()).unwrap();
    assert!(it.next().is_err());
    // Too short for a header.
    assert!(HistogramIterator::new(&[0, 1]).is_err());
    assert!(FloatHistogramIterator::new(&[]).is_err());
}

#[test]
fn unknown_schema_is_an_error() {
    let mut app = HistogramAppender::new();
    app.append_histogram(
        None,
        0,
        &Histogram {
            schema: 9,
            ..Histogram::default()
        },
        false,
    )
    .unwrap();
    let mut it = HistogramIterator::new(app.bytes()).unwrap();
    assert_eq!(it.next(), Err(chunkenc::ChunkError::UnknownSchema(9)));
    // The error sticks.
    assert_eq!(it.next(), Err(chunkenc::ChunkError::UnknownSchema(9)));
}
