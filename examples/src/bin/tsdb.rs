//! The `tsdb` binary: tools over Prometheus-compatible block directories.
//!
//! ```text
//! tsdb list DIR [--human-readable]
//! tsdb analyze DIR [BLOCK] [--limit N] [--match SELECTOR]
//! tsdb dump DIR [--match SELECTOR ...] [--min-time MS] [--max-time MS]
//! tsdb import openmetrics FILE OUTDIR [--max-block-duration DUR] [--quiet] [--human-readable]
//! tsdb bucket upload DIR --bucket URL [--label k=v ...] | ls | inspect | verify --bucket URL
//!   (every bucket-aware command also takes --objstore.config-file FILE or --objstore.config YAML)
//! tsdb demo [--data DIR] [--instances N]
//! tsdb query --endpoint HOST:PORT ... [--replica-label NAME ...] [--listen ADDR]
//! tsdb serve [--data DIR] [--listen ADDR] [--grpc-listen ADDR] [--external-label K=V ...] [--bucket URL]
//!            [--tenant-header NAME ...] [--default-tenant ID]
//! ```

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tsdb_examples::cli;

#[derive(Parser)]
#[command(name = "tsdb", about = "Tools for Prometheus-compatible TSDB blocks")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the blocks of a data directory (like `promtool tsdb list`).
    List {
        /// Data directory holding block directories.
        dir: PathBuf,
        /// Print human-readable times and sizes.
        #[arg(short = 'r', long)]
        human_readable: bool,
    },
    /// Show label cardinality and churn of a block (like `promtool tsdb analyze`).
    Analyze {
        /// Data directory.
        dir: PathBuf,
        /// Block ULID (default: the newest block).
        block: Option<String>,
        /// How many items to show per list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only series matching this selector.
        #[arg(long = "match")]
        selector: Option<String>,
        /// Add the compaction analysis (chunk fill and size histograms).
        #[arg(long)]
        extended: bool,
    },
    /// Print every sample (like `promtool tsdb dump`).
    Dump {
        /// Data directory.
        dir: PathBuf,
        /// Series selector; repeatable (default: every series).
        #[arg(long = "match")]
        selectors: Vec<String>,
        /// Minimum timestamp in ms (inclusive).
        #[arg(long, default_value_t = i64::MIN, allow_hyphen_values = true)]
        min_time: i64,
        /// Maximum timestamp in ms (inclusive).
        #[arg(long, default_value_t = i64::MAX, allow_hyphen_values = true)]
        max_time: i64,
    },
    /// Serve a data directory: remote write in, Prometheus' HTTP query API out.
    Serve {
        /// Data directory (tenants in sub-directories; an existing Prometheus data directory
        /// is served as the default tenant).
        #[arg(long, default_value = "./data")]
        data: PathBuf,
        /// HTTP listen address.
        #[arg(long, default_value = "0.0.0.0:9090")]
        listen: std::net::SocketAddr,
        /// Request header naming the tenant; repeatable (default: X-Scope-OrgID and
        /// THANOS-TENANT).
        #[arg(long = "tenant-header")]
        tenant_headers: Vec<String>,
        /// Tenant of requests that name none.
        #[arg(long, default_value = "default-tenant")]
        default_tenant: String,
        /// Ship every tenant's new blocks to this bucket (`--bucket file:///dir`, `s3://...`,
        /// or a Thanos objstore configuration), under a prefix named after the tenant.
        #[command(flatten)]
        bucket: cli::bucket_args::BucketArgs,
        /// Acknowledge remote writes once the WAL holds them without waiting for fsync, as
        /// Prometheus does (a process crash loses nothing, a power loss may).
        #[arg(long)]
        no_wal_fsync: bool,
        /// Thanos StoreAPI gRPC listen address (serves the default tenant).
        #[arg(long)]
        grpc_listen: Option<std::net::SocketAddr>,
        /// External label NAME=VALUE added by the StoreAPI; repeatable.
        #[arg(long = "external-label", value_parser = parse_label_pair)]
        external_labels: Vec<(String, String)>,
        /// Delete blocks older than this behind the newest one (`15d`, `12h`); none by
        /// default.
        #[arg(long, value_parser = parse_duration)]
        retention_time: Option<i64>,
        /// Delete the oldest blocks while blocks, WAL and head chunks take more than this
        /// (`512MB`, `10GB`); none by default.
        #[arg(long, value_parser = parse_size)]
        retention_size: Option<i64>,
        /// Answer `/api/v1/admin/tsdb/*` (delete series, clean tombstones, snapshot).
        #[arg(long)]
        enable_admin_api: bool,
        /// Accept samples this much older than a series' newest (`30m`, `1h`), as
        /// Prometheus' `out_of_order_time_window` (default: none).
        #[arg(long, value_parser = parse_duration)]
        out_of_order_time_window: Option<i64>,
    },
    /// The querier: Prometheus' HTTP API over StoreAPI endpoints, deduplicating replicas.
    Query {
        /// StoreAPI endpoint `host:port`, or `dns+host:port` for every address of a name
        /// (re-resolved every 30 s); repeatable.
        #[arg(long = "endpoint", required = true)]
        endpoints: Vec<String>,
        /// Label that tells HA replicas apart; repeatable.
        #[arg(long = "replica-label")]
        replica_labels: Vec<String>,
        /// HTTP listen address.
        #[arg(long, default_value = "0.0.0.0:9091")]
        listen: std::net::SocketAddr,
        /// Fail a query when a store fails, instead of answering without it and with a
        /// warning (requests may still ask with `partial_response=true|false`).
        #[arg(long)]
        no_partial_response: bool,
        /// Coarsest resolution of downsampled data to read (Thanos' `max_source_resolution`:
        /// 0s raw only, 5m, 1h); stores answer with the coarsest blocks allowed.
        #[arg(long = "query.max-source-resolution", default_value = "0s", value_parser = parse_duration)]
        max_source_resolution: i64,
        /// How replicas are merged: `penalty` (Thanos' default: follow one replica, switch
        /// across gaps) or `chain` (every sample of every replica, each timestamp once).
        #[arg(long = "deduplication.func", default_value = "penalty")]
        dedup_func: storeapi::remote::DedupFunc,
    },
    /// Start a node on a fresh directory, remote-write a workload into it, query it, and
    /// print what happened (needs no other service).
    Demo {
        /// Data directory (default: a new temporary directory, removed afterwards).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Number of simulated instances.
        #[arg(long, default_value_t = 50)]
        instances: usize,
    },
    /// Thanos' sidecar next to a running Prometheus: its data over the StoreAPI (through
    /// remote read), its blocks shipped to a bucket.
    Sidecar {
        /// Prometheus' URL.
        #[arg(long, default_value = "http://localhost:9090")]
        prometheus: String,
        /// Prometheus' data directory (its `--storage.tsdb.path`).
        #[arg(long)]
        tsdb_path: PathBuf,
        /// Bucket to ship Prometheus' blocks to (URL or Thanos objstore configuration).
        #[command(flatten)]
        bucket: cli::bucket_args::BucketArgs,
        /// StoreAPI gRPC listen address.
        #[arg(long, default_value = "0.0.0.0:10901")]
        grpc_listen: std::net::SocketAddr,
        /// HTTP listen address (health endpoints).
        #[arg(long, default_value = "0.0.0.0:10902")]
        listen: std::net::SocketAddr,
        /// Prometheus' external label NAME=VALUE; repeatable.
        #[arg(long = "external-label", value_parser = parse_label_pair)]
        external_labels: Vec<(String, String)>,
        /// How often new blocks are looked for and shipped (Thanos: every 30 s).
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        ship_interval: i64,
    },
    /// The store gateway: Prometheus' HTTP query API (and, with `--grpc-listen`, Thanos'
    /// StoreAPI) over the blocks of a bucket, read in place.
    Store {
        /// The bucket: `--bucket URL` or a Thanos objstore configuration.
        #[command(flatten)]
        bucket: cli::bucket_args::BucketArgs,
        /// Local directory for the partial copies of index and chunk files.
        #[arg(long, default_value = "./store-cache")]
        cache_dir: PathBuf,
        /// HTTP listen address.
        #[arg(long, default_value = "0.0.0.0:9092")]
        listen: std::net::SocketAddr,
        /// Thanos StoreAPI gRPC listen address.
        #[arg(long)]
        grpc_listen: Option<std::net::SocketAddr>,
        /// How often the bucket is listed for new and deleted blocks.
        #[arg(long, default_value = "3m", value_parser = parse_duration)]
        sync_interval: i64,
        /// In-memory index cache (postings, series) size; 0B: none.
        #[arg(long, default_value = "250MB", value_parser = parse_size)]
        index_cache_size: i64,
        /// In-memory chunks cache size; 0B: none.
        #[arg(long, default_value = "0B", value_parser = parse_size)]
        chunks_cache_size: i64,
        /// memcached server host:port (repeatable): both caches in memcached instead.
        #[arg(long)]
        memcached: Vec<String>,
        /// Open a block's index-header reader on first use, not at sync.
        #[arg(long = "store.enable-index-header-lazy-reader")]
        lazy_reader: bool,
        /// Drop lazily opened readers idle this long (0s: never).
        #[arg(long = "store.index-header-lazy-reader-idle-timeout", default_value = "5m", value_parser = parse_duration)]
        lazy_idle_timeout: i64,
        /// Series one request may return (0: no limit).
        #[arg(long = "store.limits.request-series", default_value_t = 0)]
        request_series: u64,
        /// Samples one request may return, counted as 120 per chunk (0: no limit).
        #[arg(long = "store.limits.request-samples", default_value_t = 0)]
        request_samples: u64,
    },
    /// The bucket compactor (Thanos' `compact`): merges each group's blocks into larger
    /// ones, deduplicates replicas, applies retention and deletes marked blocks.
    Compact {
        /// The bucket: `--bucket URL` or a Thanos objstore configuration.
        #[command(flatten)]
        bucket: cli::bucket_args::BucketArgs,
        /// Local scratch directory for downloaded and merged blocks.
        #[arg(long, default_value = "./compact-data")]
        data_dir: PathBuf,
        /// Compaction range (repeatable, ascending; default 2h, 8h, 2d, 14d).
        #[arg(long = "block-range", value_parser = parse_duration)]
        block_ranges: Vec<i64>,
        /// External label telling HA replicas apart; their blocks are merged into one
        /// (repeatable).
        #[arg(long = "deduplication.replica-label")]
        replica_labels: Vec<String>,
        /// Merge overlapping blocks instead of halting on them.
        #[arg(long)]
        vertical_compaction: bool,
        /// How long a block marked for deletion stays before it is deleted.
        #[arg(long, default_value = "48h", value_parser = parse_duration)]
        delete_delay: i64,
        /// Do not downsample blocks (Thanos' `--downsampling.disable`).
        #[arg(long = "downsampling.disable")]
        downsampling_disable: bool,
        /// Retention of raw blocks (0d: forever).
        #[arg(long = "retention.resolution-raw", default_value = "0d", value_parser = parse_duration)]
        retention_raw: i64,
        /// Retention of 5m-downsampled blocks (0d: forever).
        #[arg(long = "retention.resolution-5m", default_value = "0d", value_parser = parse_duration)]
        retention_5m: i64,
        /// Retention of 1h-downsampled blocks (0d: forever).
        #[arg(long = "retention.resolution-1h", default_value = "0d", value_parser = parse_duration)]
        retention_1h: i64,
        /// Keep running, one pass every `--wait-interval`.
        #[arg(long)]
        wait: bool,
        /// Time between passes with `--wait`.
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        wait_interval: i64,
    },
    /// Blocks in object storage: upload, list, inspect, verify.
    Bucket {
        #[command(subcommand)]
        command: BucketCommand,
    },
    /// Import data into new blocks.
    Import {
        #[command(subcommand)]
        format: ImportFormat,
    },
}

