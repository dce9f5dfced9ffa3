//! The database over a Prometheus data directory: persisted blocks plus the head and its WAL.
//!
//! Layout (as Prometheus writes it): `<dir>/wal/` (segments and checkpoints),
//! `<dir>/chunks_head/` (m-mapped head chunks; created empty, as we keep head chunks in memory),
//! and one directory per persisted block.

use std::path::{Path, PathBuf};

use crate::head::{Head, HeadAppender, HeadOptions, ReplayStats};
use crate::storage::{self, Querier, Queryable};
use crate::wlog::{self, WalError, WalOptions, WalWriter};

/// Name of the WAL directory inside a data directory.
pub const WAL_DIR: &str = "wal";
/// Name of the head chunks directory inside a data directory.
pub const CHUNKS_HEAD_DIR: &str = "chunks_head";

/// How a [`Db`] is opened.
#[derive(Debug, Clone, Default)]
pub struct DbOptions {
    /// Head chunk cutting.
    pub head: HeadOptions,
    /// WAL segment size and compression.
    pub wal: WalOptions,
}

/// Errors of [`Db`].
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A WAL failure that repair could not handle.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// An I/O failure on a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// What happened while opening.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Replay statistics.
    pub replay: ReplayStats,
    /// The corruption found and repaired, if any: records before it were kept.
    pub repaired: Option<wlog::CorruptionError>,
}

/// A Prometheus-compatible database directory, open for appends and queries.
///
/// ```
/// use tsdb_core::db::{Db, DbOptions};
/// use tsdb_index::Labels;
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::open(dir.path(), DbOptions::default()).unwrap();
/// let mut app = db.appender();
/// app.append(&Labels::from_pairs([("__name__", "up")]), 1000, 1.0).unwrap();
/// app.commit().unwrap(); // in the WAL and fsynced
/// db.close().unwrap();
/// let db = Db::open(dir.path(), DbOptions::default()).unwrap();
/// assert_eq!(db.head().num_series(), 1);
/// ```
pub struct Db {
    dir: PathBuf,
    head: Head,
    report: OpenReport,
}

impl Db {
    /// Opens (creating if needed) the data directory: replays the WAL into the head,
    /// repairing a damaged tail as Prometheus does (records before the damage are kept, the
    /// rest is cut off), then starts a new WAL segment for appends.
    pub fn open(dir: &Path, opts: DbOptions) -> Result<Db, DbError> {
        let wal_dir = dir.join(WAL_DIR);
        for d in [
            dir.to_path_buf(),
            wal_dir.clone(),
            dir.join(CHUNKS_HEAD_DIR),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| DbError::Io {
                path: d.clone(),
                source: e,
            })?;
        }
        let head = Head::new(opts.head);
        let mut report = OpenReport::default();
        match head.replay_wal(&wal_dir) {
            Ok(stats) => report.replay = stats,
            Err(WalError::Corruption(c)) if c.dir == wal_dir => {
                wlog::repair(&c)?;
                report.repaired = Some(c);
            }
            Err(e) => return Err(e.into()),
        }
        let wal = WalWriter::open(&wal_dir, opts.wal)?;
        head.set_wal(wal);
        Ok(Db {
            dir: dir.to_path_buf(),
            head,
            report,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What opening found (replay statistics, repaired damage).
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The head block.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Starts a transaction; its commit is durable when it returns `Ok`.
    pub fn appender(&self) -> HeadAppender<'_> {
        self.head.appender()
    }

    /// Flushes and closes the WAL.
    pub fn close(self) -> Result<(), DbError> {
        if let Some(w) = self.head.take_wal() {
            w.close()?;
        }
        Ok(())
    }
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier + '_>> {
        Queryable::querier(&self.head, mint, maxt)
    }
}
