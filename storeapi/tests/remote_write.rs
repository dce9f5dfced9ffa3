//! Remote-write decoding against requests a real Prometheus 3.5 sent (shared fixtures), plus
//! malformed inputs that must yield typed errors.

use std::collections::HashMap;
use std::path::PathBuf;

use prost::Message;
use storeapi::prompb::{self, write_v2};
use storeapi::{
    check_content_encoding, decode_write_request, decode_write_request_with,
    protocol_from_content_type, DecodeOptions, ProtocolVersion, RemoteWriteError,
};

fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

fn fixture_dir() -> PathBuf {
    let dir = shared_dir().join("fixtures/remote-write");
    assert!(
        dir.join("prometheus-local.dump").is_file(),
        "fixture dir {} missing: set SHARED_DIR to the shared directory",
        dir.display()
    );
    dir
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Parses a Go `%g` float as promtool prints it.
fn parse_go_float(s: &str) -> f64 {
    match s {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => s
            .parse()
            .unwrap_or_else(|e| panic!("bad value {s:?} in dump: {e}")),
    }
}

/// `{labels} value timestamp` lines keyed by (labels, timestamp).
fn load_dump(dir: &std::path::Path) -> HashMap<(String, i64), f64> {
    let text = std::fs::read_to_string(dir.join("prometheus-local.dump")).unwrap();
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (rest, ts) = line.rsplit_once(' ').unwrap();
        let (labels, value) = rest.rsplit_once(' ').unwrap();
        out.insert(
            (labels.to_string(), ts.parse::<i64>().unwrap()),
            parse_go_float(value),
        );
    }
    out
}

#[test]
fn every_fixture_request_decodes_and_matches_local_storage() {
    let dir = fixture_dir();
    let dump = load_dump(&dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    let (mut v1_files, mut v2_files, mut checked) = (0, 0, 0usize);
    for bin in &files {
        let headers = std::fs::read_to_string(bin.with_extension("headers")).unwrap();
        let ct = header(&headers, "Content-Type").expect("Content-Type header");
        check_content_encoding(header(&headers, "Content-Encoding").unwrap_or("")).unwrap();
        let version = protocol_from_content_type(ct).unwrap();
        let name = bin.file_name().unwrap().to_string_lossy().to_string();
        match version {
            ProtocolVersion::V1 => {
                assert!(name.starts_with("v1-"), "{name}: {ct}");
                v1_files += 1;
            }
            ProtocolVersion::V2 => {
                assert!(name.starts_with("v2-"), "{name}: {ct}");
                v2_files += 1;
            }
        }
        let body = std::fs::read(bin).unwrap();
        let decoded =
            decode_write_request(&body, version).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded.version, version);
        assert!(decoded.num_samples() > 0, "{name}: no samples");
        for s in &decoded.series {
            let key = s.labels.to_string();
            for &(t, v) in &s.samples {
                let stored = *dump
                    .get(&(key.clone(), t))
                    .unwrap_or_else(|| panic!("{name}: {key} @ {t} not in local storage"));
                assert!(
                    stored.to_bits() == v.to_bits() || (stored.is_nan() && v.is_nan()),
                    "{name}: {key} @ {t}: sent {v:?}, stored {stored:?}"
                );
                checked += 1;
            }
        }
        if version == ProtocolVersion::V2 {
            // v2 carries metadata inline; Prometheus sends a type for scraped series.
            assert!(
                decoded.series.iter().any(|s| s.metadata.is_some()),
                "{name}: no v2 metadata"
            );
        }
    }
    assert!(v1_files > 0 && v2_files > 0, "need both v1 and v2 fixtures");
    assert!(checked > 1000, "only {checked} samples checked");
}