#[derive(Subcommand)]
enum BucketCommand {
    /// Upload the blocks of a data directory (not yet in the bucket), `meta.json` last.
    Upload {
        /// Data directory holding block directories.
        dir: PathBuf,
        /// The bucket: `--bucket URL` or a Thanos objstore configuration.
        #[command(flatten)]
        bucket: cli::bucket_args::BucketArgs,
        /// External label `k=v` written into each block's Thanos meta; repeatable.
        #[arg(long = "label")]
        labels: Vec<String>,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print the ULID of every complete block in the bucket.
    Ls {
        /// The bucket: `--bucket URL` or a Thanos objstore configuration.
        #[command(flatten)]
        bucket: cli::bucket_args::BucketArgs,
    },
    /// A table of the bucket's blocks (time ranges, levels, resolutions, labels, sizes).
    Inspect {
        /// The bucket: `--bucket URL` or a Thanos objstore configuration.
        #[command(flatten)]
        bucket: cli::bucket_args::BucketArgs,
    },
    /// Check for overlaps, partial uploads, missing files and unreadable indexes; exits 1
    /// when it finds any.
    Verify {
        /// The bucket: `--bucket URL` or a Thanos objstore configuration.
        #[command(flatten)]
        bucket: cli::bucket_args::BucketArgs,
    },
}

#[derive(Subcommand)]
enum ImportFormat {
    /// OpenMetrics text (like `promtool tsdb create-blocks-from openmetrics`).
    Openmetrics {
        /// Input file.
        file: PathBuf,
        /// Output data directory (default: `data/`).
        #[arg(default_value = "data/")]
        out_dir: PathBuf,
        /// Maximum block duration, e.g. `2h`, `6h`, `24h` (rounded down to 2h × 3^k).
        #[arg(long, default_value = "2h")]
        max_block_duration: String,
        /// Print nothing.
        #[arg(short, long)]
        quiet: bool,
        /// Human-readable times and sizes in the block table.
        #[arg(short = 'r', long)]
        human_readable: bool,
    },
}

/// Parses `NAME=VALUE`.
fn parse_label_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

/// Parses a Prometheus duration (`2h`, `90m`, `1h30m`, `15d`) into ms.
fn parse_duration(s: &str) -> Result<i64, String> {
    promql::parser::parse_duration_ms(s).map_err(|_| format!("invalid duration {s:?}"))
}

/// Parses a size as Prometheus' `--storage.tsdb.retention.size` does: a whole number and a
/// base-2 unit (`B`, `KB`/`KiB`, `MB`/`MiB`, `GB`, `TB`, `PB`, `EB`; `512MB` is 512 MiB).
fn parse_size(s: &str) -> Result<i64, String> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    let n: i64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let shift = match unit.trim_end_matches("iB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return Err(format!("invalid size unit in {s:?}")),
    };
    if unit.is_empty() {
        return Err(format!("size {s:?} needs a unit (B, KB, MB, GB, ...)"));
    }
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Runs a long-lived role (`serve`, `query`, `store`, `sidecar`) on a new multi-threaded
/// runtime until it returns; `role` names it in errors.
fn run_role(
    role: &str,
    fut: impl std::future::Future<Output = std::io::Result<()>>,
) -> Result<(), cli::CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| cli::CliError::Other(format!("starting the runtime: {e}")))?;
    rt.block_on(fut)
        .map_err(|e| cli::CliError::Other(format!("{role}: {e}")))
}

