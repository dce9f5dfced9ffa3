//! Round trips, resumed appenders, seeking and bad input for the XOR and XOR2 chunks.

use chunkenc::{
    iter, ChunkError, Encoding, FloatAppender, FloatEncoding, ValueKind, Xor2Appender, Xor2Chunk,
    Xor2Iterator, XorAppender, XorChunk, XorIterator,
};
use proptest::prelude::*;

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Interesting value bits: the common cases and every special float.
fn value_bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0u32..1000).prop_map(|i| (i as f64).to_bits()),
        2 => any::<f64>().prop_map(f64::to_bits),
        2 => any::<u64>(),
        1 => Just(STALE_NAN),
        1 => Just(0x7ff8_0000_0000_0001u64),
        1 => Just((-0.0f64).to_bits()),
        1 => Just(f64::INFINITY.to_bits()),
        1 => Just(f64::NEG_INFINITY.to_bits()),
    ]
}

/// Timestamp steps: regular scrapes, jitter, and the occasional huge jump.
fn steps() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => Just(15_000i64),
        3 => 14_000i64..16_000,
        1 => -600_000i64..600_000,
        1 => any::<i64>(),
    ]
}

fn samples() -> impl Strategy<Value = Vec<(i64, i64, u64)>> {
    (
        any::<i64>(),
        proptest::collection::vec((steps(), value_bits(), 0i64..3), 0..300),
    )
        .prop_map(|(start, rest)| {
            let mut t = start;
            let mut st = 0;
            rest.into_iter()
                .map(|(step, v, st_change)| {
                    t = t.wrapping_add(step);
                    if st_change == 2 {
                        st = t.wrapping_sub(step / 3);
                    }
                    (st, t, v)
                })
                .collect()
        })
}

fn decode_xor(bytes: &[u8]) -> Vec<(i64, u64)> {
    let mut it = XorIterator::new(bytes).unwrap();
    let mut out = Vec::new();
    while it.next().unwrap() {
        out.push((it.at().0, it.at().1.to_bits()));
    }
    out
}

fn decode_xor2(bytes: &[u8]) -> Vec<(i64, i64, u64)> {
    let mut it = Xor2Iterator::new(bytes).unwrap();
    let mut out = Vec::new();
    while it.next().unwrap() {
        out.push((it.at_st(), it.at().0, it.at().1.to_bits()));
    }
    out
}

