//! Reading records back from WAL segments, page by page.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::fragment::{FragmentType, SNAPPY_MASK, ZSTD_MASK};
use super::{
    list_segments, CorruptionError, CorruptionKind, Result, SegmentRef, WalError,
    FRAGMENT_HEADER_SIZE, MAX_RECORD_SIZE, PAGE_SIZE,
};

/// Where a segment's bytes come from.
enum Source {
    File(PathBuf),
    Memory(Vec<u8>),
}

/// Reads the records of consecutive segments in order.
///
/// Damage is reported as [`WalError::Corruption`] naming the segment, the offset where it was
/// found and the offset where the damaged record starts (everything before is intact). A last
/// page cut short (a crash mid-write) is read as if zero-padded, as Prometheus does.
///
/// ```no_run
/// # fn main() -> Result<(), tsdb_core::wlog::WalError> {
/// let mut r = tsdb_core::wlog::SegmentReader::open_dir(std::path::Path::new("data/wal"))?;
/// while let Some(rec) = r.next_record()? {
///     println!("record of {} bytes, type {}", rec.len(), rec[0]);
/// }
/// # Ok(()) }
/// ```
pub struct SegmentReader {
    dir: PathBuf,
    segments: Vec<(u64, Source)>,
    /// Position in `segments` of the segment being read.
    cur: usize,
    input: Option<Box<dyn Read + Send>>,
    page: Box<[u8]>,
    /// Read position inside `page`; `PAGE_SIZE` when a new page must be loaded.
    page_pos: usize,
    /// Offset of `page` in its segment.
    page_start: u64,
    /// Whether `page` holds data (false before the first page of a segment is read).
    page_loaded: bool,
    /// Fragments of the record being assembled (compressed form).
    rec: Vec<u8>,
    /// Decompressed record.
    out: Vec<u8>,
    /// Fragments collected for the current record.
    fragments: usize,
    /// Offset in its segment where the record being assembled starts.
    record_start: u64,
    /// End offset of the last complete record, and its segment.
    last_end: u64,
    last_start: u64,
    last_segment: u64,
    done: bool,
}