fn run(args: Args) -> Result<(), cli::CliError> {
    let command = match args.command {
        Command::Serve {
            data,
            listen,
            tenant_headers,
            default_tenant,
            no_wal_fsync,
            bucket,
            grpc_listen,
            external_labels,
            retention_time,
            retention_size,
            enable_admin_api,
            out_of_order_time_window,
        } => {
            let mut cfg = tsdb_examples::serve::ServeConfig {
                data,
                listen,
                default_tenant,
                grpc_listen,
                external_labels,
                wal_fsync: !no_wal_fsync,
                bucket: bucket.spec()?,
                retention: tsdb_core::retention::RetentionPolicy {
                    time_ms: retention_time.unwrap_or(0),
                    max_bytes: retention_size.unwrap_or(0),
                },
                enable_admin_api,
                out_of_order_window: out_of_order_time_window.unwrap_or(0),
                ..Default::default()
            };
            if !tenant_headers.is_empty() {
                cfg.tenant_headers = tenant_headers;
            }
            return run_role(
                "serve",
                tsdb_examples::serve::run(cfg, tsdb_examples::serve::shutdown_signal(), |addr| {
                    eprintln!("tsdb serve: listening on {addr}")
                }),
            );
        }
        Command::Query {
            endpoints,
            replica_labels,
            listen,
            no_partial_response,
            max_source_resolution,
            dedup_func,
        } => {
            let cfg = tsdb_examples::query::QueryConfig {
                endpoints,
                replica_labels,
                listen,
                partial_response: !no_partial_response,
                max_source_resolution,
                dedup_func,
            };
            return run_role(
                "query",
                tsdb_examples::query::run(cfg, tsdb_examples::serve::shutdown_signal(), |addr| {
                    eprintln!("tsdb query: listening on {addr}")
                }),
            );
        }
        Command::Demo { data, instances } => {
            let workload = tsdb_examples::serve::demo::Workload {
                instances,
                ..Default::default()
            };
            let tmp;
            let dir = match data {
                Some(d) => d,
                None => {
                    tmp = tempfile::tempdir()?;
                    tmp.path().to_path_buf()
                }
            };
            return tsdb_examples::serve::demo::run_demo(&dir, workload)
                .map_err(cli::CliError::Other);
        }
        other => other,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    match command {
        Command::List {
            dir,
            human_readable,
        } => cli::list::run(&dir, human_readable, &mut out)?,
        Command::Analyze {
            dir,
            block,
            limit,
            selector,
            extended,
        } => cli::analyze::run(
            &dir,
            block.as_deref(),
            limit,
            selector.as_deref(),
            extended,
            &mut out,
        )?,
        Command::Dump {
            dir,
            selectors,
            min_time,
            max_time,
        } => cli::dump::run(&dir, &selectors, min_time, max_time, &mut out)?,
        Command::Import {
            format:
                ImportFormat::Openmetrics {
                    file,
                    out_dir,
                    max_block_duration,
                    quiet,
                    human_readable,
                },
        } => {
            let opts = cli::import::ImportOptions {
                max_block_duration: parse_duration(&max_block_duration)
                    .map_err(cli::CliError::Other)?,
                quiet,
                human_readable,
                progress: true,
            };
            cli::import::run(&file, &out_dir, &opts, &mut out)?;
        }
        Command::Sidecar {
            prometheus,
            tsdb_path,
            bucket,
            grpc_listen,
            listen,
            external_labels,
            ship_interval,
        } => {
            let cfg = tsdb_examples::sidecar::SidecarConfig {
                prometheus,
                tsdb_path,
                bucket: bucket.spec()?,
                grpc_listen,
                listen,
                external_labels,
                ship_interval: std::time::Duration::from_millis(ship_interval.max(100) as u64),
            };
            return run_role(
                "sidecar",
                tsdb_examples::sidecar::run(
                    cfg,
                    tsdb_examples::serve::shutdown_signal(),
                    |http, grpc| {
                        eprintln!("tsdb sidecar: listening on {http}");
                        eprintln!("tsdb sidecar: StoreAPI gRPC listening on {grpc}");
                    },
                ),
            );
        }
        Command::Store {
            bucket,
            cache_dir,
            listen,
            grpc_listen,
            sync_interval,
            index_cache_size,
            chunks_cache_size,
            memcached,
            lazy_reader,
            lazy_idle_timeout,
            request_series,
            request_samples,
        } => {
            let cfg = tsdb_examples::store::StoreConfig {
                bucket: bucket.required()?,
                cache_dir,
                listen,
                grpc_listen,
                sync_interval: std::time::Duration::from_millis(sync_interval.max(1000) as u64),
                tuning: tsdb_examples::store::StoreTuning {
                    index_cache_size: index_cache_size.max(0) as u64,
                    chunks_cache_size: chunks_cache_size.max(0) as u64,
                    memcached,
                    lazy: lazy_reader,
                    idle_timeout: std::time::Duration::from_millis(lazy_idle_timeout.max(0) as u64),
                    limits: tsdb_bucket::store::limits::RequestLimits::from_series_and_samples(
                        request_series,
                        request_samples,
                    ),
                },
            };
            return run_role(
                "store",
                tsdb_examples::store::run(cfg, tsdb_examples::serve::shutdown_signal(), |addr| {
                    eprintln!("tsdb store: listening on {addr}")
                }),
            );
        }
        Command::Compact {
            bucket,
            data_dir,
            block_ranges,
            replica_labels,
            vertical_compaction,
            delete_delay,
            retention_raw,
            retention_5m,
            retention_1h,
            downsampling_disable,
            wait,
            wait_interval,
        } => {
            let mut cfg = tsdb_bucket::CompactorConfig::new(data_dir);
            if !block_ranges.is_empty() {
                cfg.ranges = block_ranges;
            }
            cfg.replica_labels = replica_labels;
            cfg.vertical_compaction = vertical_compaction;
            cfg.delete_delay_secs = delete_delay / 1000;
            cfg.downsampling = !downsampling_disable;
            cfg.retention = tsdb_bucket::compactor::ResolutionRetention {
                raw_ms: retention_raw,
                five_minutes_ms: retention_5m,
                one_hour_ms: retention_1h,
            };
            let every = wait.then(|| std::time::Duration::from_millis(wait_interval.max(1) as u64));
            cli::compact::run(&bucket.required()?, cfg, every, &mut out)?
        }
        Command::Bucket { command } => match command {
            BucketCommand::Upload {
                dir,
                bucket,
                labels,
                quiet,
            } => cli::bucket::upload(&dir, &bucket.required()?, &labels, quiet, &mut out)?,
            BucketCommand::Ls { bucket } => cli::bucket::ls(&bucket.required()?, &mut out)?,
            BucketCommand::Inspect { bucket } => {
                cli::bucket::inspect(&bucket.required()?, &mut out)?
            }
            BucketCommand::Verify { bucket } => {
                let issues = cli::bucket::verify(&bucket.required()?, &mut out)?;
                if issues > 0 {
                    out.flush()?;
                    return Err(cli::CliError::Other(format!("{issues} issues found")));
                }
            }
        },
        Command::Serve { .. } | Command::Demo { .. } | Command::Query { .. } => {}
    }
    out.flush()?;
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(cli::CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
