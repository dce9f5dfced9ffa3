//! The byte layout of a head chunk file, and decoding of its records from a byte slice.
//!
//! A file (`chunks_head/000001`, ...) starts with an 8-byte header: the magic number
//! `0x0130BC91` (big endian), the format version `1` and three zero bytes. Records follow
//! back to back:
//!
//! ```text
//! series ref  u64 BE | min time i64 BE | max time i64 BE | encoding u8 | data length uvarint |
//! data (the chunk, sample count first) | CRC32C of everything before it in the record, BE
//! ```
//!
//! Bit 7 of the encoding byte marks an out-of-order chunk. A file may end in zero bytes (a
//! new file is preallocated with zeros): a record whose series ref and both times are zero,
//! or a tail too short for a record header that is all zeros, ends the file. A chunk is
//! named by `file sequence << 32 | offset of its record`.

use super::ChunksHeadError;

/// Magic number at the start of every head chunk file.
pub const MAGIC_HEAD_CHUNKS: u32 = 0x0130_BC91;
/// The only format version.
pub const FORMAT_V1: u8 = 1;
/// Bytes of the file header (magic, version, padding).
pub const FILE_HEADER_SIZE: usize = 8;
/// A file is not grown beyond this size; the next chunk goes into a new file.
pub const MAX_FILE_SIZE: u64 = 128 * 1024 * 1024;
/// Size a new file is preallocated to (filled with zeros), as Prometheus does on Linux.
pub const PREALLOCATION_SIZE: u64 = 128 * 1024;
/// Encoding bit of an out-of-order chunk.
pub const OUT_OF_ORDER_MASK: u8 = 0b1000_0000;
/// Longest possible record header plus CRC: ref, two times, encoding, a 5-byte length, CRC.
pub const MAX_RECORD_META_SIZE: usize = 8 + 16 + 1 + 5 + 4;

/// Where a chunk lives: `file sequence << 32 | byte offset of its record`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeadChunkRef(pub u64);

impl HeadChunkRef {
    /// The reference of the record at `offset` of file `seq`.
    pub fn new(seq: u32, offset: u32) -> Self {
        HeadChunkRef((u64::from(seq) << 32) | u64::from(offset))
    }

    /// The file sequence number.
    pub fn seq(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The record's byte offset in its file.
    pub fn offset(self) -> u32 {
        self.0 as u32
    }
}

/// One record of a head chunk file, borrowed from the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRecord<'a> {
    /// Where the record starts.
    pub chunk_ref: HeadChunkRef,
    /// The head series the chunk belongs to.
    pub series_ref: u64,
    /// First sample's timestamp.
    pub min_t: i64,
    /// Last sample's timestamp.
    pub max_t: i64,
    /// The chunk encoding byte without the out-of-order bit.
    pub encoding: u8,
    /// Whether the out-of-order bit was set.
    pub out_of_order: bool,
    /// The chunk bytes (its two-byte sample count first).
    pub data: &'a [u8],
}

impl ChunkRecord<'_> {
    /// The sample count from the chunk's first two bytes (what Prometheus reads without
    /// decoding the chunk).
    pub fn num_samples(&self) -> u16 {
        u16::from_be_bytes([self.data[0], self.data[1]])
    }
}

/// Bytes a record of a chunk of `data_len` bytes takes.
pub fn record_size(data_len: usize) -> usize {
    8 + 16 + 1 + uvarint_len(data_len as u64) + data_len + 4
}

