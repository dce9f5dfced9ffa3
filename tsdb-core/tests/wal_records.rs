//! Record codecs: every record of Prometheus' WAL decodes and re-encodes to the same bytes;
//! property-based round trips for every record type; bad input gives typed errors.

use std::path::PathBuf;

use chunkenc::{CounterResetHint, FloatHistogram, Histogram, Span};
use proptest::prelude::*;
use tsdb_core::record::*;
use tsdb_core::wlog::{SegmentReader, WalOptions, WalWriter};
use tsdb_index::Labels;

fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

fn fixture_records() -> Vec<Vec<u8>> {
    let dir = shared_dir().join("fixtures/prom-wal/wal");
    assert!(
        dir.exists(),
        "fixture {} missing: set SHARED_DIR",
        dir.display()
    );
    let mut r = SegmentReader::open_dir(&dir).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        out.push(rec.to_vec());
    }
    out
}

#[test]
fn fixture_records_decode_and_reencode_byte_identical() {
    let recs = fixture_records();
    let (mut n_series, mut n_samples) = (0, 0);
    for rec in &recs {
        let mut buf = Vec::new();
        match RecordType::of(rec) {
            Some(RecordType::Series) => {
                let mut s = Vec::new();
                decode_series(rec, &mut s).unwrap();
                n_series += s.len();
                encode_series(&s, &mut buf);
            }
            Some(RecordType::Samples) => {
                let mut s = Vec::new();
                decode_samples(rec, &mut s).unwrap();
                n_samples += s.len();
                encode_samples(&s, &mut buf);
            }
            other => panic!("unexpected record type {other:?} in fixture"),
        }
        assert!(&buf == rec, "re-encoded record differs");
    }
    assert_eq!(n_series, 537);
    let dump =
        std::fs::read_to_string(shared_dir().join("fixtures/prom-wal/expected.dump")).unwrap();
    assert_eq!(n_samples, dump.lines().count());
}

/// Writing Prometheus' records with our writer reproduces its segment: same fragments, same
/// page layout, same snappy bytes (both use the reference snappy algorithm).
#[test]
fn rewriting_fixture_records_reproduces_the_segment() {
    let recs = fixture_records();
    let orig = std::fs::read(shared_dir().join("fixtures/prom-wal/wal/00000000")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut w = WalWriter::open(tmp.path(), WalOptions::default()).unwrap();
    for r in &recs {
        w.log(&[r]).unwrap();
    }
    w.close().unwrap();
    let ours = std::fs::read(tmp.path().join("00000000")).unwrap();
    assert_eq!(ours.len(), orig.len());
    let first_diff = ours.iter().zip(&orig).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "segments differ");
}