impl SegmentReader {
    /// Reads every segment of a WAL directory.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let segs = list_segments(dir)?;
        Ok(Self::from_segments(dir, &segs))
    }

    /// Reads the given segments (consecutive, in order) of `dir`.
    pub fn from_segments(dir: &Path, segments: &[SegmentRef]) -> Self {
        let segs = segments
            .iter()
            .map(|s| (s.index, Source::File(s.path.clone())))
            .collect();
        Self::new(dir.to_path_buf(), segs)
    }

    /// Reads one segment held in memory (numbered `index`), e.g. for fuzzing or tests.
    pub fn from_bytes(index: u64, data: Vec<u8>) -> Self {
        Self::new(
            PathBuf::from("<memory>"),
            vec![(index, Source::Memory(data))],
        )
    }

    fn new(dir: PathBuf, segments: Vec<(u64, Source)>) -> Self {
        let first = segments.first().map(|s| s.0).unwrap_or(0);
        SegmentReader {
            dir,
            segments,
            cur: 0,
            input: None,
            page: vec![0u8; PAGE_SIZE].into_boxed_slice(),
            page_pos: PAGE_SIZE,
            page_start: 0,
            page_loaded: false,
            rec: Vec::new(),
            out: Vec::new(),
            fragments: 0,
            record_start: 0,
            last_end: 0,
            last_start: 0,
            last_segment: first,
            done: false,
        }
    }

    /// The segment of the last record returned.
    pub fn segment(&self) -> u64 {
        self.last_segment
    }

    /// The offset where the last record returned starts, in its segment.
    pub fn record_offset(&self) -> u64 {
        self.last_start
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A corruption error for the last record returned (for callers whose decoding of it
    /// failed): repair then drops it and everything after.
    pub fn record_corruption(&self, message: String) -> CorruptionError {
        CorruptionError {
            dir: self.dir.clone(),
            segment: self.last_segment,
            offset: self.last_end,
            record_offset: self.last_start,
            kind: CorruptionKind::Record(message),
        }
    }

    /// The offset just past the last record returned, in its segment.
    pub fn offset(&self) -> u64 {
        self.last_end
    }

    /// The next record, `None` at the end. After an error, further calls return `None`.
    pub fn next_record(&mut self) -> Result<Option<&[u8]>> {
        if self.done {
            return Ok(None);
        }
        match self.advance() {
            Ok(Some(compressed)) => {
                if compressed {
                    Ok(Some(&self.out))
                } else {
                    Ok(Some(&self.rec))
                }
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    fn segment_index(&self) -> u64 {
        self.segments.get(self.cur).map(|s| s.0).unwrap_or(0)
    }

    fn corruption(&self, offset: u64, kind: CorruptionKind) -> WalError {
        WalError::Corruption(CorruptionError {
            dir: self.dir.clone(),
            segment: self.segment_index(),
            offset,
            record_offset: self.record_start,
            kind,
        })
    }

    /// Loads the next page of the current segment. Returns false at the segment's end.
    fn load_page(&mut self) -> Result<bool> {
        if self.input.is_none() {
            let Some((_, src)) = self.segments.get(self.cur) else {
                return Ok(false);
            };
            let input: Box<dyn Read + Send> = match src {
                Source::File(p) => Box::new(File::open(p).map_err(|e| WalError::io(p, e))?),
                Source::Memory(b) => Box::new(std::io::Cursor::new(b.clone())),
            };
            self.input = Some(input);
            self.page_loaded = false;
            self.page_start = 0;
        }
        let input = self.input.as_mut().expect("input opened above");
        let mut n = 0;
        while n < PAGE_SIZE {
            match input.read(&mut self.page[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let path = match &self.segments[self.cur].1 {
                        Source::File(p) => p.clone(),
                        Source::Memory(_) => self.dir.clone(),
                    };
                    return Err(WalError::io(path, e));
                }
            }
        }
        if n == 0 {
            return Ok(false);
        }
        // A torn last page reads as zero padded.
        self.page[n..].fill(0);
        if self.page_loaded {
            self.page_start += PAGE_SIZE as u64;
        }
        self.page_loaded = true;
        self.page_pos = 0;
        Ok(true)
    }

    /// Moves to the next segment; an unfinished record at a segment's end is torn.
    fn next_segment(&mut self) -> Result<bool> {
        if self.fragments > 0 {
            let end = self.page_start + PAGE_SIZE as u64;
            return Err(self.corruption(end, CorruptionKind::TornRecord));
        }
        self.input = None;
        self.page_pos = PAGE_SIZE;
        if self.cur + 1 >= self.segments.len() {
            return Ok(false);
        }
        self.cur += 1;
        self.record_start = 0;
        Ok(true)
    }

    /// Assembles the next record. Returns whether it is compressed (then it is in `out`).
    fn advance(&mut self) -> Result<Option<bool>> {
        self.rec.clear();
        self.fragments = 0;
        loop {
            if (self.input.is_none() || self.page_pos >= PAGE_SIZE) && !self.load_page()? {
                if !self.next_segment()? {
                    return Ok(None);
                }
                continue;
            }
            let pos = self.page_pos;
            let at = self.page_start + pos as u64;
            if self.fragments == 0 {
                self.record_start = at;
            }
            let rest = PAGE_SIZE - pos;
            let hdr = self.page[pos];
            let Some(typ) = FragmentType::from_header(hdr) else {
                return Err(self.corruption(at, CorruptionKind::UnknownFragmentType(hdr)));
            };
            if typ == FragmentType::PageTerm || rest < FRAGMENT_HEADER_SIZE {
                // Padding to the end of the page: it must be all zeros.
                if self.page[pos..].iter().any(|&b| b != 0) {
                    return Err(self.corruption(at, CorruptionKind::NonZeroPadding));
                }
                self.page_pos = PAGE_SIZE;
                continue;
            }
            let len = u16::from_be_bytes([self.page[pos + 1], self.page[pos + 2]]);
            let crc = u32::from_be_bytes(
                self.page[pos + 3..pos + FRAGMENT_HEADER_SIZE]
                    .try_into()
                    .expect("4 bytes"),
            );
            let data_start = pos + FRAGMENT_HEADER_SIZE;
            if len as usize > PAGE_SIZE - data_start {
                return Err(self.corruption(at, CorruptionKind::InvalidLength(len)));
            }
            let data = &self.page[data_start..data_start + len as usize];
            let actual = crc32c::crc32c(data);
            if actual != crc {
                return Err(self.corruption(
                    at,
                    CorruptionKind::Checksum {
                        expected: crc,
                        actual,
                    },
                ));
            }
            let valid = match typ {
                FragmentType::Full | FragmentType::First => self.fragments == 0,
                _ => self.fragments > 0,
            };
            if !valid {
                return Err(self.corruption(
                    at,
                    CorruptionKind::UnexpectedFragment {
                        typ,
                        index: self.fragments,
                    },
                ));
            }
            if self.rec.len() + data.len() > MAX_RECORD_SIZE {
                return Err(self.corruption(at, CorruptionKind::InvalidLength(len)));
            }
            self.rec.extend_from_slice(data);
            self.fragments += 1;
            self.page_pos = data_start + len as usize;
            if !typ.ends_record() {
                continue;
            }
            let end = self.page_start + self.page_pos as u64;
            let compressed = if hdr & SNAPPY_MASK != 0 {
                if let Err(kind) = decompress_snappy(&self.rec, &mut self.out) {
                    return Err(self.corruption(at, kind));
                }
                true
            } else if hdr & ZSTD_MASK != 0 {
                return Err(self.corruption(at, CorruptionKind::UnsupportedCompression(hdr)));
            } else {
                false
            };
            self.last_end = end;
            self.last_start = self.record_start;
            self.last_segment = self.segment_index();
            self.fragments = 0;
            return Ok(Some(compressed));
        }
    }
}

/// Snappy's densest encoding (a 3-byte copy of 64 bytes) expands input about 21-fold, so a
/// claimed length beyond this factor is corrupt and is rejected before allocating.
const SNAPPY_MAX_EXPANSION: usize = 24;

/// Decompresses a snappy block into `out`, bounding the size by what the input can encode.
pub(crate) fn decompress_snappy(
    src: &[u8],
    out: &mut Vec<u8>,
) -> std::result::Result<(), CorruptionKind> {
    let n =
        snap::raw::decompress_len(src).map_err(|e| CorruptionKind::Decompress(e.to_string()))?;
    if n > MAX_RECORD_SIZE || n > src.len().saturating_mul(SNAPPY_MAX_EXPANSION) + 64 {
        return Err(CorruptionKind::Decompress(format!(
            "claimed length {n} is impossible for {} compressed bytes",
            src.len()
        )));
    }
    out.clear();
    out.resize(n, 0);
    let got = snap::raw::Decoder::new()
        .decompress(src, out)
        .map_err(|e| CorruptionKind::Decompress(e.to_string()))?;
    out.truncate(got);
    Ok(())
}
