//! Persisted blocks: a directory `<ULID>/` holding `meta.json`, an `index`, chunk segment files
//! under `chunks/` and an optional `tombstones` file.
//!
//! [`meta`], [`chunks`] and [`tombstones`] own one file format each; [`reader`] opens a whole
//! block and [`writer`] builds one atomically.

pub mod chunks;
pub mod error;
pub mod fsutil;
pub mod meta;
pub mod reader;
pub mod tombstones;
pub mod writer;

pub use error::BlockError;
pub use meta::{BlockMeta, BlockStats};
pub use tombstones::{Interval, Tombstones};