proptest! {
    #[test]
    fn xor_round_trips(samples in samples()) {
        let mut app = XorAppender::new();
        for &(_, t, v) in &samples {
            app.append(t, f64::from_bits(v)).unwrap();
        }
        prop_assert_eq!(app.num_samples(), samples.len());
        let want: Vec<_> = samples.iter().map(|&(_, t, v)| (t, v)).collect();
        prop_assert_eq!(decode_xor(app.bytes()), want);
    }

    #[test]
    fn xor2_round_trips(samples in samples()) {
        let mut app = Xor2Appender::new();
        for &(st, t, v) in &samples {
            app.append(st, t, f64::from_bits(v)).unwrap();
        }
        prop_assert_eq!(decode_xor2(app.bytes()), samples);
    }

    /// Resuming after at least one value change gives the bytes of appending all at once.
    #[test]
    fn resumed_appenders_continue_the_stream(samples in samples(), split in 0usize..300) {
        let split = split.min(samples.len());
        let changed = |s: &[(i64, i64, u64)]| s.windows(2).any(|w| w[0].2 != w[1].2);

        let mut whole = XorAppender::new();
        let mut first = XorAppender::new();
        for (i, &(_, t, v)) in samples.iter().enumerate() {
            whole.append(t, f64::from_bits(v)).unwrap();
            if i < split { first.append(t, f64::from_bits(v)).unwrap(); }
        }
        let bytes = first.into_chunk().into_bytes();
        let mut resumed = XorChunk::from_bytes(bytes).unwrap().appender().unwrap();
        for &(_, t, v) in &samples[split..] {
            resumed.append(t, f64::from_bits(v)).unwrap();
        }
        if split == 0 || changed(&samples[..split]) {
            prop_assert_eq!(resumed.bytes(), whole.bytes());
        } else {
            // Prometheus' quirk: the window is 0/0 instead of "none"; samples still decode.
            prop_assert_eq!(decode_xor(resumed.bytes()), decode_xor(whole.bytes()));
        }

        let mut whole = Xor2Appender::new();
        let mut first = Xor2Appender::new();
        for (i, &(st, t, v)) in samples.iter().enumerate() {
            whole.append(st, t, f64::from_bits(v)).unwrap();
            if i < split { first.append(st, t, f64::from_bits(v)).unwrap(); }
        }
        let bytes = first.into_chunk().into_bytes();
        let mut resumed = Xor2Chunk::from_bytes(bytes).unwrap().appender().unwrap();
        for &(st, t, v) in &samples[split..] {
            resumed.append(st, t, f64::from_bits(v)).unwrap();
        }
        if split == 0 || window_opened_xor2(&samples[..split]) {
            prop_assert_eq!(resumed.bytes(), whole.bytes());
        } else {
            prop_assert_eq!(decode_xor2(resumed.bytes()), decode_xor2(whole.bytes()));
        }
    }

    /// Seeking lands on the first sample at or after the target.
    #[test]
    fn seek_finds_first_sample_at_or_after(n in 1usize..200, target in -10_000i64..3_100_000) {
        let mut app = XorAppender::new();
        let mut app2 = Xor2Appender::new();
        for i in 0..n as i64 {
            app.append(i * 15_000, i as f64).unwrap();
            app2.append(0, i * 15_000, i as f64).unwrap();
        }
        let want = (0..n as i64).map(|i| i * 15_000).find(|&t| t >= target);
        for (enc, bytes) in [(Encoding::Xor, app.bytes()), (Encoding::Xor2, app2.bytes())] {
            let mut it = iter(enc, bytes).unwrap();
            let got = it.seek(target).unwrap().map(|_| it.at_t());
            prop_assert_eq!(got, want);
        }
    }

    /// No input makes the decoders panic or loop; they end or report an error.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for enc in [Encoding::Xor, Encoding::Xor2] {
            if let Ok(mut it) = iter(enc, &bytes) {
                let mut n = 0;
                while let Ok(Some(_)) = it.next() {
                    n += 1;
                    prop_assert!(n <= it.num_samples());
                }
            }
        }
    }
}

/// Whether the XOR2 appender opened a value window on these samples (a non-zero XOR
/// against the non-stale baseline after sample 0).
fn window_opened_xor2(samples: &[(i64, i64, u64)]) -> bool {
    let mut baseline = 0u64;
    for (i, &(_, _, v)) in samples.iter().enumerate() {
        if v == STALE_NAN {
            continue;
        }
        if i > 0 && v != baseline {
            return true;
        }
        baseline = v;
    }
    false
}

#[test]
fn resuming_a_single_sample_chunk_matches_prometheus_quirk() {
    // Prometheus rebuilds the appender from an iterator whose window is 0/0, so the next
    // changed value reuses a 64-bit window (`10` + 64 bits) rather than opening a new one.
    let mut first = XorAppender::new();
    first.append(1000, 1.0).unwrap();
    let mut resumed = first.into_chunk().appender().unwrap();
    resumed.append(2000, 2.0).unwrap();
    let bytes = resumed.bytes();
    // After the 2-byte header, varint(1000) (2 bytes), 8 value bytes, uvarint(1000) (2 bytes):
    // the value control starts at byte 14 with bits `10`.
    assert_eq!(bytes[14] >> 6, 0b10);
    assert_eq!(
        decode_xor(bytes),
        vec![(1000, 1f64.to_bits()), (2000, 2f64.to_bits())]
    );
}

