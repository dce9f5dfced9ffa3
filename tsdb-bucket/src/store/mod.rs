//! The bucket store: queries the blocks of a bucket in place, as Thanos' store gateway does.
//!
//! [`BucketStore::sync`] lists the bucket (complete blocks; not those marked for deletion,
//! nor those whose sources another block holds) and prepares each new block: its binary
//! index-header ([`index_header`]: symbols and postings offset table, built with four
//! byte-range reads) is written to `<cache dir>/<ULID>/index-header`, or reused from there
//! after a restart. A block's readers are opened over sparse local files
//! ([`lazy_file::LazyFile`]): the index copy starts with the index-header's sections, so
//! opening reads nothing more, and a query then reads only the postings lists, series entries
//! and chunks it needs, through the caches ([`cache`]: in memory or memcached) and, on a
//! miss, from the bucket. With [`StoreOptions::lazy`], readers are opened on first use and
//! dropped after [`StoreOptions::idle_timeout`] without use ([`BucketStore::unload_idle`]).
//!
//! The store is a [`Queryable`]: series carry their block's external labels
//! (`thanos.labels`), a matcher on an external label selects blocks without reading them,
//! and each request is held to [`limits::RequestLimits`]. [`BucketStore::metrics`] counts
//! bucket reads, cache lookups, index-header work and dropped requests.
//!
//! Downsampled blocks are served only through the StoreAPI chunk path (`ChunkedStorage`),
//! which picks the resolution per request; the sample path (`Queryable`) reads raw blocks.
//!
//! Not yet: prefetching the chunks of a whole request at once (misses
//! are fetched per chunk, merging runs only within one read).

pub mod block;
pub mod cache;
pub mod fetch;
pub mod index_header;
pub mod lazy_file;
pub mod limits;
pub mod metrics;
pub mod querier;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tsdb_core::storage::{self, Querier, Queryable};
use tsdb_index::Labels;
use ulid::Ulid;

use crate::compactor::sync::BucketState;
use crate::error::BucketError;
use crate::meta::ThanosMeta;
use crate::objstore::Bucket;
pub use block::HeaderStats;
use block::{BlockContext, StoreBlock};
use cache::{Cache, ItemCache};
use fetch::Fetcher;
pub use lazy_file::FetchStats;
use limits::RequestLimits;
pub use metrics::StoreMetrics;
use querier::{BucketQuerier, LabeledBlocks};

/// What one [`BucketStore::sync`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Blocks opened.
    pub added: Vec<Ulid>,
    /// Blocks no longer served.
    pub removed: Vec<Ulid>,
    /// Blocks served now.
    pub serving: usize,
}

/// How a [`BucketStore`] caches, loads and limits.
#[derive(Clone, Default)]
pub struct StoreOptions {
    /// Cache of postings lists and series entries (Thanos' index cache).
    pub index_cache: Option<Arc<dyn Cache>>,
    /// Cache of chunk segment sub-ranges (Thanos' chunks caching bucket).
    pub chunks_cache: Option<Arc<dyn Cache>>,
    /// Open a block's readers on first use rather than at sync.
    pub lazy: bool,
    /// With `lazy`, drop the readers of a block unused for this long ([`Duration::ZERO`]:
    /// never).
    pub idle_timeout: Duration,
    /// Limits of each request.
    pub limits: RequestLimits,
    /// Missing byte runs at most this far apart are read with one request
    /// (default [`lazy_file::DEFAULT_MAX_GAP`]).
    pub max_gap: Option<u64>,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field(
                "index_cache",
                &self.index_cache.as_ref().map(|c| c.backend()),
            )
            .field(
                "chunks_cache",
                &self.chunks_cache.as_ref().map(|c| c.backend()),
            )
            .field("lazy", &self.lazy)
            .field("idle_timeout", &self.idle_timeout)
            .field("limits", &self.limits)
            .field("max_gap", &self.max_gap)
            .finish()
    }
}

/// A bucket's blocks, queryable in place; see the module docs.
pub struct BucketStore {
    bucket: Bucket,
    cache_dir: PathBuf,
    ctx: Arc<BlockContext>,
    options: StoreOptions,
    metrics: Arc<StoreMetrics>,
    opened: Mutex<BTreeMap<Ulid, Arc<StoreBlock>>>,
    served: RwLock<Arc<Vec<LabeledBlocks>>>,
}

impl BucketStore {
    /// A store of `bucket` keeping index-headers and sparse copies under `cache_dir`, without
    /// caches or limits, opening blocks at sync. Serves nothing until [`BucketStore::sync`].
    pub fn new(bucket: Bucket, cache_dir: impl Into<PathBuf>) -> Result<Self, BucketError> {
        Self::with_options(bucket, cache_dir, StoreOptions::default())
    }

