//! Head chunks on disk (`<data>/chunks_head/`): full head chunks written to files in
//! Prometheus' head chunk format and read back through memory maps.
//!
//! The head writes every chunk it cuts here and keeps only a [`HeadChunkRef`] and the chunk's
//! time range in memory ([`ChunkDiskMapper`]). The files are not the source of durability:
//! the WAL is. They are written through a buffer and fsynced only when a file is finished or
//! the mapper closed, as Prometheus does; after a crash, [`ChunkDiskMapper::open`] cuts a
//! file at its first damaged record, drops the files after it, and the WAL replay rebuilds
//! whatever was lost. [`format`] documents the byte layout.

pub mod format;
mod mapper;

pub use format::{ChunkRecord, HeadChunkRef, RecordIter};
pub use mapper::{ChunkDiskMapper, OpenRepair};

use std::path::PathBuf;

/// What went wrong with a head chunk file.
#[derive(Debug, thiserror::Error)]
pub enum ChunksHeadError {
    /// An I/O failure on a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A file's header or one of its records is damaged.
    #[error("head chunk file {seq:06}, offset {offset}: {reason}")]
    Corrupt {
        /// The file's sequence number.
        seq: u32,
        /// Byte offset of the damage.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A reference to a file that is not there (deleted by truncation or never written).
    #[error("head chunk file {0:06} does not exist")]
    NoSuchFile(u32),
    /// An earlier write failed: the files are left alone until the head is reopened.
    #[error("head chunk writer stopped after an earlier error")]
    WriterFailed,
    /// A chunk too large for a head chunk file.
    #[error("chunk of {0} bytes does not fit a head chunk file")]
    ChunkTooLarge(usize),
}
