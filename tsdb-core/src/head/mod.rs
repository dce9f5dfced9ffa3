//! The head block: the in-memory, writable part of the database.
//!
//! The head keeps recent series in memory, each with its XOR chunks cut the way Prometheus
//! cuts them (see [`series`]); appenders add samples in transactions that are written to the
//! WAL and fsynced before they are applied ([`appender`]); a querier reads them through the
//! storage traits ([`querier`]); [`replay`] rebuilds the head from a WAL directory.

pub mod appender;
pub mod delete;
pub mod exemplars;
pub mod group_sync;
pub mod ooo;
pub mod querier;
pub mod replay;
pub mod series;
pub mod truncate;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tsdb_index::Labels;

use crate::chunks_head::{ChunkDiskMapper, ChunksHeadError};
use crate::wlog::{WalError, WalWriter};
pub use appender::HeadAppender;
use group_sync::GroupSync;
pub use querier::HeadQuerier;
pub use replay::ReplayStats;
pub use series::MemSeries;

/// Default chunk range (and minimum block duration): 2 h in ms.
pub const DEFAULT_CHUNK_RANGE: i64 = 2 * 3600 * 1000;
/// Prometheus' target number of samples per head chunk.
pub const DEFAULT_SAMPLES_PER_CHUNK: usize = 120;

/// How the head cuts chunks and what it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadOptions {
    /// Width of the aligned ranges chunks never cross, in ms.
    pub chunk_range: i64,
    /// Target samples per chunk.
    pub samples_per_chunk: usize,
    /// Prometheus' `out_of_order_time_window` in ms: float samples older than their series'
    /// newest, but no more than this behind the head's newest sample, are kept apart as
    /// out-of-order samples (logged to `wbl/`) instead of being rejected. 0 disables it.
    pub ooo_window: i64,
    /// Exemplars kept in memory (logged to the WAL); 0 keeps none.
    pub max_exemplars: usize,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            chunk_range: DEFAULT_CHUNK_RANGE,
            samples_per_chunk: DEFAULT_SAMPLES_PER_CHUNK,
            ooo_window: 0,
            max_exemplars: exemplars::DEFAULT_MAX_EXEMPLARS,
        }
    }
}

/// Why a sample was rejected or a transaction failed. The messages are Prometheus'.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The sample is older than the newest sample of its series.
    #[error("out of order sample (t={t})")]
    OutOfOrder {
        /// The sample's timestamp.
        t: i64,
    },
    /// The sample is older than what the head accepts (before the last persisted block or
    /// more than half a chunk range behind the head's newest sample).
    #[error("out of bounds (t={t}, min valid time {min_valid})")]
    OutOfBounds {
        /// The sample's timestamp.
        t: i64,
        /// The oldest accepted timestamp.
        min_valid: i64,
    },
    /// The series already has a sample at this timestamp with another value.
    #[error("duplicate sample for timestamp {t}; overrides not allowed (existing {existing}, new value {new})")]
    DuplicateSample {
        /// The timestamp.
        t: i64,
        /// The stored value.
        existing: f64,
        /// The rejected value.
        new: f64,
    },
    /// The sample is older than the out-of-order window allows.
    #[error("too old sample (t={t})")]
    TooOld {
        /// The sample's timestamp.
        t: i64,
    },
    /// A sample for an empty label set.
    #[error("empty labelset: invalid sample")]
    EmptyLabels,
    /// A native histogram whose bucket counts do not match its spans.
    #[error("invalid histogram: {0}")]
    InvalidHistogram(String),
    /// A reference that names no series of the head.
    #[error("unknown series reference {0}")]
    UnknownRef(u64),
    /// Writing the WAL failed: nothing of the transaction was applied.
    #[error("write to WAL: {0}")]
    Wal(#[from] WalError),
    /// An exemplar older than its series' newest.
    #[error("out of order exemplar (t={t})")]
    OutOfOrderExemplar {
        /// The exemplar's timestamp.
        t: i64,
    },
    /// The transaction is in the WAL and applied, but fsyncing the WAL failed: it may not
    /// survive a machine crash (retrying it is safe: the same samples are accepted again).
    #[error("fsync WAL: {0}")]
    WalSync(std::io::Error),
}

