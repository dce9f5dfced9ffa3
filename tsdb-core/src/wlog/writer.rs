//! Appending records to the WAL: fragmenting into pages, rotating segments, fsync.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::fragment::{put_header, FragmentType};
use super::{
    list_segments, segment_name, sync_dir, Compression, Result, WalError, DEFAULT_SEGMENT_SIZE,
    FRAGMENT_HEADER_SIZE, MAX_RECORD_SIZE, PAGE_SIZE,
};

/// How a [`WalWriter`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// Maximum segment size in bytes (a multiple of the 32 KiB page size).
    pub segment_size: usize,
    /// Record compression.
    pub compression: Compression,
    /// Whether [`WalWriter::commit`] fsyncs (the default: an acknowledged commit survives a
    /// crash of the machine). Prometheus itself does not fsync per commit (only on segment
    /// rotation and close), so a commit survives a process crash but not a power loss;
    /// `false` gives that behaviour.
    pub sync_on_commit: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            compression: Compression::Snappy,
            sync_on_commit: true,
        }
    }
}

/// Appends records to a WAL directory in Prometheus' format.
///
/// Like Prometheus, opening a WAL starts a fresh segment after the last existing one, so a
/// torn tail left by a crash is never appended to. [`WalWriter::log`] hands records to the
/// operating system (the current page may stay partly filled and is rewritten in place as it
/// grows); [`WalWriter::sync`] makes everything logged so far durable.
///
/// ```
/// # fn main() -> Result<(), tsdb_core::wlog::WalError> {
/// let dir = tempfile::tempdir().unwrap();
/// let mut w = tsdb_core::wlog::WalWriter::open(dir.path(), Default::default())?;
/// w.log(&[b"\x01hello"])?;
/// w.sync()?;
/// w.close()?;
/// let mut r = tsdb_core::wlog::SegmentReader::open_dir(dir.path())?;
/// assert_eq!(r.next_record()?, Some(&b"\x01hello"[..]));
/// # Ok(()) }
/// ```
pub struct WalWriter {
    dir: PathBuf,
    opts: WalOptions,
    file: Arc<File>,
    segment: u64,
    page: Box<[u8]>,
    /// Bytes of `page` filled with fragments.
    alloc: usize,
    /// Bytes of `page` already written to the file.
    flushed: usize,
    /// Pages of the current segment completed on disk.
    done_pages: usize,
    enc: Vec<u8>,
    encoder: snap::raw::Encoder,
}

impl WalWriter {
    /// Opens (creating if needed) the WAL in `dir` and starts a new segment after the last one.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Self> {
        if opts.segment_size == 0
            || opts.segment_size % PAGE_SIZE != 0
            || opts.segment_size > MAX_RECORD_SIZE
        {
            return Err(WalError::InvalidSegmentSize(opts.segment_size));
        }
        std::fs::create_dir_all(dir).map_err(|e| WalError::io(dir, e))?;
        let next = list_segments(dir)?.last().map(|s| s.index + 1).unwrap_or(0);
        let file = Arc::new(create_segment(dir, next)?);
        Ok(WalWriter {
            dir: dir.to_path_buf(),
            opts,
            file,
            segment: next,
            page: vec![0u8; PAGE_SIZE].into_boxed_slice(),
            alloc: 0,
            flushed: 0,
            done_pages: 0,
            enc: Vec::new(),
            encoder: snap::raw::Encoder::new(),
        })
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The index of the segment being written.
    pub fn segment(&self) -> u64 {
        self.segment
    }

    /// The writer's options.
    pub fn options(&self) -> WalOptions {
        self.opts
    }

    /// Appends records in order; they reach the OS but are durable only after [`Self::sync`].
    pub fn log(&mut self, records: &[&[u8]]) -> Result<()> {
        for (i, rec) in records.iter().enumerate() {
            self.log_one(rec, i + 1 == records.len())?;
        }
        Ok(())
    }

    /// Appends records and (with [`WalOptions::sync_on_commit`], the default) fsyncs: when
    /// this returns `Ok`, they survive a crash.
    pub fn commit(&mut self, records: &[&[u8]]) -> Result<()> {
        self.log(records)?;
        if self.opts.sync_on_commit {
            self.sync()?;
        }
        Ok(())
    }

    /// Makes every logged record durable.
    pub fn sync(&mut self) -> Result<()> {
        let path = segment_name(&self.dir, self.segment);
        self.file.sync_data().map_err(|e| WalError::io(path, e))
    }