    /// A store with `options`; see [`BucketStore::new`].
    pub fn with_options(
        bucket: Bucket,
        cache_dir: impl Into<PathBuf>,
        options: StoreOptions,
    ) -> Result<Self, BucketError> {
        let cache_dir = cache_dir.into();
        std::fs::create_dir_all(&cache_dir)
            .map_err(|e| BucketError::io("create dir", &cache_dir, e))?;
        let fetcher =
            Fetcher::new().map_err(|e| BucketError::io("start runtime", &cache_dir, e))?;
        let index_cache = options.index_cache.clone().map(ItemCache::new);
        let chunks_cache = options.chunks_cache.clone().map(ItemCache::new);
        let metrics = Arc::new(StoreMetrics::new(
            index_cache.as_ref().map(|c| c.stats().clone()),
            chunks_cache.as_ref().map(|c| c.stats().clone()),
        ));
        let ctx = Arc::new(BlockContext {
            bucket: bucket.clone(),
            fetcher: Arc::new(fetcher),
            fetch_stats: metrics.fetch.clone(),
            header_stats: metrics.headers.clone(),
            index_cache,
            chunks_cache,
            max_gap: options.max_gap.unwrap_or(lazy_file::DEFAULT_MAX_GAP),
        });
        Ok(BucketStore {
            bucket,
            cache_dir,
            ctx,
            options,
            metrics,
            opened: Mutex::new(BTreeMap::new()),
            served: RwLock::new(Arc::new(Vec::new())),
        })
    }

    /// Requests and bytes read from the bucket so far.
    pub fn stats(&self) -> &FetchStats {
        &self.metrics.fetch
    }

    /// Every counter of the store.
    pub fn metrics(&self) -> &Arc<StoreMetrics> {
        &self.metrics
    }

