//! Fuzz body for the block `tombstones` file decoder.

use std::path::Path;

use tsdb_core::block::Tombstones;

/// Decodes `data` as a tombstones file. Must not panic; a successful decode must re-encode to
/// a file that decodes to the same tombstones (intervals merged, order canonical).
pub fn tombstones(data: &[u8]) {
    let Ok(t) = Tombstones::decode(data, Path::new("fuzz/tombstones")) else {
        return;
    };
    let enc = t.encode();
    let back = Tombstones::decode(&enc, Path::new("fuzz/tombstones"))
        .expect("re-encoded tombstones must decode");
    assert_eq!(back, t, "tombstones round trip changed the content");
    for (r, ivs) in t.iter() {
        assert!(!ivs.is_empty(), "series {r} has an empty interval list");
        for w in ivs.windows(2) {
            assert!(w[0].maxt < w[1].mint, "intervals not sorted/merged for {r}");
        }
    }
}
