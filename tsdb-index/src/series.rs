//! Series entries: a series' label set (as symbol references) and its chunk metadata.
//!
//! Layout of an entry, which starts 16-byte aligned in format v2:
//! `len uvarint | label count uvarint | (name ref, value ref uvarint)* | chunk count uvarint |
//! chunk metas | CRC32(everything after len)`. The first chunk meta is
//! `mint varint | maxt-mint uvarint | ref uvarint`; each later one is
//! `mint-prev_maxt uvarint | maxt-mint uvarint | ref-prev_ref varint`.

use crate::encoding::{put_uvarint, put_varint, Decbuf};
use crate::error::DecodeError;

/// Where a chunk of a series lives and which time range it covers (both ends inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChunkMeta {
    /// The chunk reference: segment index << 32 | byte offset in the segment.
    pub chunk_ref: u64,
    /// Timestamp of the first sample, in milliseconds.
    pub min_time: i64,
    /// Timestamp of the last sample, in milliseconds.
    pub max_time: i64,
}

/// Appends the encoded chunk metas (count included) of one series.
pub(crate) fn encode_chunks(buf: &mut Vec<u8>, chunks: &[ChunkMeta]) {
    put_uvarint(buf, chunks.len() as u64);
    let Some(first) = chunks.first() else {
        return;
    };
    put_varint(buf, first.min_time);
    put_uvarint(buf, first.max_time.wrapping_sub(first.min_time) as u64);
    put_uvarint(buf, first.chunk_ref);
    let mut prev_maxt = first.max_time;
    let mut prev_ref = first.chunk_ref as i64;
    for c in &chunks[1..] {
        put_uvarint(buf, c.min_time.wrapping_sub(prev_maxt) as u64);
        put_uvarint(buf, c.max_time.wrapping_sub(c.min_time) as u64);
        put_varint(buf, (c.chunk_ref as i64).wrapping_sub(prev_ref));
        prev_maxt = c.max_time;
        prev_ref = c.chunk_ref as i64;
    }
}

/// Decodes the chunk metas (count included) into `out`, replacing its contents.
pub(crate) fn decode_chunks(
    d: &mut Decbuf<'_>,
    out: &mut Vec<ChunkMeta>,
) -> Result<(), DecodeError> {
    out.clear();
    let at = d.offset();
    let n = d.uvarint()?;
    // Every chunk meta takes at least three bytes: bound the count by what is left.
    if n > (d.remaining() / 3 + 1) as u64 {
        return Err(DecodeError {
            offset: at,
            reason: "chunk count exceeds the entry's size",
        });
    }
    if n == 0 {
        return Ok(());
    }
    out.reserve(n as usize);
    let mint = d.varint()?;
    let maxt = mint.wrapping_add(d.uvarint()? as i64);
    let mut r = d.uvarint()? as i64;
    out.push(ChunkMeta {
        chunk_ref: r as u64,
        min_time: mint,
        max_time: maxt,
    });
    let mut prev_maxt = maxt;
    for _ in 1..n {
        let mint = prev_maxt.wrapping_add(d.uvarint()? as i64);
        let maxt = mint.wrapping_add(d.uvarint()? as i64);
        r = r.wrapping_add(d.varint()?);
        out.push(ChunkMeta {
            chunk_ref: r as u64,
            min_time: mint,
            max_time: maxt,
        });
        prev_maxt = maxt;
    }
    Ok(())
}
