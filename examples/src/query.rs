//! `tsdb query`: the querier role. Serves Prometheus' HTTP query API over StoreAPI endpoints
//! (ours, or any Thanos component), fanning every select out to all of them and
//! deduplicating HA replicas by replica labels.

use std::net::SocketAddr;
use std::sync::Arc;

use storeapi::remote::{DedupFunc, RemoteStores};
use tsdb_core::storage::Queryable;

use crate::http_api::{self, ApiError, QueryableSource};

/// Settings of a querier.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// StoreAPI endpoints (`host:port`).
    pub endpoints: Vec<String>,
    /// Labels that tell HA replicas apart; series differing only in them are merged.
    pub replica_labels: Vec<String>,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Whether a failing store is left out with a warning (Thanos' default) rather than
    /// failing the query; a request's `partial_response` parameter overrides it.
    pub partial_response: bool,
    /// Coarsest downsampled data the stores may answer with, ms (Thanos'
    /// `max_source_resolution`; 0: raw data only).
    pub max_source_resolution: i64,
    /// How replicas are merged (Thanos' `--deduplication.func`; penalty by default).
    pub dedup_func: DedupFunc,
}

/// The same stores for every tenant; a request may turn partial responses on or off.
struct Everyone(RemoteStores);

impl QueryableSource for Everyone {
    fn queryable(&self, _tenant: Option<&str>) -> Result<Arc<dyn Queryable>, ApiError> {
        Ok(Arc::new(self.0.clone()))
    }

    fn queryable_with_partial_response(
        &self,
        _tenant: Option<&str>,
        partial_response: Option<bool>,
    ) -> Result<Arc<dyn Queryable>, ApiError> {
        Ok(Arc::new(match partial_response {
            Some(enabled) => self.0.with_partial_response(enabled),
            None => self.0.clone(),
        }))
    }
}

/// Runs the querier until `shutdown` resolves; `on_bound` learns the HTTP address.
pub async fn run(
    cfg: QueryConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let stores = RemoteStores::new(
        &cfg.endpoints,
        cfg.replica_labels.clone(),
        tokio::runtime::Handle::current(),
    )
    .map_err(std::io::Error::other)?
    .with_dedup_func(cfg.dedup_func);
    let router = http_api::read_only_node(Arc::new(Everyone(
        stores
            .with_partial_response(cfg.partial_response)
            .with_max_source_resolution(cfg.max_source_resolution),
    )));
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    on_bound(listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
