//! Fuzz body for compaction's chunk merging: arbitrary chunk bytes with arbitrary (possibly
//! lying) time ranges, from several blocks, go through the vertical-compaction merge and the
//! tombstone re-encoding. Bad chunks must give an error, never a panic or a hang.
//!
//! Input layout, repeated until the bytes run out: `source` (1 byte, which of three blocks),
//! `encoding` (1 byte), `min_time` delta and `max_time` delta (2 bytes each, big endian,
//! signed, relative to the previous chunk of that block), `len` (2 bytes, big endian), then
//! `len` bytes of chunk data.

use std::borrow::Cow;

use chunkenc::Encoding;
use tsdb_core::block::Interval;
use tsdb_core::compact::merge::{compact_chunk_lists, remove_deleted, SeriesChunk};

fn parse(data: &[u8]) -> Vec<Vec<SeriesChunk<'_>>> {
    let mut lists: Vec<Vec<SeriesChunk<'_>>> = vec![Vec::new(), Vec::new(), Vec::new()];
    let mut last = [0i64; 3];
    let mut pos = 0;
    while pos + 8 <= data.len() {
        let src = usize::from(data[pos]) % 3;
        let Ok(encoding) = Encoding::try_from(data[pos + 1] % 5) else {
            break;
        };
        let d1 = i64::from(i16::from_be_bytes([data[pos + 2], data[pos + 3]]));
        let d2 = i64::from(i16::from_be_bytes([data[pos + 4], data[pos + 5]]));
        let len = usize::from(u16::from_be_bytes([data[pos + 6], data[pos + 7]]));
        pos += 8;
        let end = (pos + len).min(data.len());
        let min_time = last[src] + d1;
        let max_time = min_time + d2;
        last[src] = max_time;
        lists[src].push(SeriesChunk {
            min_time,
            max_time,
            encoding,
            data: Cow::Borrowed(&data[pos..end]),
        });
        pos = end;
    }
    lists.retain(|l| !l.is_empty());
    lists
}

/// Merges the chunk lists encoded in `data` and re-encodes each chunk without a deleted
/// interval. Must not panic.
pub fn compact_chunks(data: &[u8]) {
    let lists = parse(data);
    for list in &lists {
        for c in list {
            let _ = remove_deleted(c, &[Interval::new(c.min_time + 1, c.max_time - 1)]);
        }
    }
    if let Ok(out) = compact_chunk_lists(lists) {
        for c in &out {
            let _ = c.num_samples();
        }
    }
}

/// Encodes chunk lists in this target's input layout (for seeds).
pub fn encode(lists: &[(u8, Encoding, i64, i64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut last = [0i64; 3];
    for (src, enc, mint, maxt, bytes) in lists {
        let s = usize::from(*src) % 3;
        let d1 = (mint - last[s]).clamp(i16::MIN.into(), i16::MAX.into()) as i16;
        let d2 = (maxt - mint).clamp(i16::MIN.into(), i16::MAX.into()) as i16;
        last[s] = last[s] + i64::from(d1) + i64::from(d2);
        out.push(*src);
        out.push(*enc as u8);
        out.extend_from_slice(&d1.to_be_bytes());
        out.extend_from_slice(&d2.to_be_bytes());
        let n = bytes.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(n as u16).to_be_bytes());
        out.extend_from_slice(&bytes[..n]);
    }
    out
}