    /// Blocks whose readers are loaded.
    pub fn loaded_blocks(&self) -> usize {
        self.opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|b| b.is_loaded())
            .count()
    }

    /// Drops the readers of blocks unused for the configured idle timeout (nothing when it
    /// is zero or the store is not lazy). Returns how many were dropped.
    pub fn unload_idle(&self) -> usize {
        if !self.options.lazy || self.options.idle_timeout.is_zero() {
            return 0;
        }
        self.unload_idle_for(self.options.idle_timeout)
    }

    /// Drops the readers of blocks unused for at least `idle` (queries running keep theirs).
    pub fn unload_idle_for(&self, idle: Duration) -> usize {
        let blocks: Vec<Arc<StoreBlock>> = self
            .opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        blocks.iter().filter(|b| b.unload_if_idle(idle)).count()
    }

    /// The external label sets of the blocks served, with each set's time range.
    pub fn label_sets(&self) -> Vec<(Labels, i64, i64)> {
        self.snapshot()
            .iter()
            .map(|g| (g.labels.clone(), g.min_time, g.max_time))
            .collect()
    }

    fn snapshot(&self) -> Arc<Vec<LabeledBlocks>> {
        self.served
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Lists the bucket and serves its current blocks: prepares new ones (index-header
    /// built or reused; readers opened unless the store is lazy), drops those that went
    /// away. Queries running meanwhile keep the blocks they started with.
    pub fn sync(&self) -> Result<SyncReport, BucketError> {
        let bucket = self.bucket.clone();
        let state = self
            .ctx
            .fetcher
            .run(async move { BucketState::load(&bucket).await })
            .map_err(|e| BucketError::io("list bucket", &self.cache_dir, e))??;
        let duplicates = state.duplicates();
        let wanted: Vec<&ThanosMeta> = state
            .live()
            .filter(|b| !duplicates.contains(&b.ulid()))
            .map(|b| &b.meta)
            .collect();
        let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = SyncReport::default();
        let keep: BTreeSet<Ulid> = wanted.iter().map(|m| m.ulid()).collect();
        let gone: Vec<Ulid> = opened
            .keys()
            .filter(|u| !keep.contains(u))
            .copied()
            .collect();
        for u in gone {
            opened.remove(&u);
            report.removed.push(u);
        }
        for meta in wanted {
            if opened.contains_key(&meta.ulid()) {
                continue;
            }
            let block = self.prepare(meta)?;
            if !self.options.lazy {
                block.get()?;
            }
            opened.insert(meta.ulid(), Arc::new(block));
            report.added.push(meta.ulid());
        }
        report.serving = opened.len();
        if !report.added.is_empty() || !report.removed.is_empty() {
            *self.served.write().unwrap_or_else(|e| e.into_inner()) =
                Arc::new(build_groups(&opened));
        }
        Ok(report)
    }

    /// Prepares a block (sizes from the meta's file list, or from a listing when the meta
    /// has none).
    fn prepare(&self, meta: &ThanosMeta) -> Result<StoreBlock, BucketError> {
        let id = meta.ulid();
        let mut sizes: HashMap<String, u64> = meta
            .thanos
            .files
            .iter()
            .filter(|f| f.size_bytes > 0)
            .map(|f| (f.rel_path.clone(), f.size_bytes as u64))
            .collect();
        if !sizes.contains_key("index") {
            let (bucket, prefix) = (self.bucket.clone(), format!("{id}/"));
            let listing = self
                .ctx
                .fetcher
                .run(async move { bucket.list(&prefix).await })
                .map_err(|e| BucketError::io("list block", &self.cache_dir, e))??;
            for o in listing {
                if let Some(rel) = o.key.strip_prefix(&format!("{id}/")) {
                    sizes.insert(rel.to_string(), o.size);
                }
            }
        }
        StoreBlock::prepare(
            self.ctx.clone(),
            meta.clone(),
            &sizes,
            self.cache_dir.join(id.to_string()),
        )
    }
}

/// Groups the blocks by external labels, each group queryable as one set; downsampled
/// blocks are kept apart from the raw ones the sample path reads.
fn build_groups(opened: &BTreeMap<Ulid, Arc<StoreBlock>>) -> Vec<LabeledBlocks> {
    let mut by_labels: BTreeMap<Labels, Vec<Arc<StoreBlock>>> = BTreeMap::new();
    for b in opened.values() {
        let labels = Labels::from_pairs(
            b.meta
                .thanos
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        by_labels.entry(labels).or_default().push(b.clone());
    }
    by_labels
        .into_iter()
        .map(|(labels, blocks)| {
            let min_time = blocks
                .iter()
                .map(|b| b.meta.block.min_time)
                .min()
                .unwrap_or(0);
            let max_time = blocks
                .iter()
                .map(|b| b.meta.block.max_time)
                .max()
                .unwrap_or(0);
            let (raw, downsampled) = blocks
                .into_iter()
                .partition(|b| b.meta.thanos.downsample.resolution == 0);
            LabeledBlocks {
                labels,
                min_time,
                max_time,
                blocks: raw,
                downsampled,
            }
        })
        .collect()
}

/// The StoreAPI's chunk path: stored chunks as they are, downsampled blocks included, at
/// the coarsest resolution a request allows (see [`crate::downsample::serve`]), held to the
/// same request limits as the sample path. The `Queryable` path reads raw blocks only.
impl storeapi::grpc::ChunkedStorage for BucketStore {
    fn select_chunks(
        &self,
        sel: &storeapi::grpc::ChunkSelection<'_>,
    ) -> storage::Result<Vec<(Labels, Vec<storeapi::grpc::proto::AggrChunk>)>> {
        let groups = self.snapshot();
        // Per group: its labels and its loaded blocks with their min times.
        type Loaded<'a> = (&'a Labels, Vec<(i64, Arc<tsdb_core::block::reader::Block>)>);
        let mut loaded: Vec<Loaded<'_>> = Vec::new();
        for g in groups
            .iter()
            .filter(|g| g.min_time <= sel.maxt && g.max_time > sel.mint)
        {
            let blocks = g
                .blocks
                .iter()
                .chain(&g.downsampled)
                .filter(|b| b.meta.block.min_time <= sel.maxt && b.meta.block.max_time > sel.mint)
                .map(|b| {
                    b.get()
                        .map(|block| (b.meta.thanos.downsample.resolution, block))
                        .map_err(|e| storage::StorageError::Other(e.to_string()))
                })
                .collect::<storage::Result<Vec<_>>>()?;
            loaded.push((&g.labels, blocks));
        }
        let sets: Vec<crate::downsample::serve::LeveledBlocks<'_>> = loaded
            .iter()
            .map(|(labels, blocks)| crate::downsample::serve::LeveledBlocks {
                labels,
                blocks: blocks.iter().map(|(res, b)| (*res, b.as_ref())).collect(),
            })
            .collect();
        let found = crate::downsample::serve::select_chunks(&sets, sel)?;
        let limiter = limits::Limiter::new(self.options.limits);
        for (_, chunks) in &found {
            if let Err(e) = limiter.reserve_series(chunks.len() as u64) {
                self.metrics.count_limit(&e);
                return Err(storage::StorageError::Other(e.to_string()));
            }
        }
        Ok(found)
    }
}

impl Queryable for BucketStore {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier + '_>> {
        Ok(Box::new(BucketQuerier::new(
            &self.snapshot(),
            mint,
            maxt,
            self.options.limits,
            self.metrics.clone(),
        )?))
    }
}
