//! Chunk segment files: `<block>/chunks/000001`, `000002`, ...
//!
//! Format (little of it, all of it matters):
//! ```text
//! header:  magic 0x85BD40DD (BE32) | version 1 (1 byte) | 3 zero bytes
//! records: len (uvarint, at most 5 bytes, length of data) | encoding (1 byte) | data |
//!          CRC32-Castagnoli over encoding+data (BE32)
//! ```
//! A chunk reference is `segment_index << 32 | offset`, where `segment_index` is the 0-based
//! position of the file among the block's segment files in name order and `offset` points at
//! the record's `len`. Writers start a new segment when a record would push the current one past
//! [`DEFAULT_SEGMENT_SIZE`] (a single oversized chunk still goes in an empty segment).
//!
//! The reader memory-maps every segment and hands out chunk bytes borrowed from the map.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use std::sync::Arc;
use tsdb_index::lazy::RangeLoader;

use super::error::BlockError;
use super::fsutil;

/// Magic number at the start of every chunk segment file.
pub const SEGMENT_MAGIC: u32 = 0x85BD_40DD;
/// Segment format version.
pub const SEGMENT_VERSION: u8 = 1;
/// Size of the segment header.
pub const SEGMENT_HEADER_SIZE: usize = 8;
/// Default maximum size of one segment file (512 MiB).
pub const DEFAULT_SEGMENT_SIZE: u64 = 512 * 1024 * 1024;
/// The `len` field is a uvarint of at most this many bytes (a 32-bit length).
const MAX_LEN_FIELD: usize = 5;
const CRC_LEN: usize = 4;

/// Name of the chunks directory inside a block.
pub const CHUNKS_DIRNAME: &str = "chunks";

/// Builds a block chunk reference.
pub fn chunk_ref(segment_index: u32, offset: u32) -> u64 {
    (u64::from(segment_index) << 32) | u64::from(offset)
}

/// The path of segment file `seq` (1-based) in a chunks directory.
pub fn segment_path(chunks_dir: &Path, seq: u32) -> PathBuf {
    chunks_dir.join(format!("{seq:06}"))
}

/// One chunk as stored: its encoding byte and data, borrowed from the segment map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawChunk<'a> {
    /// Encoding (1 XOR, 2 histogram, 3 float histogram, 4 XOR2, ...).
    pub encoding: u8,
    /// The encoded chunk.
    pub data: &'a [u8],
}

/// Reads a uvarint of at most `max` bytes; `None` if truncated or too long.
pub(crate) fn read_uvarint(buf: &[u8], max: usize) -> Option<(u64, usize)> {
    let mut x: u64 = 0;
    let mut shift = 0u32;
    for (i, &b) in buf.iter().take(max).enumerate() {
        if shift >= 64 {
            return None;
        }
        if b < 0x80 {
            if shift == 63 && b > 1 {
                return None;
            }
            return Some((x | (u64::from(b) << shift), i + 1));
        }
        x |= u64::from(b & 0x7f) << shift;
        shift += 7;
    }
    None
}

/// Appends a uvarint.
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Segment {
    path: PathBuf,
    map: Mmap,
    /// Loads ranges of a lazily filled segment before they are read.
    loader: Option<Arc<dyn RangeLoader>>,
}

/// Memory-mapped reader over a block's chunk segments.
pub struct ChunkReader {
    segments: Vec<Segment>,
    size: u64,
}

impl std::fmt::Debug for ChunkReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkReader")
            .field("segments", &self.segments.len())
            .field("size", &self.size)
            .finish()
    }
}

