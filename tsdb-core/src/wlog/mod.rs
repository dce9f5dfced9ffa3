//! The write-ahead log in Prometheus' `wlog` format (`<data>/wal/`).
//!
//! A WAL is a directory of segment files named `%08d`, each at most 128 MiB and made of 32 KiB
//! pages. A record (an encoded [`crate::record`] entry, optionally snappy-compressed as a whole)
//! is split into fragments that never cross a page: each fragment is
//! `type u8 | length u16 BE | CRC32C(data) u32 BE | data`. The low three type bits say whether
//! the fragment is a whole record (`full`) or its `first`, `middle` or `last` part (0 means the
//! rest of the page is zero padding); bit 3 marks snappy and bit 4 zstd compression. A record
//! never spans two segments.
//!
//! This module owns the format: [`SegmentReader`] replays segments and reports damage as a
//! typed [`CorruptionError`] with segment and offset, [`WalWriter`] appends and fsyncs records,
//! [`repair`] truncates a damaged tail the way Prometheus does, and [`checkpoint`] finds and
//! writes `checkpoint.NNNNNNNN/` directories.

pub mod checkpoint;
mod fragment;
mod reader;
pub mod repair;
mod writer;

use std::path::{Path, PathBuf};

pub use fragment::FragmentType;
pub use reader::SegmentReader;
pub use repair::repair;
pub use writer::{WalOptions, WalWriter};

/// Size of a WAL page: fragments never cross a page boundary.
pub const PAGE_SIZE: usize = 32 * 1024;
/// Size of a fragment header: type, length and CRC.
pub const FRAGMENT_HEADER_SIZE: usize = 7;
/// Default (and Prometheus') maximum segment size.
pub const DEFAULT_SEGMENT_SIZE: usize = 128 * 1024 * 1024;
/// Upper bound on a decoded record: a record is confined to one segment, and we never accept
/// segments larger than this, so no valid record decompresses beyond it.
pub const MAX_RECORD_SIZE: usize = 256 * 1024 * 1024;

/// Compression applied to whole records before fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Records are stored as they are.
    None,
    /// Snappy block format (Prometheus' default since 2.20).
    #[default]
    Snappy,
}

/// What was wrong at a damaged place of a WAL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorruptionKind {
    /// The segment ended in the middle of a record (a `first` or `middle` fragment without its
    /// `last`), or inside a fragment.
    #[error("last record is torn")]
    TornRecord,
    /// A page's zero padding held a non-zero byte.
    #[error("unexpected non-zero byte in padded page")]
    NonZeroPadding,
    /// A fragment's length runs past the end of its page.
    #[error("invalid fragment length {0}")]
    InvalidLength(u16),
    /// A fragment's data does not match its CRC32C.
    #[error("unexpected checksum {actual:08x}, expected {expected:08x}")]
    Checksum {
        /// The checksum stored in the fragment header.
        expected: u32,
        /// The checksum of the data read.
        actual: u32,
    },
    /// A fragment type that is not valid at this place (e.g. `middle` without `first`).
    #[error("unexpected {typ:?} fragment (fragment {index} of the record)")]
    UnexpectedFragment {
        /// The fragment's type.
        typ: FragmentType,
        /// How many fragments of the record preceded it.
        index: usize,
    },
    /// The fragment type bits hold no known type.
    #[error("unknown fragment type byte {0:#04x}")]
    UnknownFragmentType(u8),
    /// The record uses a compression this build does not decode.
    #[error("unsupported record compression (type byte {0:#04x})")]
    UnsupportedCompression(u8),
    /// The record failed to decompress.
    #[error("decompress record: {0}")]
    Decompress(String),
    /// The record's contents failed to decode.
    #[error("invalid record: {0}")]
    Record(String),
}

/// Damage found in a WAL segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("WAL corruption in {} segment {segment} at offset {offset} (record at {record_offset}): {kind}", dir.display())]
pub struct CorruptionError {
    /// The WAL (or checkpoint) directory.
    pub dir: PathBuf,
    /// Index of the damaged segment.
    pub segment: u64,
    /// Byte offset in the segment where the damage was detected.
    pub offset: u64,
    /// Byte offset in the segment where the damaged record starts: everything before it is
    /// intact, and repair truncates the segment here.
    pub record_offset: u64,
    /// What was wrong.
    pub kind: CorruptionKind,
}

/// Errors of the WAL.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O failure on a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A segment or checkpoint is damaged.
    #[error(transparent)]
    Corruption(#[from] CorruptionError),
    /// Segment numbers have a gap.
    #[error("segments in {} are not sequential: {prev} is followed by {next}", dir.display())]
    NotSequential {
        /// The WAL directory.
        dir: PathBuf,
        /// A segment index.
        prev: u64,
        /// The next index present.
        next: u64,
    },
    /// A record does not fit in an empty segment.
    #[error("record of {size} bytes does not fit a segment of {segment_size} bytes")]
    RecordTooLarge {
        /// Encoded record size.
        size: usize,
        /// The writer's segment size.
        segment_size: usize,
    },
    /// The segment size is not a positive multiple of the page size.
    #[error("invalid segment size {0}: must be a positive multiple of {PAGE_SIZE} up to {MAX_RECORD_SIZE}")]
    InvalidSegmentSize(usize),
    /// A checkpoint directory name is malformed.
    #[error("invalid checkpoint name {0}")]
    InvalidCheckpointName(String),
    /// A record failed to decode while rewriting (checkpoint).
    #[error("record in {}: {message}", dir.display())]
    Record {
        /// The directory being read.
        dir: PathBuf,
        /// What was wrong.
        message: String,
    },
}

impl WalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WalError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of the WAL.
pub type Result<T> = std::result::Result<T, WalError>;

/// The path of segment `index` in `dir` (`%08d`).
pub fn segment_name(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// One segment file of a WAL directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRef {
    /// The segment's number.
    pub index: u64,
    /// Its path.
    pub path: PathBuf,
}

/// The segments of `dir` in order. Entries whose name is not a number are ignored (as
/// Prometheus does); a gap in the numbering is an error.
pub fn list_segments(dir: &Path) -> Result<Vec<SegmentRef>> {
    let entries = std::fs::read_dir(dir).map_err(|e| WalError::io(dir, e))?;
    let mut refs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(index) = name.parse::<u64>() else {
            continue;
        };
        refs.push(SegmentRef {
            index,
            path: entry.path(),
        });
    }
    refs.sort_by_key(|r| r.index);
    for w in refs.windows(2) {
        if w[0].index + 1 != w[1].index {
            return Err(WalError::NotSequential {
                dir: dir.to_path_buf(),
                prev: w[0].index,
                next: w[1].index,
            });
        }
    }
    Ok(refs)
}

/// Fsyncs a directory so that file creations, renames and removals in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let f = std::fs::File::open(dir).map_err(|e| WalError::io(dir, e))?;
    f.sync_all().map_err(|e| WalError::io(dir, e))
}
