//! One block of the bucket store: its index-header on local disk from the moment it is
//! synced, and its readers (index over a sparse copy seeded from the index-header, chunk
//! segments as sparse copies) loaded on first use and dropped again after being idle, as
//! Thanos' lazy index-header reader (`--store.index-header-lazy-reader-idle-timeout`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tsdb_core::block::chunks::ChunkReader;
use tsdb_core::block::reader::Block;
use tsdb_index::lazy::RangeLoader;

use super::cache::ItemCache;
use super::fetch::Fetcher;
use super::index_header::{self, HeaderSource, IndexHeader};
use super::lazy_file::{CachePolicy, FetchStats, LazyFile, CHUNKS_PAGE_SIZE, INDEX_PAGE_SIZE};
use crate::error::BucketError;
use crate::meta::ThanosMeta;
use crate::objstore::Bucket;

/// Counters of index-header work.
#[derive(Debug, Default)]
pub struct HeaderStats {
    /// Index-headers built from the bucket (none on disk).
    pub built: AtomicU64,
    /// Index-headers rebuilt because the file on disk was invalid.
    pub rebuilt: AtomicU64,
    /// Index-headers found valid on disk.
    pub reused: AtomicU64,
    /// Block readers loaded.
    pub loads: AtomicU64,
    /// Block readers dropped after being idle.
    pub unloads: AtomicU64,
}