fn labels_strategy() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map("[a-z_]{1,8}", "[ -~]{1,12}", 0..6)
        .prop_map(|m| Labels::from_pairs(m.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
}

fn spans() -> impl Strategy<Value = Vec<Span>> {
    prop::collection::vec(
        (any::<i32>(), any::<u32>()).prop_map(|(offset, length)| Span { offset, length }),
        0..4,
    )
}

fn hint() -> impl Strategy<Value = CounterResetHint> {
    prop_oneof![
        Just(CounterResetHint::Unknown),
        Just(CounterResetHint::CounterReset),
        Just(CounterResetHint::NotCounterReset),
        Just(CounterResetHint::Gauge),
    ]
}

fn histogram(custom: bool) -> impl Strategy<Value = Histogram> {
    (
        hint(),
        -4i32..=8,
        any::<u64>(),
        any::<u64>(),
        (spans(), spans()),
        prop::collection::vec(any::<i64>(), 0..5),
        prop::collection::vec(any::<i64>(), 0..5),
        prop::collection::vec(-1e9f64..1e9, 0..4),
    )
        .prop_map(move |(h, schema, zc, c, (ps, ns), pb, nb, cv)| Histogram {
            counter_reset_hint: h,
            schema: if custom { -53 } else { schema },
            zero_threshold: 1e-128,
            zero_count: zc,
            count: c,
            sum: 12.5,
            positive_spans: ps,
            negative_spans: ns,
            positive_buckets: pb,
            negative_buckets: nb,
            custom_values: if custom { cv } else { Vec::new() },
        })
}

fn float_histogram(custom: bool) -> impl Strategy<Value = FloatHistogram> {
    (
        histogram(custom),
        prop::collection::vec(-1e9f64..1e9, 0..5),
        prop::collection::vec(-1e9f64..1e9, 0..5),
    )
        .prop_map(|(h, pb, nb)| {
            let mut f = h.to_float();
            f.positive_buckets = pb;
            f.negative_buckets = nb;
            f
        })
}

proptest! {
    #[test]
    fn series_round_trip(v in prop::collection::vec((any::<u64>(), labels_strategy()), 0..8)) {
        let series: Vec<RefSeries> = v.into_iter().map(|(series_ref, labels)| RefSeries { series_ref, labels }).collect();
        let mut buf = Vec::new();
        encode_series(&series, &mut buf);
        let mut out = Vec::new();
        decode_series(&buf, &mut out).unwrap();
        prop_assert_eq!(out, series);
    }

    #[test]
    fn samples_round_trip(v in prop::collection::vec((0u64..1<<40, any::<i64>(), any::<i64>(), any::<u64>()), 0..20)) {
        let samples: Vec<RefSample> = v.iter().map(|&(r, st, t, bits)| RefSample { series_ref: r, st, t, v: f64::from_bits(bits) }).collect();
        let mut buf = Vec::new();
        encode_samples(&samples, &mut buf);
        let mut out = Vec::new();
        decode_samples(&buf, &mut out).unwrap();
        prop_assert_eq!(out.len(), samples.len());
        for (a, b) in out.iter().zip(&samples) {
            prop_assert_eq!((a.series_ref, a.t, a.v.to_bits(), a.st), (b.series_ref, b.t, b.v.to_bits(), 0));
        }
        encode_samples_v2(&samples, &mut buf);
        out.clear();
        decode_samples(&buf, &mut out).unwrap();
        prop_assert_eq!(out.len(), samples.len());
        for (a, b) in out.iter().zip(&samples) {
            prop_assert_eq!((a.series_ref, a.st, a.t, a.v.to_bits()), (b.series_ref, b.st, b.t, b.v.to_bits()));
        }
    }

    #[test]
    fn tombstones_markers_metadata_exemplars_round_trip(
        st in prop::collection::vec((any::<u64>(), any::<i64>(), any::<i64>()), 0..8),
        mm in prop::collection::vec((any::<u64>(), any::<u64>()), 0..8),
        md in prop::collection::vec((any::<u64>(), 0u8..8, "[ -~]{0,10}", "[ -~]{0,30}"), 0..8),
        ex in prop::collection::vec((0u64..1<<40, any::<i64>(), any::<f64>(), labels_strategy()), 0..8),
    ) {
        let mut buf = Vec::new();
        let stones: Vec<RefTombstone> = st.iter().map(|&(series_ref, mint, maxt)| RefTombstone { series_ref, mint, maxt }).collect();
        encode_tombstones(&stones, &mut buf);
        let mut o1 = Vec::new();
        decode_tombstones(&buf, &mut o1).unwrap();
        prop_assert_eq!(o1, stones);

        let markers: Vec<RefMmapMarker> = mm.iter().map(|&(series_ref, mmap_ref)| RefMmapMarker { series_ref, mmap_ref }).collect();
        encode_mmap_markers(&markers, &mut buf);
        let mut o2 = Vec::new();
        decode_mmap_markers(&buf, &mut o2).unwrap();
        prop_assert_eq!(o2, markers);

        let meta: Vec<RefMetadata> = md.into_iter().map(|(series_ref, typ, unit, help)| RefMetadata { series_ref, typ, unit, help }).collect();
        encode_metadata(&meta, &mut buf);
        let mut o3 = Vec::new();
        decode_metadata(&buf, &mut o3).unwrap();
        prop_assert_eq!(o3, meta);

        let exs: Vec<RefExemplar> = ex.into_iter().map(|(series_ref, t, v, labels)| RefExemplar { series_ref, t, v, labels }).collect();
        encode_exemplars(&exs, &mut buf);
        let mut o4 = Vec::new();
        decode_exemplars(&buf, &mut o4).unwrap();
        prop_assert_eq!(o4.len(), exs.len());
        for (a, b) in o4.iter().zip(&exs) {
            prop_assert_eq!((a.series_ref, a.t, a.v.to_bits(), &a.labels), (b.series_ref, b.t, b.v.to_bits(), &b.labels));
        }
    }

    #[test]
    fn histogram_samples_round_trip(
        hs in prop::collection::vec((0u64..1<<40, any::<i64>(), any::<i64>(), any::<bool>()), 1..6)
            .prop_flat_map(|v| {
                let n = v.len();
                (Just(v), prop::collection::vec(histogram(false), n), prop::collection::vec(histogram(true), n))
            }),
    ) {
        let (keys, exp, cust) = hs;
        let samples: Vec<RefHistogramSample> = keys.iter().enumerate().map(|(i, &(r, st, t, custom))| RefHistogramSample {
            series_ref: r, st, t, h: if custom { cust[i].clone() } else { exp[i].clone() },
        }).collect();
        let mut buf = Vec::new();
        // v1: exponential ones in type 7, custom-bucket ones in type 9.
        encode_histogram_samples(&samples, &mut buf);
        let mut out = Vec::new();
        if !buf.is_empty() {
            decode_histogram_samples(&buf, &mut out).unwrap();
        }
        let custom: Vec<_> = samples.iter().filter(|s| s.h.schema == -53).cloned().collect();
        encode_custom_buckets_histogram_samples(&custom, &mut buf);
        decode_histogram_samples(&buf, &mut out).unwrap();
        prop_assert_eq!(out.len(), samples.len());
        for s in &samples {
            prop_assert!(out.iter().any(|o| o.series_ref == s.series_ref && o.t == s.t && o.h == s.h));
        }
        // v2 keeps order and start timestamps.
        encode_histogram_samples_v2(&samples, &mut buf);
        out.clear();
        decode_histogram_samples(&buf, &mut out).unwrap();
        prop_assert_eq!(&out, &samples);

        let fsamples: Vec<RefFloatHistogramSample> = samples.iter().map(|s| RefFloatHistogramSample {
            series_ref: s.series_ref, st: s.st, t: s.t, fh: s.h.to_float(),
        }).collect();
        encode_float_histogram_samples_v2(&fsamples, &mut buf);
        let mut fout = Vec::new();
        decode_float_histogram_samples(&buf, &mut fout).unwrap();
        prop_assert_eq!(&fout, &fsamples);
        encode_float_histogram_samples(&fsamples, &mut buf);
        fout.clear();
        if !buf.is_empty() {
            decode_float_histogram_samples(&buf, &mut fout).unwrap();
        }
        let fcustom: Vec<_> = fsamples.iter().filter(|s| s.fh.schema == -53).cloned().collect();
        encode_custom_buckets_float_histogram_samples(&fcustom, &mut buf);
        decode_float_histogram_samples(&buf, &mut fout).unwrap();
        prop_assert_eq!(fout.len(), fsamples.len());
    }

    #[test]
    fn float_histogram_samples_round_trip(
        hs in prop::collection::vec((0u64..1<<40, any::<i64>(), any::<i64>(), float_histogram(false), float_histogram(true)), 1..5),
    ) {
        let samples: Vec<RefFloatHistogramSample> = hs.into_iter().enumerate().map(|(i, (r, st, t, e, c))| RefFloatHistogramSample {
            series_ref: r, st, t, fh: if i % 2 == 0 { e } else { c },
        }).collect();
        let mut buf = Vec::new();
        encode_float_histogram_samples_v2(&samples, &mut buf);
        let mut out = Vec::new();
        decode_float_histogram_samples(&buf, &mut out).unwrap();
        prop_assert_eq!(&out, &samples);
        // v1: the base is the first sample even when it goes to the custom-buckets record.
        encode_float_histogram_samples(&samples, &mut buf);
        out.clear();
        decode_float_histogram_samples(&buf, &mut out).unwrap();
        let expo: Vec<_> = samples.iter().filter(|s| s.fh.schema != -53).map(|s| (s.series_ref, s.t, s.fh.clone())).collect();
        let got: Vec<_> = out.iter().map(|s| (s.series_ref, s.t, s.fh.clone())).collect();
        prop_assert_eq!(got, expo);
    }

    #[test]
    fn decoders_never_panic(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_series(&data, &mut Vec::new());
        let _ = decode_samples(&data, &mut Vec::new());
        let _ = decode_tombstones(&data, &mut Vec::new());
        let _ = decode_exemplars(&data, &mut Vec::new());
        let _ = decode_mmap_markers(&data, &mut Vec::new());
        let _ = decode_metadata(&data, &mut Vec::new());
        let _ = decode_histogram_samples(&data, &mut Vec::new());
        let _ = decode_float_histogram_samples(&data, &mut Vec::new());
    }
}

/// Byte layout of a samples record, written out by hand from Prometheus' encoder: base ref
/// and time as BE64, then for every sample (first included) signed varint deltas and the BE64
/// value bits.
#[test]
fn samples_record_layout() {
    let mut buf = Vec::new();
    encode_samples(
        &[
            RefSample {
                series_ref: 5,
                st: 0,
                t: 1000,
                v: 1.0,
            },
            RefSample {
                series_ref: 4,
                st: 0,
                t: 999,
                v: 2.0,
            },
        ],
        &mut buf,
    );
    let mut want = vec![2u8];
    want.extend_from_slice(&5u64.to_be_bytes());
    want.extend_from_slice(&1000u64.to_be_bytes());
    want.extend_from_slice(&[0, 0]);
    want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
    want.extend_from_slice(&[1, 1]); // zigzag(-1) = 1
    want.extend_from_slice(&2.0f64.to_bits().to_be_bytes());
    assert_eq!(buf, want);
}

#[test]
fn typed_errors_on_bad_records() {
    let mut out = Vec::new();
    assert!(matches!(
        decode_series(&[2], &mut out),
        Err(RecordError::WrongType { found: 2, .. })
    ));
    // Label count far beyond the bytes present.
    let mut rec = vec![1u8];
    rec.extend_from_slice(&7u64.to_be_bytes());
    rec.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(matches!(
        decode_series(&rec, &mut out),
        Err(RecordError::BadLength { .. })
    ));
    let mut s = Vec::new();
    assert!(matches!(
        decode_samples(&[2, 0, 0, 0], &mut s),
        Err(RecordError::Truncated { .. })
    ));
    // Invalid UTF-8 label value.
    let mut rec = vec![1u8];
    rec.extend_from_slice(&7u64.to_be_bytes());
    rec.extend_from_slice(&[1, 1, b'a', 1, 0xff]);
    assert!(matches!(
        decode_series(&rec, &mut out),
        Err(RecordError::InvalidUtf8 { .. })
    ));
}
