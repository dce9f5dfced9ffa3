//! The bucket store: queries the blocks of a bucket in place, as Thanos' store gateway does.
//!
//! [`BucketStore::sync`] lists the bucket (complete blocks; not those marked for deletion,
//! nor those whose sources another block holds) and opens each new block lazily: its index
//! and chunk segments become sparse local files ([`lazy_file::LazyFile`]) filled in pages
//! (32 KiB for indexes, 16 KiB for chunks) with byte-range reads when a query first touches
//! them. Opening a block reads the
//! index' header, TOC, symbol table and postings offset table (what Thanos keeps in its
//! index-header); a query then reads only the postings lists, series entries and chunks it
//! needs, and every page read once stays on local disk for the next query.
//!
//! The store is a [`Queryable`]: series carry their block's external labels
//! (`thanos.labels`), and a matcher on an external label selects blocks without reading
//! them. [`FetchStats`] counts the requests and bytes read from the bucket. Downsampled
//! blocks are served only through the StoreAPI chunk path (`ChunkedStorage`), which picks
//! the resolution per request; the sample path (`Queryable`) reads raw blocks.
//!
//! Not yet: Thanos' binary index-header file (the same sections are fetched into the sparse
//! copy instead), memcached and in-memory LRU caches (pages stay on local disk for the
//! life of the process) and request limits.

pub mod fetch;
pub mod lazy_file;
pub mod querier;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use tsdb_core::block::chunks::ChunkReader;
use tsdb_core::block::reader::Block;
use tsdb_core::querier::Blocks;
use tsdb_core::storage::{self, Querier, Queryable};
use tsdb_index::lazy::RangeLoader;
use tsdb_index::Labels;
use ulid::Ulid;

use crate::compactor::sync::BucketState;
use crate::error::BucketError;
use crate::meta::ThanosMeta;
use crate::objstore::Bucket;
use fetch::Fetcher;
pub use lazy_file::FetchStats;
use lazy_file::{LazyFile, CHUNKS_PAGE_SIZE, INDEX_PAGE_SIZE};
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

/// The lazily filled local files of one block.
struct OpenedBlock {
    meta: ThanosMeta,
    index: Arc<LazyFile>,
    segments: Vec<Arc<LazyFile>>,
}

/// A bucket's blocks, queryable in place; see the module docs.
pub struct BucketStore {
    bucket: Bucket,
    cache_dir: PathBuf,
    fetcher: Arc<Fetcher>,
    stats: Arc<FetchStats>,
    opened: Mutex<BTreeMap<Ulid, Arc<OpenedBlock>>>,
    served: RwLock<Arc<Vec<LabeledBlocks>>>,
}

impl BucketStore {
    /// A store of `bucket` keeping its sparse copies under `cache_dir` (emptied of stale
    /// copies as blocks are opened). Serves nothing until [`BucketStore::sync`].
    pub fn new(bucket: Bucket, cache_dir: impl Into<PathBuf>) -> Result<Self, BucketError> {
        let cache_dir = cache_dir.into();
        std::fs::create_dir_all(&cache_dir)
            .map_err(|e| BucketError::io("create dir", &cache_dir, e))?;
        let fetcher =
            Fetcher::new().map_err(|e| BucketError::io("start runtime", &cache_dir, e))?;
        Ok(BucketStore {
            bucket,
            cache_dir,
            fetcher: Arc::new(fetcher),
            stats: Arc::new(FetchStats::default()),
            opened: Mutex::new(BTreeMap::new()),
            served: RwLock::new(Arc::new(Vec::new())),
        })
    }

    /// Requests and bytes read from the bucket so far.
    pub fn stats(&self) -> &FetchStats {
        &self.stats
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

    /// Lists the bucket and serves its current blocks: opens new ones (header, TOC, symbols
    /// and postings offset table are read), drops those that went away. Queries running
    /// meanwhile keep the blocks they started with.
    pub fn sync(&self) -> Result<SyncReport, BucketError> {
        let bucket = self.bucket.clone();
        let state = self
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
            opened.insert(meta.ulid(), Arc::new(self.open_files(meta)?));
            report.added.push(meta.ulid());
        }
        report.serving = opened.len();
        if !report.added.is_empty() || !report.removed.is_empty() {
            let groups = self.build_groups(&opened)?;
            *self.served.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(groups);
        }
        Ok(report)
    }

