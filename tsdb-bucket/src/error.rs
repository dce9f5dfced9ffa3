//! The error type of every bucket operation.

use std::path::PathBuf;

/// What went wrong, naming the object or file and the operation.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// The bucket URL or configuration is not usable.
    #[error("bad bucket configuration {url:?}: {message}")]
    Config {
        /// The URL or configuration as given.
        url: String,
        /// Why it is rejected.
        message: String,
    },
    /// An object-store operation failed (after retries).
    #[error("object store {op} {key:?}: {source}")]
    Store {
        /// The operation (get, put, list, ...).
        op: &'static str,
        /// The object key (relative to the bucket).
        key: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// A local file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The local path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A `meta.json`, marker or state file does not parse or is not a version we read.
    #[error("corrupt {what} {key:?}: {message}")]
    Corrupt {
        /// The kind of file (meta.json, deletion mark, shipper state).
        what: &'static str,
        /// The object key or local path.
        key: String,
        /// What was wrong.
        message: String,
    },
    /// The compactor found something it must not touch (overlapping blocks it may not
    /// merge, ...) and stopped; an operator has to look.
    #[error("compaction halted in group {group}: {message}")]
    Halt {
        /// The group, as `resolution@{labels}`.
        group: String,
        /// What was found.
        message: String,
    },
    /// Merging blocks failed.
    #[error(transparent)]
    Compact(#[from] tsdb_core::compact::CompactError),
    /// A block error from `tsdb-core`.
    #[error(transparent)]
    Block(#[from] tsdb_core::block::error::BlockError),
}

impl BucketError {
    pub(crate) fn store(op: &'static str, key: &str, source: object_store::Error) -> Self {
        BucketError::Store {
            op,
            key: key.to_string(),
            source,
        }
    }

    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        BucketError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}
