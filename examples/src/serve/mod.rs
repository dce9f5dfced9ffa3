//! `tsdb serve`: a single node that takes Prometheus remote write (1.0 and 2.0) into a
//! Prometheus-layout database per tenant, and answers Prometheus' HTTP query API over it.
//!
//! Routes: `POST /api/v1/write`, the query API of [`crate::http_api`], `/metrics`,
//! `/-/healthy`, `/-/ready`. SIGINT or SIGTERM stop accepting requests, finish the ones in
//! flight, and close every database (flushing its WAL).

pub mod admin;
pub mod demo;
pub mod metadata;
pub mod metrics;
pub mod remote_write;
pub mod side_api;
pub mod tenants;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use promql::engine::{Engine, EngineOpts};
use tsdb_core::db::DbOptions;
use tsdb_core::retention::RetentionPolicy;

use crate::http_api::{self, ApiState};
use metrics::Metrics;
use tenants::Tenants;

/// Settings of a serving node.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Data directory; tenants live in sub-directories.
    pub data: PathBuf,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Headers naming the tenant of a request, first match wins.
    pub tenant_headers: Vec<String>,
    /// Tenant of requests that name none.
    pub default_tenant: String,
    /// Largest compressed remote-write body accepted, in bytes.
    pub max_body_len: usize,
    /// Largest decompressed remote-write body accepted, in bytes.
    pub max_decompressed_len: usize,
    /// Whether a remote-write request is acknowledged only after the WAL is fsynced (the
    /// default); `false` acknowledges once the WAL has the samples in the page cache, as
    /// Prometheus does (survives a process crash, not a power loss).
    pub wal_fsync: bool,
    /// Bucket URL (`file:///dir`, `s3://bucket/prefix?endpoint=..`, ...) that every tenant's
    /// new blocks are shipped to, under a prefix named after the tenant, if any.
    pub bucket: Option<tsdb_bucket::BucketSpec>,
    /// StoreAPI gRPC listen address (serves the default tenant), if any.
    pub grpc_listen: Option<SocketAddr>,
    /// External labels the StoreAPI adds to every series.
    pub external_labels: Vec<(String, String)>,
    /// How often every tenant's database runs its maintenance (Prometheus' every minute):
    /// the head is cut into 2 h blocks once it spans more than 3 h (WAL checkpointed), blocks
    /// are merged into larger ones (not when shipping to a bucket, whose compactor does it,
    /// as with Thanos), and retention deletes old blocks.
    pub compaction_interval: std::time::Duration,
    /// Retention of every tenant's blocks, by time and size (none by default).
    pub retention: RetentionPolicy,
    /// Whether `/api/v1/admin/tsdb/*` (delete series, clean tombstones, snapshot) is on, as
    /// Prometheus' `--web.enable-admin-api`.
    pub enable_admin_api: bool,
    /// Prometheus' `out_of_order_time_window` in ms (0: late samples are rejected).
    pub out_of_order_window: i64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            data: PathBuf::from("data"),
            listen: SocketAddr::from(([0, 0, 0, 0], 9090)),
            tenant_headers: vec!["X-Scope-OrgID".into(), "THANOS-TENANT".into()],
            default_tenant: "default-tenant".into(),
            max_body_len: 32 << 20,
            max_decompressed_len: 32 << 20,
            compaction_interval: std::time::Duration::from_secs(60),
            wal_fsync: true,
            bucket: None,
            grpc_listen: None,
            external_labels: Vec::new(),
            retention: RetentionPolicy::default(),
            enable_admin_api: false,
            out_of_order_window: 0,
        }
    }
}

/// Shared state of the handlers.
pub struct ServeState {
    /// The databases.
    pub tenants: Arc<Tenants>,
    /// The query API's state (engine, tenant headers).
    pub api: ApiState,
    /// The node's own metrics.
    pub metrics: Metrics,
    /// Limit passed to the remote-write decoder.
    pub max_decompressed_len: usize,
    /// Whether the admin API answers.
    pub admin_api: bool,
    /// Metric metadata per tenant.
    pub metadata: metadata::TenantMetadata,
    /// Tenant of requests that name none.
    pub default_tenant: String,
}