impl ChunkReader {
    /// Opens every segment file in `chunks_dir` (files named by digits only, in name order) and
    /// validates their headers.
    pub fn open(chunks_dir: &Path) -> Result<Self, BlockError> {
        let entries =
            std::fs::read_dir(chunks_dir).map_err(|e| BlockError::io(chunks_dir, "read dir", e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| BlockError::io(chunks_dir, "read dir", e))?;
            let name = entry.file_name();
            if let Some(s) = name.to_str() {
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    names.push(s.to_string());
                }
            }
        }
        names.sort();
        let segments = names
            .into_iter()
            .map(|name| (chunks_dir.join(name), None))
            .collect();
        Self::open_segments(segments)
    }

    /// Opens lazily filled copies of segment files, in order: each path is a (sparse) file
    /// of the segment's full size whose ranges its loader fills in before they are read.
    pub fn open_lazy(segments: Vec<(PathBuf, Arc<dyn RangeLoader>)>) -> Result<Self, BlockError> {
        Self::open_segments(segments.into_iter().map(|(p, l)| (p, Some(l))).collect())
    }

    fn open_segments(
        paths: Vec<(PathBuf, Option<Arc<dyn RangeLoader>>)>,
    ) -> Result<Self, BlockError> {
        let mut segments = Vec::with_capacity(paths.len());
        let mut size = 0;
        for (path, loader) in paths {
            if let Some(l) = &loader {
                l.load(0, SEGMENT_HEADER_SIZE as u64)
                    .map_err(|e| BlockError::io(&path, "load range", e))?;
            }
            let file = File::open(&path).map_err(|e| BlockError::io(&path, "open", e))?;
            // SAFETY: block files are immutable once the block is visible; nothing truncates
            // them while the block is open (deletion only unlinks).
            let map = unsafe { Mmap::map(&file) }.map_err(|e| BlockError::io(&path, "mmap", e))?;
            if map.len() < SEGMENT_HEADER_SIZE {
                return Err(BlockError::corrupt(
                    &path,
                    "segment header",
                    0,
                    format!("file is {} bytes, shorter than the header", map.len()),
                ));
            }
            let magic = u32::from_be_bytes([map[0], map[1], map[2], map[3]]);
            if magic != SEGMENT_MAGIC {
                return Err(BlockError::corrupt(
                    &path,
                    "segment header",
                    0,
                    format!("invalid magic number {magic:#010x}"),
                ));
            }
            if map[4] != SEGMENT_VERSION {
                return Err(BlockError::corrupt(
                    &path,
                    "segment header",
                    4,
                    format!("unsupported version {}", map[4]),
                ));
            }
            size += map.len() as u64;
            segments.push(Segment { path, map, loader });
        }
        Ok(ChunkReader { segments, size })
    }

    /// Total size of the segment files in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of segment files.
    pub fn num_segments(&self) -> usize {
        self.segments.len()
    }

    /// The chunk at `chunk_ref`, with its CRC verified.
    pub fn chunk(&self, chunk_ref: u64) -> Result<RawChunk<'_>, BlockError> {
        let seg_idx = (chunk_ref >> 32) as usize;
        let off = (chunk_ref & 0xffff_ffff) as usize;
        let Some(seg) = self.segments.get(seg_idx) else {
            return Err(BlockError::Invalid(format!(
                "chunk ref {chunk_ref:#x}: segment index {seg_idx} out of range ({} segments)",
                self.segments.len()
            )));
        };
        let map = &seg.map[..];
        let corrupt = |msg: String| BlockError::corrupt(&seg.path, "chunk", off as u64, msg);
        if let Some(l) = &seg.loader {
            let load = |end: usize| {
                l.load(off as u64, end as u64)
                    .map_err(|e| BlockError::io(&seg.path, "load range", e))
            };
            load(off.saturating_add(MAX_LEN_FIELD))?;
            if let Some((len, n)) = map.get(off..).and_then(|b| read_uvarint(b, MAX_LEN_FIELD)) {
                load(
                    off.saturating_add(n)
                        .saturating_add(len as usize)
                        .saturating_add(1 + CRC_LEN),
                )?;
            }
        }
        if off < SEGMENT_HEADER_SIZE || off >= map.len() {
            return Err(corrupt(format!(
                "offset outside the segment's records (size {})",
                map.len()
            )));
        }
        let (len, n) = read_uvarint(&map[off..], MAX_LEN_FIELD)
            .ok_or_else(|| corrupt("invalid or truncated chunk length".into()))?;
        let start = off + n;
        let len = usize::try_from(len).map_err(|_| corrupt("chunk length overflow".into()))?;
        let end = start
            .checked_add(1 + len + CRC_LEN)
            .filter(|&e| e <= map.len())
            .ok_or_else(|| {
                corrupt(format!(
                    "chunk of {len} bytes extends past the end of the segment (size {})",
                    map.len()
                ))
            })?;
        let body = &map[start..start + 1 + len];
        let crc_at = start + 1 + len;
        let want = u32::from_be_bytes([
            map[crc_at],
            map[crc_at + 1],
            map[crc_at + 2],
            map[crc_at + 3],
        ]);
        let got = crc32c::crc32c(body);
        if got != want {
            return Err(corrupt(format!(
                "checksum mismatch: stored {want:#010x}, computed {got:#010x}"
            )));
        }
        debug_assert_eq!(end, crc_at + CRC_LEN);
        Ok(RawChunk {
            encoding: body[0],
            data: &body[1..],
        })
    }
}