/// Series of the head, found by reference or by label hash; plus an inverted index of label
/// pairs whose names and values are interned (one allocation per distinct string).
#[derive(Default)]
pub(crate) struct SeriesStore {
    pub(crate) by_ref: HashMap<u64, Arc<MemSeries>>,
    by_hash: HashMap<u64, Vec<Arc<MemSeries>>>,
    /// name → value → series refs (ascending, as refs only grow).
    pub(crate) postings: BTreeMap<Arc<str>, BTreeMap<Arc<str>, Vec<u64>>>,
}

fn labels_hash(l: &Labels) -> u64 {
    let mut h = DefaultHasher::new();
    l.hash(&mut h);
    h.finish()
}

impl SeriesStore {
    fn get(&self, hash: u64, labels: &Labels) -> Option<&Arc<MemSeries>> {
        self.by_hash
            .get(&hash)
            .and_then(|v| v.iter().find(|s| s.labels() == labels))
    }

    fn insert(&mut self, hash: u64, s: Arc<MemSeries>) {
        let r = s.series_ref();
        for l in s.labels().iter() {
            let values = match self.postings.get_mut(l.name) {
                Some(v) => v,
                None => self.postings.entry(Arc::from(l.name)).or_default(),
            };
            let refs = match values.get_mut(l.value) {
                Some(r) => r,
                None => values.entry(Arc::from(l.value)).or_default(),
            };
            // Refs are handed out in increasing order, except during replay of an old WAL.
            match refs.last() {
                Some(&last) if last > r => {
                    let pos = refs.partition_point(|&x| x < r);
                    refs.insert(pos, r);
                }
                _ => refs.push(r),
            }
        }
        self.by_hash.entry(hash).or_default().push(s.clone());
        self.by_ref.insert(r, s);
    }

    /// Removes a series from every map and posting list.
    pub(crate) fn remove(&mut self, s: &Arc<MemSeries>) {
        let r = s.series_ref();
        if self.by_ref.get(&r).is_some_and(|x| Arc::ptr_eq(x, s)) {
            self.by_ref.remove(&r);
        }
        let hash = labels_hash(s.labels());
        if let Some(v) = self.by_hash.get_mut(&hash) {
            v.retain(|x| !Arc::ptr_eq(x, s));
            if v.is_empty() {
                self.by_hash.remove(&hash);
            }
        }
        for l in s.labels().iter() {
            let Some(values) = self.postings.get_mut(l.name) else {
                continue;
            };
            if let Some(refs) = values.get_mut(l.value) {
                if let Ok(pos) = refs.binary_search(&r) {
                    refs.remove(pos);
                }
                if refs.is_empty() {
                    values.remove(l.value);
                }
            }
            if values.is_empty() {
                self.postings.remove(l.name);
            }
        }
    }
}

/// The in-memory head block.
pub struct Head {
    opts: HeadOptions,
    pub(crate) series: RwLock<SeriesStore>,
    next_ref: AtomicU64,
    min_time: AtomicI64,
    max_time: AtomicI64,
    /// Samples before this time are rejected (the end of the newest persisted block).
    min_valid_time: AtomicI64,
    /// The WAL, when the head is durable. Held for the whole commit so that WAL order and
    /// in-memory order agree.
    pub(crate) wal: Mutex<Option<WalWriter>>,
    /// Deleted intervals per series, from tombstone records.
    pub(crate) tombstones: RwLock<HashMap<u64, Vec<(i64, i64)>>>,
    /// Group commit: the WAL writes not yet known durable.
    pub(crate) wal_sync: GroupSync,
    /// The write-behind log of out-of-order samples (locked after `wal`).
    pub(crate) wbl: Mutex<Option<WalWriter>>,
    /// Exemplars of the head's series.
    pub(crate) exemplars: exemplars::ExemplarStorage,
    /// The `chunks_head/` files full chunks are written to; without them chunks stay in
    /// memory.
    chunk_mapper: OnceLock<ChunkDiskMapper>,
    /// Chunk writes that failed (their chunks stayed in memory).
    mmap_failures: AtomicU64,
}