impl HeaderStats {
    fn count(&self, s: HeaderSource) {
        let c = match s {
            HeaderSource::Built => &self.built,
            HeaderSource::Rebuilt => &self.rebuilt,
            HeaderSource::Reused => &self.reused,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// What every block of a store shares.
pub(crate) struct BlockContext {
    pub bucket: Bucket,
    pub fetcher: Arc<Fetcher>,
    pub fetch_stats: Arc<FetchStats>,
    pub header_stats: Arc<HeaderStats>,
    pub index_cache: Option<ItemCache>,
    pub chunks_cache: Option<ItemCache>,
    pub max_gap: u64,
}

/// A block served by the store; see the module docs.
pub(crate) struct StoreBlock {
    pub meta: ThanosMeta,
    dir: PathBuf,
    index_size: u64,
    /// Chunk segment names (`chunks/000001`, ...) and sizes, in order.
    segments: Vec<(String, u64)>,
    ctx: Arc<BlockContext>,
    loaded: Mutex<Option<Arc<Block>>>,
    last_used: Mutex<Instant>,
}

impl StoreBlock {
    /// Prepares a block: makes sure its index-header is on disk (built from the bucket
    /// when missing or invalid). `sizes` are the sizes of the block's files.
    pub fn prepare(
        ctx: Arc<BlockContext>,
        meta: ThanosMeta,
        sizes: &HashMap<String, u64>,
        dir: PathBuf,
    ) -> Result<StoreBlock, BucketError> {
        let id = meta.ulid();
        let index_size = *sizes.get("index").ok_or_else(|| BucketError::Corrupt {
            what: "block",
            key: format!("{id}/index"),
            message: "missing from the block".into(),
        })?;
        let mut segments: Vec<(String, u64)> = sizes
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix("chunks/")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        segments.sort();
        let b = StoreBlock {
            meta,
            dir,
            index_size,
            segments,
            ctx,
            loaded: Mutex::new(None),
            last_used: Mutex::new(Instant::now()),
        };
        b.header(true)?;
        Ok(b)
    }

    /// The index-header, from disk or (re)built; a reuse is counted only when `count_reuse`
    /// (a block's readers re-read the file each time they load).
    fn header(&self, count_reuse: bool) -> Result<IndexHeader, BucketError> {
        let path = self.dir.join(index_header::FILE_NAME);
        let (bucket, key, size) = (
            self.ctx.bucket.clone(),
            format!("{}/index", self.meta.ulid()),
            self.index_size,
        );
        let (p, stats) = (path.clone(), self.ctx.fetch_stats.clone());
        let (h, source) =
            self.ctx
                .fetcher
                .run(async move {
                    index_header::load_or_build(&p, &bucket, &key, size, Some(&stats)).await
                })
                .map_err(|e| BucketError::io("build index-header", &path, e))?
                .map_err(|e| BucketError::Corrupt {
                    what: "index-header",
                    key: path.display().to_string(),
                    message: e.to_string(),
                })?;
        if count_reuse || source != HeaderSource::Reused {
            self.ctx.header_stats.count(source);
        }
        Ok(h)
    }

    /// Whether the block's readers are loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The block's readers, loaded now if they are not.
    pub fn get(&self) -> Result<Arc<Block>, BucketError> {
        *self.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = &*loaded {
            return Ok(b.clone());
        }
        let b = Arc::new(self.load()?);
        self.ctx.header_stats.loads.fetch_add(1, Ordering::Relaxed);
        *loaded = Some(b.clone());
        Ok(b)
    }

    /// Drops the readers (and their sparse copies) when unused for at least `idle`; queries
    /// running meanwhile keep theirs. Returns whether it did.
    pub fn unload_if_idle(&self, idle: Duration) -> bool {
        let last = *self.last_used.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() < idle {
            return false;
        }
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.take().is_none() {
            return false;
        }
        // Unlinked files stay readable by queries still mapping them.
        let _ = std::fs::remove_file(self.dir.join("index"));
        for (name, _) in &self.segments {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
        self.ctx
            .header_stats
            .unloads
            .fetch_add(1, Ordering::Relaxed);
        true
    }

    fn lazy(&self, rel: &str, size: u64, page: u64) -> Result<LazyFile, BucketError> {
        let path = self.dir.join(rel);
        LazyFile::create(
            &path,
            size,
            page,
            self.ctx.bucket.clone(),
            format!("{}/{rel}", self.meta.ulid()),
            self.ctx.fetcher.clone(),
            self.ctx.fetch_stats.clone(),
        )
        .map(|f| f.with_max_gap(self.ctx.max_gap))
        .map_err(|e| BucketError::io("create", &path, e))
    }

    /// Opens the readers: the index over a sparse copy already holding the index-header's
    /// sections (so opening reads nothing from the bucket), the chunk segments over empty
    /// sparse copies.
    fn load(&self) -> Result<Block, BucketError> {
        let header = self.header(false)?;
        let mut index = self.lazy("index", self.index_size, INDEX_PAGE_SIZE)?;
        for (off, bytes) in header.index_ranges() {
            index
                .seed(off, &bytes)
                .map_err(|e| BucketError::io("seed", index.path(), e))?;
        }
        if let Some(c) = &self.ctx.index_cache {
            let toc = header.index_toc();
            let after = |from: u64, candidates: &[u64]| {
                candidates
                    .iter()
                    .copied()
                    .filter(|&o| o > from)
                    .min()
                    .unwrap_or(from)
            };
            let series_end = after(
                toc.series,
                &[
                    toc.label_indices,
                    toc.label_indices_table,
                    toc.postings,
                    toc.postings_table,
                ],
            );
            let postings_end = after(toc.postings, &[toc.label_indices_table, toc.postings_table]);
            index = index.with_cache(
                c.clone(),
                CachePolicy::IndexItems {
                    block: self.meta.ulid(),
                    series: toc.series..series_end,
                    postings: toc.postings..postings_end,
                },
            );
        }
        let index = Arc::new(index);
        let loader: Arc<dyn RangeLoader> = index.clone();
        let reader = tsdb_index::Reader::open_lazy(index.path(), loader).map_err(|e| {
            tsdb_core::block::BlockError::Index {
                file: index.path().to_path_buf(),
                message: e.to_string(),
            }
        })?;
        let mut segments = Vec::with_capacity(self.segments.len());
        for (name, size) in &self.segments {
            let mut f = self.lazy(name, *size, CHUNKS_PAGE_SIZE)?;
            if let Some(c) = &self.ctx.chunks_cache {
                f = f.with_cache(c.clone(), CachePolicy::Subranges);
            }
            let f = Arc::new(f);
            segments.push((f.path().to_path_buf(), f as Arc<dyn RangeLoader>));
        }
        let chunks = ChunkReader::open_lazy(segments)?;
        let size = self.index_size + self.segments.iter().map(|(_, s)| s).sum::<u64>();
        Ok(Block::from_parts(
            self.dir.clone(),
            self.meta.block.clone(),
            reader,
            chunks,
            size,
        ))
    }
}
