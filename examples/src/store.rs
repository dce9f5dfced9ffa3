//! `tsdb store`: the store-gateway role. Serves the blocks of a bucket in place (see
//! `tsdb_bucket::store`) through Prometheus' HTTP query API and, optionally, Thanos'
//! StoreAPI, re-listing the bucket every `sync_interval`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tsdb_bucket::{Bucket, BucketStore};
use tsdb_core::storage::Queryable;

use crate::http_api::{self, ApiError, QueryableSource};

/// Settings of a store gateway.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Bucket URL.
    pub bucket: String,
    /// Local directory for the sparse copies of index and chunk files.
    pub cache_dir: PathBuf,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// StoreAPI gRPC listen address, if any.
    pub grpc_listen: Option<SocketAddr>,
    /// How often the bucket is listed again.
    pub sync_interval: Duration,
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
    let bucket = Bucket::from_url(&cfg.bucket)
        .map_err(|e| std::io::Error::other(format!("--bucket {}: {e}", cfg.bucket)))?;
    let store = BucketStore::new(bucket, &cfg.cache_dir).map_err(std::io::Error::other)?;
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

    let router = http_api::read_only_node(Arc::new(Gateway(store)));
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    on_bound(listener.local_addr()?);
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    syncer.abort();
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
