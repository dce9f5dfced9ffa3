//! The bucket store's counters, and their Prometheus text exposition (what `tsdb store`
//! serves on `/metrics`), named after Thanos' metrics where Thanos has one.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::block::HeaderStats;
use super::cache::{CacheStats, ItemKind};
use super::lazy_file::FetchStats;
use super::limits::LimitError;

/// Every counter of a [`super::BucketStore`].
#[derive(Debug)]
pub struct StoreMetrics {
    /// Bucket reads.
    pub fetch: Arc<FetchStats>,
    /// Index-header builds, reader loads and unloads.
    pub headers: Arc<HeaderStats>,
    /// Index cache lookups (postings and series), when there is an index cache.
    pub index_cache: Option<Arc<CacheStats>>,
    /// Chunks cache lookups, when there is a chunks cache.
    pub chunks_cache: Option<Arc<CacheStats>>,
    /// Requests refused by the series limit.
    pub dropped_series_limit: AtomicU64,
    /// Requests refused by the chunks limit.
    pub dropped_chunks_limit: AtomicU64,
}

impl StoreMetrics {
    pub(crate) fn new(
        index_cache: Option<Arc<CacheStats>>,
        chunks_cache: Option<Arc<CacheStats>>,
    ) -> Self {
        StoreMetrics {
            fetch: Arc::default(),
            headers: Arc::default(),
            index_cache,
            chunks_cache,
            dropped_series_limit: AtomicU64::new(0),
            dropped_chunks_limit: AtomicU64::new(0),
        }
    }

    pub(crate) fn count_limit(&self, e: &LimitError) {
        let c = match e {
            LimitError::Series { .. } => &self.dropped_series_limit,
            LimitError::Chunks { .. } => &self.dropped_chunks_limit,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut counter = |name: &str, help: &str, samples: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        counter(
            "thanos_objstore_bucket_operations_total",
            "Range reads sent to the bucket by the store.",
            &[(
                r#"{operation="get_range"}"#.into(),
                get(&self.fetch.requests),
            )],
        );
        counter(
            "tsdb_store_bucket_read_bytes_total",
            "Bytes received from the bucket by the store.",
            &[(String::new(), get(&self.fetch.bytes))],
        );
        let h = &self.headers;
        counter(
            "tsdb_store_indexheader_builds_total",
            "Index-headers built from the bucket, by reason.",
            &[
                (r#"{reason="missing"}"#.into(), get(&h.built)),
                (r#"{reason="invalid"}"#.into(), get(&h.rebuilt)),
            ],
        );
        counter(
            "tsdb_store_indexheader_reused_total",
            "Index-headers found valid on local disk.",
            &[(String::new(), get(&h.reused))],
        );
        counter(
            "thanos_bucket_store_indexheader_lazy_load_total",
            "Block readers loaded.",
            &[(String::new(), get(&h.loads))],
        );
        counter(
            "thanos_bucket_store_indexheader_lazy_unload_total",
            "Block readers dropped after being idle.",
            &[(String::new(), get(&h.unloads))],
        );
        counter(
            "thanos_bucket_store_queries_dropped_total",
            "Requests refused by a limit.",
            &[
                (
                    r#"{reason="series"}"#.into(),
                    get(&self.dropped_series_limit),
                ),
                (
                    r#"{reason="chunks"}"#.into(),
                    get(&self.dropped_chunks_limit),
                ),
            ],
        );
        let caches: Vec<(&CacheStats, ItemKind)> = [
            (self.index_cache.as_deref(), ItemKind::Postings),
            (self.index_cache.as_deref(), ItemKind::Series),
            (self.chunks_cache.as_deref(), ItemKind::Chunks),
        ]
        .into_iter()
        .filter_map(|(c, k)| c.map(|c| (c, k)))
        .collect();
        let per_kind = |f: fn(&super::cache::KindCounts) -> u64| -> Vec<(String, u64)> {
            caches
                .iter()
                .map(|(c, k)| (format!(r#"{{item_type="{}"}}"#, k.name()), f(&c.counts(*k))))
                .collect()
        };
        counter(
            "thanos_store_index_cache_requests_total",
            "Cache lookups, by item type.",
            &per_kind(|c| c.requests),
        );
        counter(
            "thanos_store_index_cache_hits_total",
            "Cache lookups that found the item, by item type.",
            &per_kind(|c| c.hits),
        );
        counter(
            "tsdb_store_cache_hit_bytes_total",
            "Bytes of the items found in the cache, by item type.",
            &per_kind(|c| c.hit_bytes),
        );
        counter(
            "thanos_store_index_cache_items_added_total",
            "Items stored in the cache, by item type.",
            &per_kind(|c| c.stored),
        );
        counter(
            "tsdb_store_cache_added_bytes_total",
            "Bytes of the items stored in the cache, by item type.",
            &per_kind(|c| c.stored_bytes),
        );
        out
    }
}