impl Head {
    /// An empty head without a WAL.
    pub fn new(opts: HeadOptions) -> Self {
        Head {
            opts,
            series: RwLock::new(SeriesStore::default()),
            next_ref: AtomicU64::new(1),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(i64::MIN),
            wal: Mutex::new(None),
            tombstones: RwLock::new(HashMap::new()),
            wal_sync: GroupSync::default(),
            wbl: Mutex::new(None),
            exemplars: exemplars::ExemplarStorage::new(opts.max_exemplars),
            chunk_mapper: OnceLock::new(),
            mmap_failures: AtomicU64::new(0),
        }
    }

    /// Writes full chunks to `mapper` from now on, keeping only their references in memory.
    /// Set once, before replay; returns the mapper back if one is already set.
    pub fn set_chunk_mapper(&self, mapper: ChunkDiskMapper) -> Result<(), ChunkDiskMapper> {
        self.chunk_mapper.set(mapper)
    }

    /// The `chunks_head/` files, if the head writes full chunks to them.
    pub fn chunk_mapper(&self) -> Option<&ChunkDiskMapper> {
        self.chunk_mapper.get()
    }

    /// Number of chunk writes to `chunks_head/` that failed (those chunks stay in memory;
    /// after the first failure no more chunks are written until the head is reopened).
    pub fn mmap_failures(&self) -> u64 {
        self.mmap_failures.load(Ordering::Relaxed)
    }

