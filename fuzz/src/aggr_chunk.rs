//! Thanos aggregate chunks (encoding `0xFF` of downsampled blocks): arbitrary bytes decode or
//! fail with a typed error; what decodes re-encodes to a chunk that decodes the same, and
//! aggregating it to a coarser resolution fails cleanly or succeeds, never panics.

use tsdb_bucket::downsample::aggregate::downsample_aggr;
use tsdb_bucket::downsample::{AggrChunk, AggrType};

/// Decodes `data` as an aggregate chunk, round-trips it, reads every inner chunk and
/// downsamples it to 1 h.
pub fn aggr_chunk(data: &[u8]) {
    let Ok(chunk) = AggrChunk::decode(data) else {
        return;
    };
    let again = chunk.encode();
    assert_eq!(AggrChunk::decode(&again).ok(), Some(chunk));
    for a in AggrType::ALL {
        if let Some(p) = chunk.get(a) {
            if let Ok(mut it) = chunkenc::iter(p.encoding, p.data) {
                while let Ok(Some(_)) = it.next() {}
            }
        }
    }
    let _ = chunk.num_samples();
    let _ = downsample_aggr(&[chunk], 0, 3_600_000, 300_000, 3_600_000);
}
