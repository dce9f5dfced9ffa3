//! The error type of block reading and writing: every variant names the file involved, and
//! corruption errors also name the section and byte offset.

use std::path::{Path, PathBuf};

use crate::storage::StorageError;

/// Errors from reading or writing a block directory.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// An operating-system call failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What we were doing (`"open"`, `"read"`, `"fsync"`, ...).
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file's contents failed validation.
    #[error("{}: corrupt {section} at offset {offset}: {message}", file.display())]
    Corrupt {
        /// The file holding the bad data.
        file: PathBuf,
        /// The section or record kind (`"header"`, `"chunk"`, `"tombstones entries"`, ...).
        section: &'static str,
        /// Byte offset of the bad data within the file.
        offset: u64,
        /// What was wrong.
        message: String,
    },
    /// The index file failed to open or decode.
    #[error("{}: index: {message}", file.display())]
    Index {
        /// The index file.
        file: PathBuf,
        /// The index reader's error, rendered.
        message: String,
    },
    /// The caller asked for something invalid (out-of-order samples, a bad reference, ...).
    #[error("{0}")]
    Invalid(String),
}

impl BlockError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        BlockError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    /// A corruption error.
    pub fn corrupt(
        file: &Path,
        section: &'static str,
        offset: u64,
        message: impl Into<String>,
    ) -> Self {
        BlockError::Corrupt {
            file: file.to_path_buf(),
            section,
            offset,
            message: message.into(),
        }
    }
}

impl From<BlockError> for StorageError {
    fn from(e: BlockError) -> Self {
        match e {
            BlockError::Io { path, op, source } => StorageError::Io {
                path: format!("{} ({op})", path.display()),
                source,
            },
            BlockError::Corrupt { ref file, .. } | BlockError::Index { ref file, .. } => {
                StorageError::Corrupt {
                    file: file.display().to_string(),
                    message: e.to_string(),
                }
            }
            BlockError::Invalid(m) => StorageError::Other(m),
        }
    }
}
