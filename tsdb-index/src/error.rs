//! Typed errors of the index reader and writer.
//!
//! Every error names the file it concerns and, for decoding errors, the section and the byte
//! offset where the problem was found, so that an operator can tell a corrupt block from a bug.

/// An error reading or writing an index file.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The operating system refused an operation on the file.
    #[error("{file}: {op}: {source}")]
    Io {
        /// The file concerned.
        file: String,
        /// What we were doing (e.g. "open", "mmap", "write").
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the index magic number.
    #[error("{file}: bad magic number {found:#010x}, want 0xbaaad700")]
    BadMagic {
        /// The file concerned.
        file: String,
        /// The first four bytes, big-endian.
        found: u32,
    },
    /// The format version byte is not one we can read.
    #[error("{file}: unsupported index format version {version}")]
    UnsupportedVersion {
        /// The file concerned.
        file: String,
        /// The version byte found.
        version: u8,
    },
    /// A stored CRC32-Castagnoli checksum does not match the bytes it covers.
    #[error("{file}: checksum mismatch in {section} at offset {offset}: stored {stored:#010x}, computed {computed:#010x}")]
    Crc {
        /// The file concerned.
        file: String,
        /// Which section ("symbols", "series", "postings", "postings offset table", "TOC").
        section: &'static str,
        /// Byte offset of the section or entry whose checksum failed.
        offset: u64,
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum of the bytes as found.
        computed: u32,
    },
    /// Bytes that cannot be decoded: truncated, out of range, inconsistent.
    #[error("{file}: corrupt {section} at offset {offset}: {reason}")]
    Corrupt {
        /// The file concerned.
        file: String,
        /// Which section.
        section: &'static str,
        /// Byte offset where decoding failed.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// The writer was given input that would make an invalid index (unsorted series, unknown
    /// symbols, out-of-order chunks, sizes beyond the format's limits).
    #[error("{file}: invalid index writer input: {reason}")]
    InvalidInput {
        /// The file being written.
        file: String,
        /// What was wrong.
        reason: String,
    },
}

/// A decoding failure before it is attributed to a file and section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// Absolute byte offset in the file.
    pub offset: u64,
    /// What was wrong.
    pub reason: &'static str,
}

impl DecodeError {
    /// Attributes the failure to `file` and `section`.
    pub(crate) fn into_index_error(self, file: &str, section: &'static str) -> IndexError {
        IndexError::Corrupt {
            file: file.to_string(),
            section,
            offset: self.offset,
            reason: self.reason.to_string(),
        }
    }
}