/// Writes chunk records into numbered segment files.
pub struct ChunkWriter {
    dir: PathBuf,
    segment_size: u64,
    seq: u32,
    file: Option<(PathBuf, BufWriter<File>)>,
    pos: u64,
    written: Vec<PathBuf>,
    scratch: Vec<u8>,
}

impl ChunkWriter {
    /// Creates `chunks_dir` (if needed) and a writer with the default segment size.
    pub fn new(chunks_dir: &Path) -> Result<Self, BlockError> {
        Self::with_segment_size(chunks_dir, DEFAULT_SEGMENT_SIZE)
    }

    /// Like [`ChunkWriter::new`] with a custom maximum segment size (tests use small ones).
    pub fn with_segment_size(chunks_dir: &Path, segment_size: u64) -> Result<Self, BlockError> {
        std::fs::create_dir_all(chunks_dir)
            .map_err(|e| BlockError::io(chunks_dir, "create dir", e))?;
        Ok(ChunkWriter {
            dir: chunks_dir.to_path_buf(),
            segment_size: segment_size.max(SEGMENT_HEADER_SIZE as u64 + 1),
            seq: 0,
            file: None,
            pos: 0,
            written: Vec::new(),
            scratch: Vec::with_capacity(64),
        })
    }

    fn finish_segment(&mut self) -> Result<(), BlockError> {
        if let Some((path, mut w)) = self.file.take() {
            w.flush().map_err(|e| BlockError::io(&path, "write", e))?;
            let f = w
                .into_inner()
                .map_err(|e| BlockError::io(&path, "write", e.into_error()))?;
            f.sync_all()
                .map_err(|e| BlockError::io(&path, "fsync", e))?;
            self.written.push(path);
        }
        Ok(())
    }

    fn cut_segment(&mut self) -> Result<(), BlockError> {
        self.finish_segment()?;
        self.seq += 1;
        let path = segment_path(&self.dir, self.seq);
        let f = File::create(&path).map_err(|e| BlockError::io(&path, "create", e))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut header = [0u8; SEGMENT_HEADER_SIZE];
        header[..4].copy_from_slice(&SEGMENT_MAGIC.to_be_bytes());
        header[4] = SEGMENT_VERSION;
        w.write_all(&header)
            .map_err(|e| BlockError::io(&path, "write", e))?;
        self.file = Some((path, w));
        self.pos = SEGMENT_HEADER_SIZE as u64;
        Ok(())
    }

    /// Appends one chunk and returns its reference.
    pub fn write_chunk(&mut self, encoding: u8, data: &[u8]) -> Result<u64, BlockError> {
        if data.len() > u32::MAX as usize {
            return Err(BlockError::Invalid(format!(
                "chunk of {} bytes exceeds the 4 GiB record limit",
                data.len()
            )));
        }
        self.scratch.clear();
        put_uvarint(&mut self.scratch, data.len() as u64);
        let record_len = (self.scratch.len() + 1 + data.len() + CRC_LEN) as u64;
        let needs_cut = match self.file {
            None => true,
            Some(_) => {
                self.pos > SEGMENT_HEADER_SIZE as u64 && self.pos + record_len > self.segment_size
            }
        };
        if needs_cut {
            self.cut_segment()?;
        }
        if self.pos + record_len > u64::from(u32::MAX) {
            return Err(BlockError::Invalid(
                "chunk offset would not fit in a 32-bit reference".into(),
            ));
        }
        let reference = chunk_ref(self.seq - 1, self.pos as u32);
        let mut crc = crc32c::crc32c(&[encoding]);
        crc = crc32c::crc32c_append(crc, data);
        let (path, w) = self.file.as_mut().expect("segment opened above");
        let io = |e| BlockError::io(path, "write", e);
        w.write_all(&self.scratch).map_err(io)?;
        w.write_all(&[encoding]).map_err(io)?;
        w.write_all(data).map_err(io)?;
        w.write_all(&crc.to_be_bytes()).map_err(io)?;
        self.pos += record_len;
        Ok(reference)
    }

    /// Flushes and fsyncs every segment and the chunks directory; returns the segment paths.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, BlockError> {
        self.finish_segment()?;
        fsutil::sync_dir(&self.dir)?;
        Ok(std::mem::take(&mut self.written))
    }
}