    /// After an append to a series: writes the chunks it cut to `chunks_head/`.
    pub(crate) fn mmap_cut_chunks(&self, series_ref: u64, d: &mut series::SeriesData) {
        if !d.has_unmapped() {
            return;
        }
        if let Some(m) = self.chunk_mapper.get() {
            if d.mmap_pending(series_ref, m).is_err() {
                self.mmap_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Deletes the `chunks_head/` files no series refers to any more (after
    /// [`Head::truncate_before`]). Returns the files deleted.
    pub fn truncate_chunk_files(&self) -> Result<Vec<u32>, ChunksHeadError> {
        let Some(m) = self.chunk_mapper.get() else {
            return Ok(Vec::new());
        };
        let min = self
            .read_series()
            .by_ref
            .values()
            .filter_map(|s| s.lock().min_mapped_seq())
            .min()
            .unwrap_or(u32::MAX);
        m.truncate_before(min)
    }

    /// Approximate bytes of chunk data the head holds in memory (closed chunks not written
    /// out, open chunks, and the per-chunk bookkeeping of mapped ones).
    pub fn chunk_memory_bytes(&self) -> usize {
        self.read_series()
            .by_ref
            .values()
            .map(|s| s.lock().chunk_memory_bytes())
            .sum()
    }

    /// The head's options.
    pub fn options(&self) -> HeadOptions {
        self.opts
    }

    /// Attaches a WAL: from now on commits are logged and fsynced before they are applied.
    pub fn set_wal(&self, wal: WalWriter) {
        *self.wal.lock().unwrap_or_else(|e| e.into_inner()) = Some(wal);
    }

    /// Detaches the WAL (to close it).
    pub fn take_wal(&self) -> Option<WalWriter> {
        self.wal.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Attaches the write-behind log that out-of-order samples are logged to.
    pub fn set_wbl(&self, wbl: WalWriter) {
        *self.wbl.lock().unwrap_or_else(|e| e.into_inner()) = Some(wbl);
    }

    /// Detaches the write-behind log (to close it).
    pub fn take_wbl(&self) -> Option<WalWriter> {
        self.wbl.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The exemplars of the series matching any of `selectors` in `[start, end]`.
    pub fn query_exemplars(
        &self,
        selectors: &[Vec<tsdb_index::Matcher>],
        start: i64,
        end: i64,
    ) -> Vec<(Labels, Vec<exemplars::Exemplar>)> {
        self.exemplars.select(selectors, start, end)
    }

    /// Number of out-of-order samples held.
    pub fn num_ooo_samples(&self) -> usize {
        self.read_series()
            .by_ref
            .values()
            .map(|s| s.lock().ooo.len())
            .sum()
    }

    /// Sets the oldest timestamp the head accepts.
    pub fn set_min_valid_time(&self, t: i64) {
        self.min_valid_time.store(t, Ordering::SeqCst);
    }

    /// Timestamp of the oldest sample, `i64::MAX` when empty.
    pub fn min_time(&self) -> i64 {
        self.min_time.load(Ordering::SeqCst)
    }

    /// Timestamp of the newest sample, `i64::MIN` when empty.
    pub fn max_time(&self) -> i64 {
        self.max_time.load(Ordering::SeqCst)
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.read_series().by_ref.len()
    }

    /// Number of chunks over all series (open ones included).
    pub fn num_chunks(&self) -> usize {
        self.read_series()
            .by_ref
            .values()
            .map(|s| s.lock().num_chunks())
            .sum()
    }

    /// Starts a transaction.
    pub fn appender(&self) -> HeadAppender<'_> {
        HeadAppender::new(self)
    }

    /// A querier over `[mint, maxt]`.
    pub fn querier(&self, mint: i64, maxt: i64) -> HeadQuerier<'_> {
        HeadQuerier::new(self, mint, maxt)
    }

    /// The series with reference `r`.
    pub fn series_by_ref(&self, r: u64) -> Option<Arc<MemSeries>> {
        self.read_series().by_ref.get(&r).cloned()
    }

    /// The series with exactly these labels.
    pub fn series_by_labels(&self, labels: &Labels) -> Option<Arc<MemSeries>> {
        self.read_series().get(labels_hash(labels), labels).cloned()
    }

    pub(crate) fn read_series(&self) -> std::sync::RwLockReadGuard<'_, SeriesStore> {
        self.series.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The series with these labels, created (with a new reference) if absent. Returns
    /// whether it was created.
    pub(crate) fn get_or_create(&self, labels: &Labels) -> (Arc<MemSeries>, bool) {
        let hash = labels_hash(labels);
        if let Some(s) = self.read_series().get(hash, labels) {
            return (s.clone(), false);
        }
        let mut store = self.series.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = store.get(hash, labels) {
            return (s.clone(), false);
        }
        let r = self.next_ref.fetch_add(1, Ordering::SeqCst);
        let s = Arc::new(MemSeries::new(r, labels.clone()));
        store.insert(hash, s.clone());
        (s, true)
    }

    /// During replay: the series with these labels, created with reference `r` if absent.
    pub(crate) fn get_or_create_with_ref(&self, r: u64, labels: &Labels) -> Arc<MemSeries> {
        let hash = labels_hash(labels);
        let mut store = self.series.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = store.get(hash, labels) {
            return s.clone();
        }
        let s = Arc::new(MemSeries::new(r, labels.clone()));
        store.insert(hash, s.clone());
        self.next_ref.fetch_max(r + 1, Ordering::SeqCst);
        s
    }

    /// Widens the head's time range to include `[mint, maxt]`.
    pub(crate) fn update_min_max(&self, mint: i64, maxt: i64) {
        self.min_time.fetch_min(mint, Ordering::SeqCst);
        self.max_time.fetch_max(maxt, Ordering::SeqCst);
    }

    /// The oldest timestamp an appender accepts, given the head's newest sample (`None` when
    /// the head is empty: the first sample decides).
    pub(crate) fn appendable_min_valid_time(&self) -> Option<i64> {
        let max = self.max_time();
        if max == i64::MIN {
            return None;
        }
        Some(
            self.min_valid_time
                .load(Ordering::SeqCst)
                .max(max.saturating_sub(self.opts.chunk_range / 2)),
        )
    }

    pub(crate) fn min_valid_time(&self) -> i64 {
        self.min_valid_time.load(Ordering::SeqCst)
    }
}
