//! A local, sparse copy of one object that is filled in pages on first touch, with
//! byte-range reads from the bucket: what lets the bucket store read an index or a chunk
//! segment without downloading it.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tsdb_index::lazy::RangeLoader;

use super::fetch::Fetcher;
use crate::objstore::Bucket;

/// Page size for index files: postings lists and series entries of one query tend to sit
/// together, and the symbol and postings offset tables are read whole at open.
pub const INDEX_PAGE_SIZE: u64 = 32 * 1024;
/// Page size for chunk segments: a query's chunks are scattered (series are ordered by all
/// their labels), and a chunk of 120 samples takes a few hundred bytes.
pub const CHUNKS_PAGE_SIZE: u64 = 16 * 1024;

/// Counters of what the bucket store read from the bucket.
#[derive(Debug, Default)]
pub struct FetchStats {
    /// Range requests sent.
    pub requests: AtomicU64,
    /// Bytes received.
    pub bytes: AtomicU64,
}

/// A sparse local file mirroring one bucket object; see the module docs.
pub struct LazyFile {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    page: u64,
    key: String,
    bucket: Bucket,
    fetcher: Arc<Fetcher>,
    /// One bit per page: present locally.
    present: Mutex<Vec<u64>>,
    stats: Arc<FetchStats>,
}

impl std::fmt::Debug for LazyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyFile")
            .field("key", &self.key)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl LazyFile {
    /// Creates (or empties) the local file `path` with the object's `size`, holding no
    /// data yet: every page of `page` bytes is fetched from `key` when first needed.
    pub fn create(
        path: &Path,
        size: u64,
        page: u64,
        bucket: Bucket,
        key: String,
        fetcher: Arc<Fetcher>,
        stats: Arc<FetchStats>,
    ) -> std::io::Result<LazyFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(size)?;
        let page = page.max(1);
        let pages = size.div_ceil(page);
        Ok(LazyFile {
            path: path.to_path_buf(),
            file,
            size,
            page,
            key,
            bucket,
            fetcher,
            present: Mutex::new(vec![0; pages.div_ceil(64) as usize]),
            stats,
        })
    }

    /// The local path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The object's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Runs of missing pages among `first..=last`, as inclusive page ranges.
    fn missing_runs(&self, first: u64, last: u64) -> Vec<(u64, u64)> {
        let present = self.present.lock().unwrap_or_else(|e| e.into_inner());
        let has = |p: u64| present[(p / 64) as usize] & (1 << (p % 64)) != 0;
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for p in first..=last {
            if has(p) {
                continue;
            }
            match runs.last_mut() {
                Some((_, end)) if *end + 1 == p => *end = p,
                _ => runs.push((p, p)),
            }
        }
        runs
    }

    fn mark_present(&self, first: u64, last: u64) {
        let mut present = self.present.lock().unwrap_or_else(|e| e.into_inner());
        for p in first..=last {
            present[(p / 64) as usize] |= 1 << (p % 64);
        }
    }
}

impl RangeLoader for LazyFile {
    fn load(&self, start: u64, end: u64) -> std::io::Result<()> {
        let end = end.min(self.size);
        if start >= end {
            return Ok(());
        }
        for (first, last) in self.missing_runs(start / self.page, (end - 1) / self.page) {
            let from = first * self.page;
            let to = ((last + 1) * self.page).min(self.size);
            let (bucket, key) = (self.bucket.clone(), self.key.clone());
            let data = self
                .fetcher
                .run(async move { bucket.get_range(&key, from..to).await })?
                .map_err(std::io::Error::other)?;
            if data.len() as u64 != to - from {
                return Err(std::io::Error::other(format!(
                    "{}: asked for bytes {from}..{to}, got {}",
                    self.key,
                    data.len()
                )));
            }
            self.file.write_all_at(&data, from)?;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            self.stats
                .bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            self.mark_present(first, last);
        }
        Ok(())
    }
}
