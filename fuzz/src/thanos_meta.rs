//! Thanos `meta.json`, deletion, no-compact and no-downsample marks: arbitrary bytes parse or fail cleanly,
//! and whatever parses survives a write/read round trip unchanged.

use tsdb_bucket::meta::{DeletionMark, NoCompactMark, NoDownsampleMark, ThanosMeta};

/// Parses `data` as each Thanos JSON file; round-trips what parses.
pub fn thanos_meta(data: &[u8]) {
    if let Ok(meta) = ThanosMeta::from_json(data) {
        let again = ThanosMeta::from_json(meta.to_json().as_bytes()).expect("re-read meta");
        assert_eq!(again, meta);
    }
    if let Ok(mark) = DeletionMark::from_json(data) {
        assert_eq!(
            DeletionMark::from_json(mark.to_json().as_bytes()).ok(),
            Some(mark)
        );
    }
    if let Ok(mark) = NoDownsampleMark::from_json(data) {
        assert_eq!(
            NoDownsampleMark::from_json(mark.to_json().as_bytes()).ok(),
            Some(mark)
        );
    }
    if let Ok(mark) = NoCompactMark::from_json(data) {
        assert_eq!(
            NoCompactMark::from_json(mark.to_json().as_bytes()).ok(),
            Some(mark)
        );
    }
}