#[test]
fn float_appender_selects_the_encoding() {
    for enc in [FloatEncoding::Xor, FloatEncoding::Xor2] {
        let mut app = FloatAppender::new(enc);
        for i in 0..10 {
            app.append(0, i * 1000, i as f64 / 3.0).unwrap();
        }
        assert_eq!(app.encoding(), Encoding::from(enc));
        let mut it = app.iter();
        let mut n = 0;
        while let Some(kind) = it.next().unwrap() {
            assert_eq!(kind, ValueKind::Float);
            assert_eq!(it.at(), (n * 1000, n as f64 / 3.0));
            n += 1;
        }
        assert_eq!(n, 10);
    }
}

#[test]
fn full_chunk_is_an_error() {
    let mut app = XorAppender::new();
    let mut app2 = Xor2Appender::new();
    for i in 0..u16::MAX as i64 {
        app.append(i, 1.0).unwrap();
        app2.append(0, i, 1.0).unwrap();
    }
    assert_eq!(app.append(1 << 20, 1.0), Err(ChunkError::Full(65535)));
    assert_eq!(app2.append(0, 1 << 20, 1.0), Err(ChunkError::Full(65535)));
}

#[test]
fn header_count_beyond_data_is_an_error() {
    let mut app = XorAppender::new();
    let mut app2 = Xor2Appender::new();
    for i in 0..20 {
        app.append(i * 15_000, i as f64).unwrap();
        app2.append(0, i * 15_000, i as f64).unwrap();
    }
    for (enc, bytes) in [(Encoding::Xor, app.bytes()), (Encoding::Xor2, app2.bytes())] {
        let mut bytes = bytes.to_vec();
        bytes[1] = 100; // Claims 100 samples.
        let mut it = iter(enc, &bytes).unwrap();
        let mut result = it.next();
        let mut n = 0;
        while let Ok(Some(_)) = result {
            n += 1;
            result = it.next();
        }
        assert!(n >= 20, "{enc}: only {n} samples before the error");
        assert_eq!(result, Err(ChunkError::UnexpectedEnd), "{enc}");
        // The error sticks.
        assert_eq!(it.next(), Err(ChunkError::UnexpectedEnd));
        // And resuming such a chunk fails instead of writing after garbage.
        let resumed = match enc {
            Encoding::Xor => XorChunk::from_bytes(bytes.clone())
                .unwrap()
                .appender()
                .err(),
            _ => Xor2Chunk::from_bytes(bytes.clone())
                .unwrap()
                .appender()
                .err(),
        };
        assert_eq!(resumed, Some(ChunkError::UnexpectedEnd));
    }
}

#[test]
fn short_headers_are_errors() {
    assert!(matches!(
        XorChunk::from_bytes(vec![0]),
        Err(ChunkError::TooShort { .. })
    ));
    assert!(matches!(
        Xor2Chunk::from_bytes(vec![0, 0]),
        Err(ChunkError::TooShort { .. })
    ));
    assert!(matches!(
        iter(Encoding::Xor, &[]),
        Err(ChunkError::TooShort { .. })
    ));
    assert!(matches!(
        iter(Encoding::Xor2, &[0, 1]),
        Err(ChunkError::TooShort { .. })
    ));
    assert_eq!(
        iter(Encoding::None, &[0, 0]).err(),
        Some(ChunkError::UnknownEncoding(0))
    );
}

#[test]
fn corrupt_window_is_an_error() {
    // Sample 0 then sample 1 whose value opens a window of 31 leading zeros and 63
    // significant bits: more than 64 bits.
    let mut app = XorAppender::new();
    app.append(0, 0.0).unwrap();
    let mut bytes = app.bytes().to_vec();
    bytes[1] = 2;
    bytes.push(1); // uvarint delta 1
                   // `11`, leading 11111, sigbits 111111 -> 0b11_11111_111111 then zero padding.
    bytes.extend_from_slice(&[0b1111_1111, 0b1111_1000, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut it = XorIterator::new(&bytes).unwrap();
    assert!(it.next().unwrap());
    assert!(matches!(it.next(), Err(ChunkError::Corrupt(_))));
}