#[test]
fn content_type_negotiation() {
    use ProtocolVersion::*;
    assert_eq!(protocol_from_content_type("").unwrap(), V1);
    assert_eq!(
        protocol_from_content_type("application/x-protobuf").unwrap(),
        V1
    );
    assert_eq!(
        protocol_from_content_type("application/x-protobuf;proto=prometheus.WriteRequest").unwrap(),
        V1
    );
    assert_eq!(
        protocol_from_content_type("application/x-protobuf; proto=io.prometheus.write.v2.Request")
            .unwrap(),
        V2
    );
    assert!(matches!(
        protocol_from_content_type("application/json"),
        Err(RemoteWriteError::UnsupportedContentType(_))
    ));
    assert!(matches!(
        protocol_from_content_type("application/x-protobuf;proto=foo.Bar"),
        Err(RemoteWriteError::UnsupportedProtoMessage(m)) if m == "foo.Bar"
    ));
    assert!(matches!(
        protocol_from_content_type("application/x-protobuf;proto"),
        Err(RemoteWriteError::UnsupportedContentType(_))
    ));
    check_content_encoding("snappy").unwrap();
    check_content_encoding("").unwrap();
    assert!(matches!(
        check_content_encoding("gzip"),
        Err(RemoteWriteError::UnsupportedContentEncoding(_))
    ));
}

fn compress(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

fn v2_request(symbols: &[&str], refs: Vec<u32>) -> Vec<u8> {
    let req = write_v2::Request {
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        timeseries: vec![write_v2::TimeSeries {
            labels_refs: refs,
            samples: vec![write_v2::Sample {
                value: 1.5,
                timestamp: 7,
                start_timestamp: 0,
            }],
            ..Default::default()
        }],
    };
    compress(&req.encode_to_vec())
}

fn v1_request(labels: &[(&str, &str)]) -> Vec<u8> {
    let req = prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| prompb::Label {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: vec![prompb::Sample {
                value: 2.0,
                timestamp: 3,
            }],
            ..Default::default()
        }],
        metadata: vec![],
    };
    compress(&req.encode_to_vec())
}

#[test]
fn v2_symbols_resolve_and_bad_refs_are_typed_errors() {
    let syms = ["", "__name__", "up", "job", "api"];
    let ok =
        decode_write_request(&v2_request(&syms, vec![3, 4, 1, 2]), ProtocolVersion::V2).unwrap();
    assert_eq!(
        ok.series[0].labels.to_string(),
        r#"{__name__="up", job="api"}"#
    );
    assert_eq!(ok.series[0].samples, vec![(7, 1.5)]);

    let err = decode_write_request(&v2_request(&syms, vec![1, 2, 3, 99]), ProtocolVersion::V2)
        .unwrap_err();
    assert!(
        matches!(
            err,
            RemoteWriteError::SymbolOutOfRange {
                reference: 99,
                len: 5,
                ..
            }
        ),
        "{err}"
    );
    let err =
        decode_write_request(&v2_request(&syms, vec![1, 2, 3]), ProtocolVersion::V2).unwrap_err();
    assert!(
        matches!(err, RemoteWriteError::OddLabelRefs { len: 3, .. }),
        "{err}"
    );
    let err =
        decode_write_request(&v2_request(&syms, vec![3, 4]), ProtocolVersion::V2).unwrap_err();
    assert!(
        matches!(err, RemoteWriteError::MissingMetricName { .. }),
        "{err}"
    );
}

#[test]
fn v1_label_validation() {
    let ok = decode_write_request(
        &v1_request(&[("job", "a"), ("__name__", "m"), ("empty", "")]),
        ProtocolVersion::V1,
    )
    .unwrap();
    // Unsorted input is sorted; empty values mean "absent".
    assert_eq!(
        ok.series[0].labels.to_string(),
        r#"{__name__="m", job="a"}"#
    );
    let err = decode_write_request(
        &v1_request(&[("__name__", "m"), ("job", "a"), ("job", "b")]),
        ProtocolVersion::V1,
    )
    .unwrap_err();
    assert!(
        matches!(&err, RemoteWriteError::DuplicateLabelName { name, .. } if name == "job"),
        "{err}"
    );
    let err = decode_write_request(
        &v1_request(&[("__name__", "m"), ("", "x")]),
        ProtocolVersion::V1,
    )
    .unwrap_err();
    assert!(
        matches!(err, RemoteWriteError::EmptyLabelName { .. }),
        "{err}"
    );
    let err = decode_write_request(&v1_request(&[("job", "a")]), ProtocolVersion::V1).unwrap_err();
    assert!(
        matches!(err, RemoteWriteError::MissingMetricName { .. }),
        "{err}"
    );
}