    /// Creates the sparse local files of a block (sizes from the meta's file list, or from
    /// a listing when the meta has none).
    fn open_files(&self, meta: &ThanosMeta) -> Result<OpenedBlock, BucketError> {
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
                .fetcher
                .run(async move { bucket.list(&prefix).await })
                .map_err(|e| BucketError::io("list block", &self.cache_dir, e))??;
            for o in listing {
                if let Some(rel) = o.key.strip_prefix(&format!("{id}/")) {
                    sizes.insert(rel.to_string(), o.size);
                }
            }
        }
        let dir = self.cache_dir.join(id.to_string());
        let lazy = |rel: &str, page: u64| -> Result<Arc<LazyFile>, BucketError> {
            let size = *sizes.get(rel).ok_or_else(|| BucketError::Corrupt {
                what: "block",
                key: format!("{id}/{rel}"),
                message: "missing from the block".into(),
            })?;
            let path = dir.join(rel);
            LazyFile::create(
                &path,
                size,
                page,
                self.bucket.clone(),
                format!("{id}/{rel}"),
                self.fetcher.clone(),
                self.stats.clone(),
            )
            .map(Arc::new)
            .map_err(|e| BucketError::io("create", &path, e))
        };
        let index = lazy("index", INDEX_PAGE_SIZE)?;
        let mut segment_names: Vec<&String> = sizes
            .keys()
            .filter(|k| {
                k.strip_prefix("chunks/")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .collect();
        segment_names.sort();
        let segments = segment_names
            .into_iter()
            .map(|n| lazy(n, CHUNKS_PAGE_SIZE))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OpenedBlock {
            meta: meta.clone(),
            index,
            segments,
        })
    }

    /// Opens a block's readers over its sparse files.
    fn open_block(&self, b: &OpenedBlock) -> Result<Block, BucketError> {
        let loader: Arc<dyn RangeLoader> = b.index.clone();
        let index = tsdb_index::Reader::open_lazy(b.index.path(), loader).map_err(|e| {
            tsdb_core::block::BlockError::Index {
                file: b.index.path().to_path_buf(),
                message: e.to_string(),
            }
        })?;
        let chunks = ChunkReader::open_lazy(
            b.segments
                .iter()
                .map(|s| (s.path().to_path_buf(), s.clone() as Arc<dyn RangeLoader>))
                .collect(),
        )?;
        let size = b.index.size() + b.segments.iter().map(|s| s.size()).sum::<u64>();
        Ok(Block::from_parts(
            self.cache_dir.join(b.meta.ulid().to_string()),
            b.meta.block.clone(),
            index,
            chunks,
            size,
        ))
    }

    /// Groups the opened blocks by external labels, each group queryable as one set.
    fn build_groups(
        &self,
        opened: &BTreeMap<Ulid, Arc<OpenedBlock>>,
    ) -> Result<Vec<LabeledBlocks>, BucketError> {
        let mut by_labels: BTreeMap<Labels, BTreeMap<i64, Vec<Block>>> = BTreeMap::new();
        for b in opened.values() {
            let labels = Labels::from_pairs(
                b.meta
                    .thanos
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            );
            by_labels
                .entry(labels)
                .or_default()
                .entry(b.meta.thanos.downsample.resolution)
                .or_default()
                .push(self.open_block(b)?);
        }
        Ok(by_labels
            .into_iter()
            .map(|(labels, mut levels)| {
                let all = levels.values().flatten();
                let min_time = all.clone().map(|b| b.meta().min_time).min().unwrap_or(0);
                let max_time = all.map(|b| b.meta().max_time).max().unwrap_or(0);
                let raw = levels.remove(&0).unwrap_or_default();
                LabeledBlocks {
                    labels,
                    min_time,
                    max_time,
                    blocks: Arc::new(Blocks::new(raw)),
                    downsampled: levels
                        .into_iter()
                        .map(|(res, blocks)| (res, Arc::new(Blocks::new(blocks))))
                        .collect(),
                }
            })
            .collect())
    }
}

/// The StoreAPI's chunk path: stored chunks as they are, downsampled blocks included, at
/// the coarsest resolution a request allows (see [`crate::downsample::serve`]). The
/// `Queryable` path reads raw blocks only.
impl storeapi::grpc::ChunkedStorage for BucketStore {
    fn select_chunks(
        &self,
        sel: &storeapi::grpc::ChunkSelection<'_>,
    ) -> storage::Result<Vec<(Labels, Vec<storeapi::grpc::proto::AggrChunk>)>> {
        let groups = self.snapshot();
        let sets: Vec<crate::downsample::serve::LeveledBlocks<'_>> = groups
            .iter()
            .filter(|g| g.min_time <= sel.maxt && g.max_time > sel.mint)
            .map(|g| crate::downsample::serve::LeveledBlocks {
                labels: &g.labels,
                raw: &g.blocks,
                downsampled: &g.downsampled,
            })
            .collect();
        crate::downsample::serve::select_chunks(&sets, sel)
    }
}

impl Queryable for BucketStore {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier + '_>> {
        Ok(Box::new(BucketQuerier::new(self.snapshot(), mint, maxt)))
    }
}