fn uvarint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Appends the record of one chunk to `out` (header, data, CRC).
pub fn encode_record(
    out: &mut Vec<u8>,
    series_ref: u64,
    min_t: i64,
    max_t: i64,
    encoding: u8,
    data: &[u8],
) {
    let start = out.len();
    out.extend_from_slice(&series_ref.to_be_bytes());
    out.extend_from_slice(&min_t.to_be_bytes());
    out.extend_from_slice(&max_t.to_be_bytes());
    out.push(encoding);
    let mut len = data.len() as u64;
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(data);
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// The 8-byte file header.
pub fn file_header() -> [u8; FILE_HEADER_SIZE] {
    let mut h = [0u8; FILE_HEADER_SIZE];
    h[..4].copy_from_slice(&MAGIC_HEAD_CHUNKS.to_be_bytes());
    h[4] = FORMAT_V1;
    h
}

/// Checks the header of file `seq`.
pub fn check_header(seq: u32, bytes: &[u8]) -> Result<(), ChunksHeadError> {
    if bytes.len() < FILE_HEADER_SIZE {
        return Err(corrupt(
            seq,
            0,
            format!("file of {} bytes has no header", bytes.len()),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != MAGIC_HEAD_CHUNKS {
        return Err(corrupt(seq, 0, format!("bad magic number {magic:#010x}")));
    }
    if bytes[4] != FORMAT_V1 {
        return Err(corrupt(
            seq,
            4,
            format!("unsupported format version {}", bytes[4]),
        ));
    }
    Ok(())
}

fn corrupt(seq: u32, offset: usize, reason: String) -> ChunksHeadError {
    ChunksHeadError::Corrupt {
        seq,
        offset: offset as u64,
        reason,
    }
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Reads a uvarint of at most 10 bytes from `b`; `None` if it is cut short or too long.
fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return None;
        }
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Decodes the record at `offset` of file `seq` whose readable bytes are `bytes`, checking
/// its CRC. Returns the record and the offset after it.
pub fn decode_record(
    seq: u32,
    bytes: &[u8],
    offset: usize,
) -> Result<(ChunkRecord<'_>, usize), ChunksHeadError> {
    let end = bytes.len();
    if offset < FILE_HEADER_SIZE || offset > end || end - offset < 8 + 16 + 1 + 1 {
        return Err(corrupt(
            seq,
            offset,
            format!("no room for a record header in {end} bytes"),
        ));
    }
    let series_ref = be64(bytes, offset);
    let min_t = be64(bytes, offset + 8) as i64;
    let max_t = be64(bytes, offset + 16) as i64;
    let enc = bytes[offset + 24];
    let len_at = offset + 25;
    let Some((data_len, n)) = uvarint(&bytes[len_at..end.min(len_at + 10)]) else {
        return Err(corrupt(seq, len_at, "bad chunk length".into()));
    };
    let data_at = len_at + n;
    if data_len > (end - data_at) as u64 || end - data_at - (data_len as usize) < 4 {
        return Err(corrupt(
            seq,
            data_at,
            format!(
                "chunk of {data_len} bytes and its CRC overrun the file ({} bytes left)",
                end - data_at
            ),
        ));
    }
    let data_end = data_at + data_len as usize;
    if data_len < 2 {
        return Err(corrupt(seq, data_at, format!("chunk of {data_len} bytes")));
    }
    let want = u32::from_be_bytes([
        bytes[data_end],
        bytes[data_end + 1],
        bytes[data_end + 2],
        bytes[data_end + 3],
    ]);
    let got = crc32c::crc32c(&bytes[offset..data_end]);
    if want != got {
        return Err(corrupt(
            seq,
            offset,
            format!("CRC mismatch: stored {want:#010x}, computed {got:#010x}"),
        ));
    }
    if offset > u32::MAX as usize {
        return Err(corrupt(seq, offset, "offset beyond 4 GiB".into()));
    }
    let rec = ChunkRecord {
        chunk_ref: HeadChunkRef::new(seq, offset as u32),
        series_ref,
        min_t,
        max_t,
        encoding: enc & !OUT_OF_ORDER_MASK,
        out_of_order: enc & OUT_OF_ORDER_MASK != 0,
        data: &bytes[data_at..data_end],
    };
    Ok((rec, data_end + 4))
}

/// Iterates over the records of one file's bytes (header included), stopping at the zero
/// tail. Yields an error at the first damaged record and nothing after it.
pub struct RecordIter<'a> {
    seq: u32,
    bytes: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> RecordIter<'a> {
    /// Iterates over file `seq`, checking its header first.
    pub fn new(seq: u32, bytes: &'a [u8]) -> Self {
        RecordIter {
            seq,
            bytes,
            pos: 0,
            done: false,
        }
    }

    /// Offset where the next record would start (after the last good one once done).
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<ChunkRecord<'a>, ChunksHeadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.pos == 0 {
            if let Err(e) = check_header(self.seq, self.bytes) {
                self.done = true;
                return Some(Err(e));
            }
            self.pos = FILE_HEADER_SIZE;
        }
        let rest = &self.bytes[self.pos..];
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let zero_tail = if rest.len() < MAX_RECORD_META_SIZE {
            rest.iter().all(|&b| b == 0)
        } else {
            rest[..24].iter().all(|&b| b == 0)
        };
        if zero_tail {
            self.done = true;
            return None;
        }
        match decode_record(self.seq, self.bytes, self.pos) {
            Ok((rec, next)) => {
                self.pos = next;
                Some(Ok(rec))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_damage() {
        let mut f = file_header().to_vec();
        let data = [0u8, 3, 9, 9, 9];
        encode_record(&mut f, 7, -5, 100, 1, &data);
        assert_eq!(f.len(), FILE_HEADER_SIZE + record_size(data.len()));
        encode_record(&mut f, 8, 101, 200, 1 | OUT_OF_ORDER_MASK, &data);
        f.extend_from_slice(&[0u8; 100]);
        let recs: Vec<_> = RecordIter::new(3, &f).collect::<Result<_, _>>().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].chunk_ref, HeadChunkRef::new(3, 8));
        assert_eq!(
            (recs[0].series_ref, recs[0].min_t, recs[0].max_t),
            (7, -5, 100)
        );
        assert_eq!(recs[0].num_samples(), 3);
        assert!(recs[1].out_of_order && recs[1].encoding == 1);
        let mut bad = f.clone();
        bad[FILE_HEADER_SIZE + 30] ^= 1;
        let mut it = RecordIter::new(3, &bad);
        assert!(matches!(
            it.next(),
            Some(Err(ChunksHeadError::Corrupt { offset: 8, .. }))
        ));
        assert!(it.next().is_none());
        // A torn record: the first one survives, the second is reported.
        let torn = &f[..FILE_HEADER_SIZE + record_size(5) + 20];
        let mut it = RecordIter::new(3, torn);
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert_eq!(it.position(), FILE_HEADER_SIZE + record_size(5));
    }
}