#[test]
fn v1_histograms_convert_and_inconsistent_ones_fail() {
    use prompb::histogram::{Count, ZeroCount};
    let h = prompb::Histogram {
        count: Some(Count::CountInt(5)),
        sum: 12.5,
        schema: 1,
        zero_threshold: 0.001,
        zero_count: Some(ZeroCount::ZeroCountInt(1)),
        positive_spans: vec![prompb::BucketSpan {
            offset: 0,
            length: 2,
        }],
        positive_deltas: vec![3, -2],
        reset_hint: 2,
        timestamp: 42,
        ..Default::default()
    };
    let mk = |h: prompb::Histogram| {
        let req = prompb::WriteRequest {
            timeseries: vec![prompb::TimeSeries {
                labels: vec![prompb::Label {
                    name: "__name__".into(),
                    value: "h".into(),
                }],
                histograms: vec![h],
                ..Default::default()
            }],
            metadata: vec![],
        };
        decode_write_request(&compress(&req.encode_to_vec()), ProtocolVersion::V1)
    };
    let d = mk(h.clone()).unwrap();
    let (t, v) = &d.series[0].histograms[0];
    assert_eq!(*t, 42);
    match v {
        storeapi::HistogramSample::Int(h) => {
            assert_eq!((h.count, h.zero_count, h.schema), (5, 1, 1));
            assert_eq!(h.positive_buckets, vec![3, -2]);
            assert_eq!(
                h.counter_reset_hint,
                chunkenc::CounterResetHint::NotCounterReset
            );
        }
        other => panic!("expected integer histogram, got {other:?}"),
    }
    let mut bad = h.clone();
    bad.positive_deltas.push(1);
    assert!(matches!(
        mk(bad),
        Err(RemoteWriteError::InvalidHistogram { .. })
    ));
    let mut float = h;
    float.count = Some(Count::CountFloat(5.0));
    assert!(matches!(
        mk(float),
        Err(RemoteWriteError::InvalidHistogram { .. })
    ));
}

#[test]
fn garbage_inputs_are_typed_errors() {
    // Not snappy at all (a varint length that overflows).
    let err = decode_write_request(&[0xff; 16], ProtocolVersion::V1).unwrap_err();
    assert!(matches!(err, RemoteWriteError::Snappy(_)), "{err}");
    // Valid snappy header, truncated stream.
    let mut good = v1_request(&[("__name__", "m")]);
    good.truncate(good.len() - 3);
    let err = decode_write_request(&good, ProtocolVersion::V1).unwrap_err();
    assert!(matches!(err, RemoteWriteError::Snappy(_)), "{err}");
    // Valid snappy around garbage protobuf.
    let body = compress(&[0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]);
    for v in [ProtocolVersion::V1, ProtocolVersion::V2] {
        let err = decode_write_request(&body, v).unwrap_err();
        assert!(matches!(err, RemoteWriteError::Protobuf { .. }), "{err}");
    }
    // Invalid UTF-8 in a label name.
    let mut raw = prompb::WriteRequest::default();
    raw.timeseries.push(prompb::TimeSeries::default());
    let mut bytes = Vec::new();
    // timeseries{labels{name: "\xff"}}
    bytes.extend_from_slice(&[0x0a, 5, 0x0a, 3, 0x0a, 1, 0xff]);
    let err = decode_write_request(&compress(&bytes), ProtocolVersion::V1).unwrap_err();
    assert!(matches!(err, RemoteWriteError::Protobuf { .. }), "{err}");
    // Oversized: a header announcing 1 GiB is rejected before allocating.
    let mut huge = Vec::new();
    let mut n: u64 = 1 << 30;
    while n >= 0x80 {
        huge.push((n as u8) | 0x80);
        n >>= 7;
    }
    huge.push(n as u8);
    huge.extend_from_slice(&[0; 8]);
    let err = decode_write_request(&huge, ProtocolVersion::V1).unwrap_err();
    assert!(
        matches!(err, RemoteWriteError::TooLarge { len, .. } if len == 1 << 30),
        "{err}"
    );
    // A configured limit applies to real bodies too.
    let body = v1_request(&[("__name__", "m")]);
    let err = decode_write_request_with(
        &body,
        ProtocolVersion::V1,
        &DecodeOptions {
            max_decompressed_len: 4,
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, RemoteWriteError::TooLarge { limit: 4, .. }),
        "{err}"
    );
}
