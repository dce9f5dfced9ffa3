//! Fuzz body for the remote-write request decoder (snappy, protobuf v1/v2, symbol resolution,
//! label validation, histogram conversion).

use storeapi::remote_write::{decode_write_request_with, DecodeOptions, ProtocolVersion};

/// Decompressed-size limit used while fuzzing: small, so that no input allocates much.
const MAX_DECOMPRESSED: usize = 4 << 20;

/// The first byte picks the protocol (bit 0: v2) and whether the rest is a snappy body as sent
/// (bit 1 clear) or a raw protobuf message that is compressed here first (bit 1 set), so that
/// mutations reach the protobuf and validation layers instead of stopping at snappy.
/// Properties checked: no panic; every accepted series has a metric name and sorted, unique,
/// non-empty label names; decoding is deterministic.
pub fn remote_write(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let version = if mode & 1 == 0 {
        ProtocolVersion::V1
    } else {
        ProtocolVersion::V2
    };
    let compressed;
    let body = if mode & 2 == 0 {
        rest
    } else {
        let Ok(c) = snap::raw::Encoder::new().compress_vec(rest) else {
            return;
        };
        compressed = c;
        &compressed
    };
    let opts = DecodeOptions {
        max_decompressed_len: MAX_DECOMPRESSED,
    };
    let Ok(decoded) = decode_write_request_with(body, version, &opts) else {
        return;
    };
    assert_eq!(decoded.version, version);
    for s in &decoded.series {
        assert!(
            s.labels.metric_name().is_some_and(|n| !n.is_empty()),
            "accepted series without metric name"
        );
        let names: Vec<&str> = s.labels.iter().map(|l| l.name).collect();
        assert!(names.iter().all(|n| !n.is_empty()), "empty label name");
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "labels not sorted/unique"
        );
    }
    let again = decode_write_request_with(body, version, &opts).expect("second decode failed");
    assert_eq!(again.series.len(), decoded.series.len());
    for (a, b) in again.series.iter().zip(&decoded.series) {
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.samples.len(), b.samples.len());
        assert_eq!(a.histograms.len(), b.histograms.len());
    }
}
