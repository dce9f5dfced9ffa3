//! Caches of the bucket store, with Thanos' semantics: an index cache of postings lists and
//! series entries, and a chunks cache of fixed sub-ranges of chunk segment files, both keyed
//! by block ULID and item, and both in one of two backends: a bounded in-memory LRU
//! ([`lru::LruCache`], size in bytes) or memcached ([`memcached::MemcachedCache`]).
//!
//! A cache is only ever a shortcut: everything read through it is checksummed again by the
//! index and chunk readers, and a failing backend counts as a miss.

pub mod lru;
pub mod memcached;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use ulid::Ulid;

/// A key-value cache backend.
pub trait Cache: Send + Sync {
    /// The values of those `keys` that are cached.
    fn fetch(&self, keys: &[String]) -> HashMap<String, Bytes>;
    /// Stores `value` under `key` (best effort: a full or failing backend may drop it).
    fn store(&self, key: &str, value: Bytes);
    /// The backend's name, for logs and metrics.
    fn backend(&self) -> &'static str;
}

/// The kinds of cached items, as Thanos' `item_type` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A postings list of a block's index.
    Postings,
    /// A series entry of a block's index.
    Series,
    /// A sub-range of a chunk segment file.
    Chunks,
}

impl ItemKind {
    /// All kinds.
    pub const ALL: [ItemKind; 3] = [ItemKind::Postings, ItemKind::Series, ItemKind::Chunks];

    /// The name Thanos uses for the kind.
    pub fn name(self) -> &'static str {
        match self {
            ItemKind::Postings => "Postings",
            ItemKind::Series => "Series",
            ItemKind::Chunks => "chunks",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters of one item kind.
#[derive(Debug, Default)]
pub struct KindStats {
    /// Items looked up.
    pub requests: AtomicU64,
    /// Items found.
    pub hits: AtomicU64,
    /// Bytes of the items found.
    pub hit_bytes: AtomicU64,
    /// Items stored.
    pub stored: AtomicU64,
    /// Bytes of the items stored.
    pub stored_bytes: AtomicU64,
}

/// A snapshot of one kind's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    /// Items looked up.
    pub requests: u64,
    /// Items found.
    pub hits: u64,
    /// Bytes of the items found.
    pub hit_bytes: u64,
    /// Items stored.
    pub stored: u64,
    /// Bytes of the items stored.
    pub stored_bytes: u64,
}

impl KindCounts {
    /// Items looked up and not found.
    pub fn misses(&self) -> u64 {
        self.requests - self.hits
    }
}

/// Cache counters per item kind.
#[derive(Debug, Default)]
pub struct CacheStats {
    kinds: [KindStats; 3],
}

impl CacheStats {
    /// The counters of `kind`.
    pub fn kind(&self, kind: ItemKind) -> &KindStats {
        &self.kinds[kind.index()]
    }

    /// A snapshot of the counters of `kind`.
    pub fn counts(&self, kind: ItemKind) -> KindCounts {
        let k = self.kind(kind);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        KindCounts {
            requests: get(&k.requests),
            hits: get(&k.hits),
            hit_bytes: get(&k.hit_bytes),
            stored: get(&k.stored),
            stored_bytes: get(&k.stored_bytes),
        }
    }
}

/// A cache backend with its counters, shared by every block of a store.
#[derive(Clone)]
pub struct ItemCache {
    cache: Arc<dyn Cache>,
    stats: Arc<CacheStats>,
}

impl std::fmt::Debug for ItemCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemCache")
            .field("backend", &self.cache.backend())
            .finish_non_exhaustive()
    }
}

impl ItemCache {
    /// Counts the lookups and stores of `cache`.
    pub fn new(cache: Arc<dyn Cache>) -> Self {
        ItemCache {
            cache,
            stats: Arc::new(CacheStats::default()),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<CacheStats> {
        &self.stats
    }

    /// The backend's name.
    pub fn backend(&self) -> &'static str {
        self.cache.backend()
    }

    /// Looks up items of one kind.
    pub fn fetch(&self, kind: ItemKind, keys: &[String]) -> HashMap<String, Bytes> {
        let found = self.cache.fetch(keys);
        let k = self.stats.kind(kind);
        k.requests.fetch_add(keys.len() as u64, Ordering::Relaxed);
        k.hits.fetch_add(found.len() as u64, Ordering::Relaxed);
        let bytes: usize = found.values().map(|v| v.len()).sum();
        k.hit_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        found
    }

    /// Stores an item of one kind.
    pub fn store(&self, kind: ItemKind, key: &str, value: Bytes) {
        let k = self.stats.kind(kind);
        k.stored.fetch_add(1, Ordering::Relaxed);
        k.stored_bytes
            .fetch_add(value.len() as u64, Ordering::Relaxed);
        self.cache.store(key, value);
    }
}

/// The cache key of the postings list at `offset` of block `block`'s index (one list per
/// label pair, so the offset names the pair within the block).
pub fn postings_key(block: Ulid, offset: u64) -> String {
    format!("P:{block}:{offset}")
}

/// The cache key of the series entry at `offset` of block `block`'s index.
pub fn series_key(block: Ulid, offset: u64) -> String {
    format!("S:{block}:{offset}")
}

/// The cache key of bytes `[start, end)` of object `object` (`<ULID>/chunks/<segment>`), as
/// Thanos' caching bucket names sub-ranges.
pub fn subrange_key(object: &str, start: u64, end: u64) -> String {
    format!("subrange:{object}:{start}:{end}")
}
