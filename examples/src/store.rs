//! `tsdb store`: the store-gateway role. Serves the blocks of a bucket in place (see
//! `tsdb_bucket::store`) through Prometheus' HTTP query API and, optionally, Thanos'
//! StoreAPI, re-listing the bucket every `sync_interval`, with the caches, lazy block
//! readers and request limits of [`StoreTuning`], and the store's counters on `/metrics`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tsdb_bucket::store::cache::lru::LruCache;
use tsdb_bucket::store::cache::memcached::{MemcachedCache, MemcachedConfig};
use tsdb_bucket::store::cache::Cache;
use tsdb_bucket::store::limits::RequestLimits;
use tsdb_bucket::store::StoreOptions;
use tsdb_bucket::BucketStore;
use tsdb_core::storage::Queryable;

use crate::http_api::{self, ApiError, QueryableSource};

/// Settings of a store gateway.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The bucket (URL or objstore configuration).
    pub bucket: tsdb_bucket::BucketSpec,
    /// Local directory for the sparse copies of index and chunk files.
    pub cache_dir: PathBuf,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// StoreAPI gRPC listen address, if any.
    pub grpc_listen: Option<SocketAddr>,
    /// How often the bucket is listed again.
    pub sync_interval: Duration,
    /// Caches, lazy loading and limits.
    pub tuning: StoreTuning,
}

/// A cache, if configured.
type OptionalCache = Option<Arc<dyn Cache>>;

/// Caches, lazy loading and limits of a store gateway, as Thanos' store flags.
#[derive(Debug, Clone, Default)]
pub struct StoreTuning {
    /// In-memory index cache size in bytes (`--index-cache-size`; 0: none).
    pub index_cache_size: u64,
    /// In-memory chunks cache size in bytes (`--chunks-cache-size`; 0: none).
    pub chunks_cache_size: u64,
    /// memcached servers (`--memcached`): when given, both caches live there instead.
    pub memcached: Vec<String>,
    /// Open block readers on first use (`--store.enable-index-header-lazy-reader`).
    pub lazy: bool,
    /// Drop lazily opened readers idle this long
    /// (`--store.index-header-lazy-reader-idle-timeout`; zero: never).
    pub idle_timeout: Duration,
    /// Per-request limits (`--store.limits.request-series`, `--store.limits.request-samples`).
    pub limits: RequestLimits,
}

impl StoreTuning {
    /// The bucket store options these settings describe.
    pub fn options(&self) -> std::io::Result<StoreOptions> {
        let (index_cache, chunks_cache): (OptionalCache, OptionalCache) =
            if self.memcached.is_empty() {
                let lru = |size: u64| -> Option<Arc<dyn Cache>> {
                    (size > 0).then(|| Arc::new(LruCache::new(size, size / 2)) as Arc<dyn Cache>)
                };
                (lru(self.index_cache_size), lru(self.chunks_cache_size))
            } else {
                let m: Arc<dyn Cache> = Arc::new(
                    MemcachedCache::new(MemcachedConfig {
                        addresses: self.memcached.clone(),
                        ..Default::default()
                    })
                    .map_err(std::io::Error::other)?,
                );
                (Some(m.clone()), Some(m))
            };
        Ok(StoreOptions {
            index_cache,
            chunks_cache,
            lazy: self.lazy,
            idle_timeout: self.idle_timeout,
            limits: self.limits,
            max_gap: None,
        })
    }
}

/// The store for every tenant.
struct Gateway(Arc<BucketStore>);

impl QueryableSource for Gateway {
    fn queryable(&self, _tenant: Option<&str>) -> Result<Arc<dyn Queryable>, ApiError> {
        Ok(self.0.clone())
    }
}

/// Runs the gateway until `shutdown` resolves; `on_bound` learns the HTTP address. The
/// first sync happens before the HTTP listener is announced.
pub async fn run(
    cfg: StoreConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let bucket = cfg
        .bucket
        .open()
        .map_err(|e| std::io::Error::other(format!("bucket {}: {e}", cfg.bucket)))?;
    let store = BucketStore::with_options(bucket, &cfg.cache_dir, cfg.tuning.options()?)
        .map_err(std::io::Error::other)?;
    let store = Arc::new(store);
    let first = {
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.sync())
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?
    };
    eprintln!("tsdb store: serving {} blocks", first.serving);
    let syncer = tokio::spawn(sync_forever(store.clone(), cfg.sync_interval));
    let unloader = (cfg.tuning.lazy && !cfg.tuning.idle_timeout.is_zero())
        .then(|| tokio::spawn(unload_forever(store.clone(), cfg.tuning.idle_timeout)));

    let (grpc_stop, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
    let grpc = match cfg.grpc_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            eprintln!(
                "tsdb store: StoreAPI gRPC listening on {}",
                listener.local_addr()?
            );
            let ranges = store.clone();
            let local = storeapi::grpc::LocalStore::new(
                store.clone(),
                tsdb_index::Labels::default(),
                move || {
                    let sets = ranges.label_sets();
                    let min = sets.iter().map(|s| s.1).min().unwrap_or(i64::MAX);
                    let max = sets.iter().map(|s| s.2).max().unwrap_or(i64::MIN);
                    (min, max)
                },
            )
            .with_component("store")
            .with_chunked_storage(store.clone())
            .with_label_sets({
                let sets = store.clone();
                move || sets.label_sets()
            });
            Some(tokio::spawn(storeapi::grpc::serve(
                Arc::new(local),
                listener,
                async {
                    let _ = grpc_stopped.await;
                },
            )))
        }
        None => None,
    };

    let metrics = store.metrics().clone();
    let router = http_api::read_only_node(Arc::new(Gateway(store))).route(
        "/metrics",
        axum::routing::get(move || {
            let m = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    m.render(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    on_bound(listener.local_addr()?);
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    syncer.abort();
    if let Some(u) = unloader {
        u.abort();
    }
    let _ = grpc_stop.send(());
    if let Some(g) = grpc {
        let _ = g.await;
    }
    served
}

async fn sync_forever(store: Arc<BucketStore>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.sync()).await {
            Ok(Ok(r)) if !r.added.is_empty() || !r.removed.is_empty() => eprintln!(
                "tsdb store: {} blocks added, {} removed, serving {}",
                r.added.len(),
                r.removed.len(),
                r.serving
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("tsdb store: sync failed: {e}"),
            Err(e) => eprintln!("tsdb store: sync task failed: {e}"),
        }
    }
}

/// Drops idle block readers, checking ten times per idle timeout (as Thanos does).
async fn unload_forever(store: Arc<BucketStore>, idle: Duration) {
    let mut tick = tokio::time::interval((idle / 10).max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = store.clone();
        if let Ok(n @ 1..) = tokio::task::spawn_blocking(move || s.unload_idle()).await {
            eprintln!("tsdb store: dropped the readers of {n} idle blocks");
        }
    }
}
