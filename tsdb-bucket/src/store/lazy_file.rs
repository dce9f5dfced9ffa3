//! A local, sparse copy of one object that is filled on first touch, with byte-range reads
//! from the bucket: what lets the bucket store read an index or a chunk segment without
//! downloading it.
//!
//! Which bytes are present is tracked per byte range. A miss is widened to whole pages and
//! the missing runs of one read are fetched concurrently, runs closer than a maximum gap
//! being merged into one request (Thanos' gap-based partitioner). With a cache
//! ([`super::cache`]), a miss first asks the cache: for an index, for the postings list or
//! series entry that starts where the reader reads (Thanos' index cache items); for a chunk
//! segment, for the fixed sub-ranges (pages) covering the read (Thanos' chunks caching
//! bucket). What came from the bucket is stored in the cache for the next reader.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tsdb_index::lazy::RangeLoader;
use ulid::Ulid;

use super::cache::{postings_key, series_key, subrange_key, ItemCache, ItemKind};
use super::fetch::Fetcher;
use crate::objstore::Bucket;

/// Page size for index files: postings lists and series entries of one query tend to sit
/// together.
pub const INDEX_PAGE_SIZE: u64 = 32 * 1024;
/// Page size for chunk segments, which is also the cached sub-range: Thanos' default
/// `chunk_subrange_size`.
pub const CHUNKS_PAGE_SIZE: u64 = 16_000;
/// Runs of missing pages at most this far apart are fetched with one request (Thanos'
/// partitioner gap for chunks).
pub const DEFAULT_MAX_GAP: u64 = 512 * 1024;

/// Counters of what the bucket store read from the bucket.
#[derive(Debug, Default)]
pub struct FetchStats {
    /// Range requests sent.
    pub requests: AtomicU64,
    /// Bytes received.
    pub bytes: AtomicU64,
}

/// What of a file is cached, and how it is keyed.
#[derive(Debug, Clone)]
pub enum CachePolicy {
    /// Nothing.
    None,
    /// A block's index: postings lists and series entries, each keyed by its offset.
    IndexItems {
        /// The block.
        block: Ulid,
        /// The series section, `[TOC.series, TOC.label_indices)`.
        series: Range<u64>,
        /// The postings lists, `[TOC.postings, TOC.label_indices_table)`.
        postings: Range<u64>,
    },
    /// A chunk segment: its pages, keyed by object and byte range.
    Subranges,
}

/// A set of disjoint, non-adjacent byte ranges.
#[derive(Debug, Default)]
struct ByteRanges {
    /// start -> end.
    runs: BTreeMap<u64, u64>,
}

impl ByteRanges {
    fn insert(&mut self, mut start: u64, mut end: u64) {
        if start >= end {
            return;
        }
        // Absorb every run that overlaps or touches [start, end).
        if let Some((&s, &e)) = self.runs.range(..=start).next_back() {
            if e >= start {
                start = s;
                end = end.max(e);
            }
        }
        let absorbed: Vec<(u64, u64)> = self
            .runs
            .range(start..=end)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in absorbed {
            self.runs.remove(&s);
            end = end.max(e);
        }
        self.runs.insert(start, end);
    }

    fn covers(&self, start: u64, end: u64) -> bool {
        self.runs
            .range(..=start)
            .next_back()
            .is_some_and(|(_, &e)| e >= end)
    }

    /// The parts of `[start, end)` not present.
    fn gaps(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = start;
        let first = self
            .runs
            .range(..=start)
            .next_back()
            .map(|(&s, _)| s)
            .unwrap_or(start);
        for (&s, &e) in self.runs.range(first..end) {
            if e <= at {
                continue;
            }
            if s > at {
                out.push((at, s.min(end)));
            }
            at = at.max(e);
            if at >= end {
                break;
            }
        }
        if at < end {
            out.push((at, end));
        }
        out
    }
}

/// Widens `gaps` to whole pages and merges the ranges that overlap or lie at most `max_gap`
/// apart, capping everything at `size`.
fn plan_requests(gaps: &[(u64, u64)], page: u64, max_gap: u64, size: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &(s, e) in gaps {
        let s = s / page * page;
        let e = e.div_ceil(page).saturating_mul(page).min(size);
        match out.last_mut() {
            Some((_, last_end)) if s <= last_end.saturating_add(max_gap) => {
                *last_end = (*last_end).max(e)
            }
            _ => out.push((s, e)),
        }
    }
    out
}