    /// The current segment file, to fsync it without holding the writer (group commit):
    /// every record logged so far is either in it or in an older segment, which was synced
    /// when the writer moved on.
    pub fn segment_file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// Finishes the current segment (zero-padding its last page) and starts the next one.
    /// Returns the new segment's index.
    pub fn next_segment(&mut self) -> Result<u64> {
        if self.alloc > 0 {
            self.flush_page(true)?;
        }
        self.sync()?;
        let next = self.segment + 1;
        self.file = Arc::new(create_segment(&self.dir, next)?);
        self.segment = next;
        self.done_pages = 0;
        Ok(next)
    }

    /// Removes every segment numbered below `index` (after a checkpoint covers them).
    pub fn truncate(&mut self, index: u64) -> Result<()> {
        for s in list_segments(&self.dir)? {
            if s.index >= index || s.index >= self.segment {
                break;
            }
            std::fs::remove_file(&s.path).map_err(|e| WalError::io(&s.path, e))?;
        }
        sync_dir(&self.dir)
    }

    /// Pads the current page, fsyncs and closes the WAL.
    pub fn close(mut self) -> Result<()> {
        if self.alloc > 0 {
            self.flush_page(true)?;
        }
        self.sync()
    }

    fn page_full(&self) -> bool {
        PAGE_SIZE - self.alloc < FRAGMENT_HEADER_SIZE
    }

    fn pages_per_segment(&self) -> usize {
        self.opts.segment_size / PAGE_SIZE
    }

    /// Writes the unwritten part of the page; with `clear`, pads it to its end and starts a
    /// new page.
    fn flush_page(&mut self, clear: bool) -> Result<()> {
        let clear = clear || self.page_full();
        if clear {
            self.page[self.alloc..].fill(0);
            self.alloc = PAGE_SIZE;
        }
        if let Err(e) = (&*self.file).write_all(&self.page[self.flushed..self.alloc]) {
            return Err(WalError::io(segment_name(&self.dir, self.segment), e));
        }
        self.flushed = self.alloc;
        if clear {
            self.alloc = 0;
            self.flushed = 0;
            self.done_pages += 1;
        }
        Ok(())
    }

    fn log_one(&mut self, rec: &[u8], last: bool) -> Result<()> {
        if self.page_full() {
            self.flush_page(true)?;
        }
        let mut enc = std::mem::take(&mut self.enc);
        let mut snappy = false;
        if self.opts.compression == Compression::Snappy {
            enc.resize(snap::raw::max_compress_len(rec.len()), 0);
            match self.encoder.compress(rec, &mut enc) {
                Ok(n) if n < rec.len() => {
                    enc.truncate(n);
                    snappy = true;
                }
                // No saving (or an encoder failure): store the record as it is.
                _ => {}
            }
        }
        let result = self.write_fragments(if snappy { &enc } else { rec }, snappy, last);
        enc.clear();
        self.enc = enc;
        result
    }

    fn write_fragments(&mut self, mut data: &[u8], snappy: bool, last: bool) -> Result<()> {
        let free_pages = self.pages_per_segment().saturating_sub(self.done_pages + 1);
        let left = (PAGE_SIZE - self.alloc).saturating_sub(FRAGMENT_HEADER_SIZE)
            + (PAGE_SIZE - FRAGMENT_HEADER_SIZE) * free_pages;
        if data.len() > left {
            let capacity = (PAGE_SIZE - FRAGMENT_HEADER_SIZE) * self.pages_per_segment();
            if data.len() > capacity {
                return Err(WalError::RecordTooLarge {
                    size: data.len(),
                    segment_size: self.opts.segment_size,
                });
            }
            self.next_segment()?;
        }
        let mut first = true;
        while first || !data.is_empty() {
            let room = PAGE_SIZE - self.alloc - FRAGMENT_HEADER_SIZE;
            let n = data.len().min(room);
            let (part, rest) = data.split_at(n);
            let typ = match (first, rest.is_empty()) {
                (true, true) => FragmentType::Full,
                (true, false) => FragmentType::First,
                (false, true) => FragmentType::Last,
                (false, false) => FragmentType::Middle,
            };
            let at = self.alloc;
            put_header(
                &mut self.page[at..at + FRAGMENT_HEADER_SIZE],
                typ,
                snappy,
                part,
            );
            self.page[at + FRAGMENT_HEADER_SIZE..at + FRAGMENT_HEADER_SIZE + n]
                .copy_from_slice(part);
            self.alloc += FRAGMENT_HEADER_SIZE + n;
            if self.page_full() {
                self.flush_page(true)?;
            }
            data = rest;
            first = false;
        }
        if last && self.alloc > 0 {
            self.flush_page(false)?;
        }
        Ok(())
    }
}

fn create_segment(dir: &Path, index: u64) -> Result<File> {
    let path = segment_name(dir, index);
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| WalError::io(&path, e))?;
    sync_dir(dir)?;
    Ok(f)
}
