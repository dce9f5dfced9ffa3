//! Prometheus' chunk encodings, byte-identical to what Prometheus writes.
//!
//! A chunk packs a run of samples of one series into a compact bit stream. This crate reads and
//! writes every encoding Prometheus stores in blocks and head chunks.

pub mod bstream;
pub mod builder;
pub mod error;
pub mod float_histogram;
pub mod histogram;
pub mod histogram_meta;
pub mod varbit;

pub use error::ChunkError;
pub mod model;

pub use model::{CounterResetHint, FloatHistogram, Histogram, Span};
pub mod chunk;
pub mod xor;
pub mod xor2;

pub use chunk::{iter, ChunkIter, Encoding, FloatAppender, FloatEncoding, ValueKind};
pub use float_histogram::{FloatHistogramAppender, FloatHistogramIterator};
pub use histogram::{AppendOutcome, HistogramAppender, HistogramIterator};
pub use histogram_meta::CounterResetHeader;
pub use xor::{XorAppender, XorChunk, XorIterator};
pub use xor2::{Xor2Appender, Xor2Chunk, Xor2Iterator};
