//! The error type of every chunk decoder and appender.

use thiserror::Error;

/// What went wrong while decoding or appending to a chunk.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChunkError {
    /// The bit stream ended before a complete sample was read.
    #[error("chunk data ends in the middle of a sample")]
    UnexpectedEnd,
    /// A varint ran past 64 bits.
    #[error("varint in chunk data overflows 64 bits")]
    VarintOverflow,
    /// The chunk is shorter than its fixed header.
    #[error("chunk of {len} bytes is shorter than its {header}-byte header")]
    TooShort {
        /// Length of the chunk data.
        len: usize,
        /// Length of the header the encoding needs.
        header: usize,
    },
    /// The encoding byte names no encoding we know.
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u8),
    /// A bit pattern that the encoding never produces.
    #[error("invalid bit pattern {pattern:#b} in {field}")]
    InvalidPattern {
        /// Which field was being decoded.
        field: &'static str,
        /// The offending prefix bits.
        pattern: u64,
    },
    /// A decoded value is out of the range the format allows.
    #[error("corrupt chunk: {0}")]
    Corrupt(&'static str),
    /// The chunk already holds the maximum number of samples.
    #[error("chunk is full ({0} samples)")]
    Full(usize),
    /// A sample was appended out of timestamp order.
    #[error("sample at {t} is not after the last sample of the chunk at {last}")]
    OutOfOrder {
        /// Timestamp of the rejected sample.
        t: i64,
        /// Timestamp of the chunk's last sample.
        last: i64,
    },
    /// A histogram chunk names a schema this crate cannot decode.
    #[error("histogram chunk has unknown schema {0}")]
    UnknownSchema(i32),
    /// A histogram's bucket counts do not match its spans.
    #[error("invalid histogram: {0}")]
    InvalidHistogram(&'static str),
    /// In append-only mode, the histogram would need a new chunk or a recoding of this one.
    #[error("histogram not appendable without cutting or recoding the chunk: {0}")]
    NotAppendable(&'static str),
}
