//! Labels, matchers, postings and the Prometheus TSDB index format.
//!
//! - [`labels`], [`matcher`], [`fast_regex`]: label sets and label matchers.
//! - [`postings`]: postings cursors and their intersect / merge / subtract.
//! - [`reader`], [`writer`]: the index file format v2 (and reading v1).
//! - [`mem_postings`]: the in-memory postings index a head block keeps.
//! - [`postings_for_matchers`]: planning a selector into postings operations over any
//!   [`IndexReader`].

mod encoding;
pub mod error;
pub mod fast_regex;
pub mod labels;
pub mod lazy;
pub mod matcher;
pub mod mem_postings;
pub mod postings;
pub mod postings_for_matchers;
pub mod reader;
pub mod series;
pub mod symbols;
pub mod toc;
pub mod writer;

pub use error::IndexError;
pub use labels::{Label, Labels, LabelsBuilder};
pub use matcher::{MatchType, Matcher};
pub use mem_postings::MemPostings;
pub use postings::{BoxPostings, Postings, SeriesRef};
pub use postings_for_matchers::{postings_for_matchers, IndexReader};
pub use reader::Reader;
pub use series::ChunkMeta;
pub use writer::Writer;