/// A sparse local file mirroring one bucket object; see the module docs.
pub struct LazyFile {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    page: u64,
    max_gap: u64,
    key: String,
    bucket: Bucket,
    fetcher: Arc<Fetcher>,
    present: Mutex<ByteRanges>,
    stats: Arc<FetchStats>,
    cache: Option<ItemCache>,
    policy: CachePolicy,
    /// Offsets of the index items known to be in the cache (found there, or stored).
    cached_items: Mutex<HashSet<u64>>,
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
    /// Creates the local file `path` anew (a file already there is unlinked first, so that
    /// readers still mapping it keep their copy) with the object's `size`, holding no data
    /// yet: bytes are fetched from `key` in pages of `page` bytes when first needed.
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
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        file.set_len(size)?;
        Ok(LazyFile {
            path: path.to_path_buf(),
            file,
            size,
            page: page.max(1),
            max_gap: DEFAULT_MAX_GAP,
            key,
            bucket,
            fetcher,
            present: Mutex::new(ByteRanges::default()),
            stats,
            cache: None,
            policy: CachePolicy::None,
            cached_items: Mutex::new(HashSet::new()),
        })
    }

    /// Reads through `cache` with `policy`.
    pub fn with_cache(mut self, cache: ItemCache, policy: CachePolicy) -> Self {
        self.cache = Some(cache);
        self.policy = policy;
        self
    }

    /// Merges missing runs at most `max_gap` bytes apart into one request.
    pub fn with_max_gap(mut self, max_gap: u64) -> Self {
        self.max_gap = max_gap;
        self
    }

    /// Writes `data` (the object's own bytes at `offset`) into the copy and marks it present:
    /// how an index-header's sections become part of the index copy without a bucket read.
    pub fn seed(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let end = offset.saturating_add(data.len() as u64);
        if end > self.size {
            return Err(std::io::Error::other(format!(
                "{}: seeding bytes {offset}..{end} of an object of {} bytes",
                self.key, self.size
            )));
        }
        self.file.write_all_at(data, offset)?;
        self.mark_present(offset, end);
        Ok(())
    }

    /// The local path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The object's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ByteRanges> {
        self.present.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mark_present(&self, start: u64, end: u64) {
        self.lock().insert(start, end);
    }

    /// Fetches `ranges` from the bucket concurrently, writes them and marks them present.
    fn fetch(&self, ranges: Vec<(u64, u64)>) -> std::io::Result<()> {
        if ranges.is_empty() {
            return Ok(());
        }
        let (bucket, key) = (self.bucket.clone(), self.key.clone());
        let want = ranges.clone();
        let got = self
            .fetcher
            .run(async move {
                futures::future::try_join_all(
                    want.into_iter().map(|(s, e)| bucket.get_range(&key, s..e)),
                )
                .await
            })?
            .map_err(std::io::Error::other)?;
        for ((s, e), data) in ranges.into_iter().zip(got) {
            if data.len() as u64 != e - s {
                return Err(std::io::Error::other(format!(
                    "{}: asked for bytes {s}..{e}, got {}",
                    self.key,
                    data.len()
                )));
            }
            self.file.write_all_at(&data, s)?;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            self.stats
                .bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            self.mark_present(s, e);
        }
        Ok(())
    }

    /// Makes `[start, end)` present from the bucket.
    fn fetch_missing(&self, start: u64, end: u64) -> std::io::Result<()> {
        let gaps = self.lock().gaps(start, end);
        self.fetch(plan_requests(&gaps, self.page, self.max_gap, self.size))
    }

    fn read_local(&self, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; (end - start) as usize];
        self.file.read_exact_at(&mut buf, start)?;
        Ok(buf)
    }

    /// The end of the postings list or series entry starting at `start` (present locally
    /// from `start` for at least its length field), or `None` when it runs past the file.
    fn item_end(&self, kind: ItemKind, start: u64) -> std::io::Result<Option<u64>> {
        let avail = (self.size - start).min(10);
        let head = self.read_local(start, start + avail)?;
        let end = match kind {
            ItemKind::Postings if head.len() >= 4 => {
                let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
                start + 8 + len
            }
            ItemKind::Series => {
                let mut len = 0u64;
                let mut n = None;
                for (i, b) in head.iter().enumerate().take(10) {
                    len |= u64::from(b & 0x7f) << (7 * i);
                    if b & 0x80 == 0 {
                        n = Some(i as u64 + 1);
                        break;
                    }
                }
                let Some(n) = n else { return Ok(None) };
                start
                    .saturating_add(n)
                    .saturating_add(len)
                    .saturating_add(4)
            }
            _ => return Ok(None),
        };
        Ok((end <= self.size).then_some(end))
    }

    /// Records that the index item at `start` is in the cache; false if it was known.
    fn note_cached(&self, start: u64) -> bool {
        self.cached_items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(start)
    }

    /// Stores the index item at `start` (its length field present) in the cache, fetching
    /// the rest of it first if needed.
    fn store_item(
        &self,
        cache: &ItemCache,
        kind: ItemKind,
        key: &str,
        start: u64,
    ) -> std::io::Result<()> {
        if let Some(item_end) = self.item_end(kind, start)? {
            self.fetch_missing(start, item_end)?;
            let item = self.read_local(start, item_end)?;
            cache.store(kind, key, Bytes::from(item));
        }
        Ok(())
    }

    /// An index read at `start` of an item of `kind`: present locally, or from the cache,
    /// or else from the bucket; either way the item ends up in the cache. Pages fetched for
    /// one item bring its neighbours along, which are stored in the cache when first read.
    fn load_index_item(
        &self,
        cache: &ItemCache,
        kind: ItemKind,
        key: String,
        start: u64,
        end: u64,
    ) -> std::io::Result<()> {
        if self.lock().covers(start, end) {
            if self.note_cached(start) {
                self.store_item(cache, kind, &key, start)?;
            }
            return Ok(());
        }
        if let Some(v) = cache.fetch(kind, std::slice::from_ref(&key)).remove(&key) {
            let item_end = start.saturating_add(v.len() as u64);
            if item_end >= end && item_end <= self.size {
                self.seed(start, &v)?;
                self.note_cached(start);
                return Ok(());
            }
        }
        self.fetch_missing(start, end)?;
        self.note_cached(start);
        self.store_item(cache, kind, &key, start)
    }

    /// A chunk segment read: the pages covering it from the cache, the rest from the
    /// bucket (and then into the cache).
    fn load_subranges(&self, cache: &ItemCache, start: u64, end: u64) -> std::io::Result<()> {
        let pages: Vec<(u64, u64)> = {
            let present = self.lock();
            (start / self.page..end.div_ceil(self.page))
                .map(|p| (p * self.page, ((p + 1) * self.page).min(self.size)))
                .filter(|&(s, e)| !present.covers(s, e))
                .collect()
        };
        let keys: Vec<String> = pages
            .iter()
            .map(|&(s, e)| subrange_key(&self.key, s, e))
            .collect();
        let mut found = cache.fetch(ItemKind::Chunks, &keys);
        let mut missing = Vec::new();
        for ((s, e), key) in pages.into_iter().zip(keys) {
            match found.remove(&key) {
                Some(v) if v.len() as u64 == e - s => self.seed(s, &v)?,
                _ => missing.push((s, e, key)),
            }
        }
        let gaps: Vec<(u64, u64)> = missing.iter().map(|&(s, e, _)| (s, e)).collect();
        self.fetch(plan_requests(&gaps, self.page, self.max_gap, self.size))?;
        for (s, e, key) in missing {
            cache.store(ItemKind::Chunks, &key, Bytes::from(self.read_local(s, e)?));
        }
        Ok(())
    }
}