/// Whether `dir` already holds a Prometheus database (blocks or a WAL at its top level), in
/// which case the default tenant is served from it directly.
fn is_prometheus_dir(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        p.join("meta.json").is_file() || e.file_name() == "wal"
    })
}

/// Builds the router and its state.
pub fn app(cfg: &ServeConfig) -> (Router, Arc<ServeState>) {
    let mut db_opts = DbOptions::default();
    db_opts.wal.sync_on_commit = cfg.wal_fsync;
    db_opts.retention = cfg.retention;
    db_opts.head.ooo_window = cfg.out_of_order_window;
    // Blocks shipped to a bucket stay at 2 h: the bucket's compactor merges them, and a
    // block merged here would be shipped twice (Thanos asks the same of Prometheus).
    db_opts.no_block_compaction = cfg.bucket.is_some();
    let tenants = Arc::new(Tenants::new(
        cfg.data.clone(),
        cfg.default_tenant.clone(),
        is_prometheus_dir(&cfg.data),
        db_opts,
    ));
    let api = ApiState {
        source: tenants.clone(),
        engine: Arc::new(Engine::new(EngineOpts::default())),
        tenant_headers: Arc::new(cfg.tenant_headers.clone()),
        version: env!("CARGO_PKG_VERSION"),
    };
    let state = Arc::new(ServeState {
        tenants,
        api: api.clone(),
        metrics: Metrics::default(),
        max_decompressed_len: cfg.max_decompressed_len,
        admin_api: cfg.enable_admin_api,
        metadata: metadata::TenantMetadata::default(),
        default_tenant: cfg.default_tenant.clone(),
    });
    let node = Router::new()
        .route("/api/v1/write", post(remote_write::write))
        .route("/metrics", get(metrics_handler))
        .route("/-/healthy", get(|| async { "Healthy.\n" }))
        .route("/-/ready", get(|| async { "Ready.\n" }))
        .merge(admin::router())
        .merge(side_api::router())
        .layer(DefaultBodyLimit::max(cfg.max_body_len))
        .with_state(state.clone());
    let api_metrics = state.clone();
    let router = node
        .merge(http_api::router(api))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let m = api_metrics.clone();
                async move {
                    let path = req.uri().path().to_string();
                    let resp = next.run(req).await;
                    if path.starts_with("/api/v1/") && path != "/api/v1/write" {
                        let handler = if path.starts_with("/api/v1/label/") {
                            "/api/v1/label/:name/values"
                        } else {
                            path.as_str()
                        };
                        m.metrics.api_request(handler, resp.status().as_u16());
                    }
                    resp
                }
            },
        ));
    (router, state)
}

async fn metrics_handler(State(st): State<Arc<ServeState>>) -> impl IntoResponse {
    let per_tenant: Vec<(String, usize)> = st
        .tenants
        .all()
        .into_iter()
        .map(|(t, db)| (t, db.head().num_series()))
        .collect();
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        st.metrics.render(&per_tenant),
    )
}

