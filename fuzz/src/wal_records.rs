//! Fuzz body for the WAL record decoders: any bytes decode to a typed error or to entries
//! that re-encode and decode to the same entries.

use tsdb_core::record::*;

/// Decodes `data` as a WAL record of its type; a successful decode must survive a re-encode.
pub fn wal_records(data: &[u8]) {
    match RecordType::of(data) {
        Some(RecordType::Series) => {
            let mut v = Vec::new();
            if decode_series(data, &mut v).is_ok() {
                let mut buf = Vec::new();
                encode_series(&v, &mut buf);
                let mut w = Vec::new();
                decode_series(&buf, &mut w).expect("re-encoded series decode");
                assert_eq!(v, w);
            }
        }
        Some(RecordType::Samples) | Some(RecordType::SamplesV2) => {
            let mut v = Vec::new();
            if decode_samples(data, &mut v).is_ok() {
                let mut buf = Vec::new();
                encode_samples_v2(&v, &mut buf);
                let mut w = Vec::new();
                decode_samples(&buf, &mut w).expect("re-encoded samples decode");
                assert_eq!(v.len(), w.len());
                for (a, b) in v.iter().zip(&w) {
                    assert_eq!(
                        (a.series_ref, a.st, a.t, a.v.to_bits()),
                        (b.series_ref, b.st, b.t, b.v.to_bits())
                    );
                }
            }
        }
        Some(RecordType::Tombstones) => {
            let mut v = Vec::new();
            if decode_tombstones(data, &mut v).is_ok() {
                let mut buf = Vec::new();
                encode_tombstones(&v, &mut buf);
                assert_eq!(buf, data, "tombstones re-encode byte-identically");
            }
        }
        Some(RecordType::MmapMarkers) => {
            let mut v = Vec::new();
            if decode_mmap_markers(data, &mut v).is_ok() {
                let mut buf = Vec::new();
                encode_mmap_markers(&v, &mut buf);
                assert_eq!(buf, data, "markers re-encode byte-identically");
            }
        }
        Some(RecordType::Metadata) => {
            let mut v = Vec::new();
            if decode_metadata(data, &mut v).is_ok() {
                let mut buf = Vec::new();
                encode_metadata(&v, &mut buf);
                let mut w = Vec::new();
                decode_metadata(&buf, &mut w).expect("re-encoded metadata decode");
                assert_eq!(v, w);
            }
        }
        Some(RecordType::Exemplars) => {
            let mut v = Vec::new();
            if decode_exemplars(data, &mut v).is_ok() {
                let mut buf = Vec::new();
                encode_exemplars(&v, &mut buf);
                let mut w = Vec::new();
                decode_exemplars(&buf, &mut w).expect("re-encoded exemplars decode");
                assert_eq!(v.len(), w.len());
            }
        }
        Some(
            RecordType::HistogramSamples
            | RecordType::CustomBucketsHistogramSamples
            | RecordType::HistogramSamplesV2,
        ) => {
            let mut v = Vec::new();
            if decode_histogram_samples(data, &mut v).is_ok() {
                let mut buf = Vec::new();
                encode_histogram_samples_v2(&v, &mut buf);
                let mut w = Vec::new();
                decode_histogram_samples(&buf, &mut w).expect("re-encoded histograms decode");
                assert_eq!(v.len(), w.len());
            }
        }
        Some(
            RecordType::FloatHistogramSamples
            | RecordType::CustomBucketsFloatHistogramSamples
            | RecordType::FloatHistogramSamplesV2,
        ) => {
            let mut v = Vec::new();
            if decode_float_histogram_samples(data, &mut v).is_ok() {
                let mut buf = Vec::new();
                encode_float_histogram_samples_v2(&v, &mut buf);
                let mut w = Vec::new();
                decode_float_histogram_samples(&buf, &mut w)
                    .expect("re-encoded float histograms decode");
                assert_eq!(v.len(), w.len());
            }
        }
        None => {
            assert!(decode_series(data, &mut Vec::new()).is_err());
            assert!(decode_samples(data, &mut Vec::new()).is_err());
        }
    }
}