impl RangeLoader for LazyFile {
    fn load(&self, start: u64, end: u64) -> std::io::Result<()> {
        let end = end.min(self.size);
        if start >= end {
            return Ok(());
        }
        let index_items = matches!(self.policy, CachePolicy::IndexItems { .. });
        if !index_items && self.lock().covers(start, end) {
            return Ok(());
        }
        match (&self.cache, &self.policy) {
            (
                Some(cache),
                CachePolicy::IndexItems {
                    block,
                    series,
                    postings,
                },
            ) => {
                if series.contains(&start) {
                    let key = series_key(*block, start);
                    self.load_index_item(cache, ItemKind::Series, key, start, end)
                } else if postings.contains(&start) {
                    let key = postings_key(*block, start);
                    self.load_index_item(cache, ItemKind::Postings, key, start, end)
                } else if self.lock().covers(start, end) {
                    Ok(())
                } else {
                    self.fetch_missing(start, end)
                }
            }
            (Some(cache), CachePolicy::Subranges) => self.load_subranges(cache, start, end),
            _ => self.fetch_missing(start, end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_merge_and_report_gaps() {
        let mut r = ByteRanges::default();
        r.insert(10, 20);
        r.insert(30, 40);
        assert!(r.covers(12, 20));
        assert!(!r.covers(15, 31));
        assert_eq!(r.gaps(0, 50), vec![(0, 10), (20, 30), (40, 50)]);
        assert_eq!(r.gaps(12, 35), vec![(20, 30)]);
        r.insert(20, 30);
        assert_eq!(r.runs.len(), 1);
        assert!(r.covers(10, 40));
        r.insert(5, 45);
        assert_eq!(r.runs.iter().collect::<Vec<_>>(), vec![(&5, &45)]);
    }

    #[test]
    fn requests_are_paged_and_merged_within_the_gap() {
        let gaps = [(5, 10), (100, 120), (1000, 1001)];
        // Pages 0 and 1 touch, so they merge even without a gap allowance.
        assert_eq!(
            plan_requests(&gaps, 64, 0, 2000),
            vec![(0, 128), (960, 1024)]
        );
        assert_eq!(plan_requests(&gaps, 64, 900, 1010), vec![(0, 1010)]);
    }
}