/// Resolves when the process gets SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The StoreAPI over a database: external labels, and the time range of its blocks and head.
fn local_store(
    db: Arc<tsdb_core::db::Db>,
    external_labels: &[(String, String)],
) -> storeapi::grpc::LocalStore {
    let labels = tsdb_index::Labels::from_pairs(
        external_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let range_db = db.clone();
    storeapi::grpc::LocalStore::new(db, labels, move || {
        let blocks = range_db.blocks();
        let head = range_db.head();
        let min = blocks
            .blocks()
            .iter()
            .map(|b| b.meta().min_time)
            .chain((head.min_time() <= head.max_time()).then(|| head.min_time()))
            .min()
            .unwrap_or(i64::MAX);
        // A node that takes writes holds data up to now and beyond: like Thanos' receiver
        // it reports no upper bound, and while empty, no lower one.
        let min = if min == i64::MAX { i64::MIN } else { min };
        let max = i64::MAX;
        (min, max)
    })
    .with_component("receive")
}

/// Runs every open tenant's maintenance ([`tsdb_core::db::Db::compact`]) and, with a bucket, ships every
/// tenant's blocks not shipped yet (Thanos' shipper: `meta.json` last, state in
/// `thanos.shipper.json`, external labels plus `tenant_id` in the Thanos extension), forever.
async fn maintain_tenants(
    state: Arc<ServeState>,
    every: std::time::Duration,
    bucket: Option<tsdb_bucket::objstore::Bucket>,
    external_labels: Vec<(String, String)>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (tenant, db) in state.tenants.all() {
            if let Some(bucket) = &bucket {
                let mut labels: std::collections::BTreeMap<String, String> =
                    external_labels.iter().cloned().collect();
                labels.insert("tenant_id".into(), tenant.clone());
                let shipper = tsdb_bucket::shipper::Shipper::new(
                    db.dir().to_path_buf(),
                    bucket.with_prefix(&tenant),
                )
                .with_labels(labels)
                .with_source("receive");
                match shipper.sync().await {
                    Ok(r) if !r.uploaded.is_empty() => eprintln!(
                        "tsdb serve: tenant {tenant}: shipped {} block(s), {} bytes",
                        r.uploaded.len(),
                        r.bytes
                    ),
                    Ok(_) => {}
                    Err(e) => eprintln!("tsdb serve: tenant {tenant}: shipping failed: {e}"),
                }
            }
            let result = tokio::task::spawn_blocking(move || db.compact()).await;
            match result {
                Ok(Ok(report)) => log_compaction(&tenant, &report),
                Ok(Err(e)) => eprintln!("tsdb serve: tenant {tenant}: compaction failed: {e}"),
                Err(e) => eprintln!("tsdb serve: tenant {tenant}: compaction task failed: {e}"),
            }
        }
    }
}

fn log_compaction(tenant: &str, report: &tsdb_core::db::CompactionReport) {
    for s in report.head.iter().filter_map(|s| s.block.as_ref()) {
        eprintln!(
            "tsdb serve: tenant {tenant}: head cut into block {} [{}, {})",
            s.ulid, s.min_time, s.max_time
        );
    }
    for m in &report.merged {
        if let tsdb_core::compact::CompactOutcome::Written(m) = m {
            eprintln!(
                "tsdb serve: tenant {tenant}: blocks merged into {} [{}, {}) level {}",
                m.ulid, m.min_time, m.max_time, m.compaction.level
            );
        }
    }
    for u in &report.deleted {
        eprintln!("tsdb serve: tenant {tenant}: block {u} deleted by retention");
    }
}

/// Runs the node until `shutdown` resolves; `on_bound` learns the bound address (useful with
/// port 0). Closes every database before returning.
pub async fn run(
    cfg: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    std::fs::create_dir_all(&cfg.data)?;
    let (router, state) = app(&cfg);
    // Open the default tenant up front: a broken data directory fails at start, not at the
    // first request.
    state
        .tenants
        .db(None)
        .map_err(|e| std::io::Error::other(e.message))?;
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    on_bound(listener.local_addr()?);
    let bucket = match &cfg.bucket {
        Some(spec) => Some(
            spec.open()
                .map_err(|e| std::io::Error::other(format!("bucket {spec}: {e}")))?,
        ),
        None => None,
    };
    let compactor = tokio::spawn(maintain_tenants(
        state.clone(),
        cfg.compaction_interval,
        bucket,
        cfg.external_labels.clone(),
    ));
    let (grpc_stop, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
    let grpc = match cfg.grpc_listen {
        Some(addr) => {
            let db = state
                .tenants
                .db(None)
                .map_err(|e| std::io::Error::other(e.message))?;
            let listener = tokio::net::TcpListener::bind(addr).await?;
            eprintln!(
                "tsdb serve: StoreAPI gRPC listening on {}",
                listener.local_addr()?
            );
            let store = local_store(db, &cfg.external_labels);
            Some(tokio::spawn(storeapi::grpc::serve(
                Arc::new(store),
                listener,
                async {
                    let _ = grpc_stopped.await;
                },
            )))
        }
        None => None,
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    let _ = grpc_stop.send(());
    if let Some(g) = grpc {
        match g.await {
            Ok(Err(e)) => eprintln!("tsdb serve: gRPC server: {e}"),
            Err(e) => eprintln!("tsdb serve: gRPC task: {e}"),
            Ok(Ok(())) => {}
        }
    }
    compactor.abort();
    let _ = compactor.await;
    for (tenant, err) in state.tenants.close_all() {
        eprintln!("closing tenant {tenant}: {err}");
    }
    Ok(())
}
