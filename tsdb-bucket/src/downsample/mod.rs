//! Thanos' downsampling: raw blocks to 5-minute aggregates, 5-minute blocks to 1-hour ones.
//!
//! - [`aggr_chunk`]: the aggregate chunk (encoding `0xFF`) holding count, sum, min, max and
//!   counter chunks for a series' windows.
//! - [`aggregate`]: the windowing and aggregation of float samples, and of aggregates into
//!   coarser aggregates, as Thanos computes them.
//! - [`block`]: [`downsample_block`], one block directory into a new downsampled block.
//! - [`serve`]: a block set's stored chunks (raw or aggregate) for the StoreAPI, choosing
//!   the coarsest resolution a request allows, as Thanos' store gateway does.
//!
//! The compactor ([`crate::compactor`]) downsamples the blocks of a bucket after compacting
//! it; queriers read the aggregates with [`storeapi::downsampled`].

pub mod aggr_chunk;
pub mod aggregate;
pub mod block;
pub mod serve;

pub use aggr_chunk::{AggrChunk, AggrChunkError, AggrType, AGGR_CHUNK_ENCODING};
pub use block::{downsample_block, DownsampleError, DownsampleReport};

/// Resolution of raw blocks.
pub const RES_RAW: i64 = 0;
/// The first downsampling level: 5 minutes, in ms.
pub const RES_5M: i64 = 300_000;
/// The second downsampling level: 1 hour, in ms.
pub const RES_1H: i64 = 3_600_000;
/// A raw block is downsampled to 5 m once it spans at least 40 hours.
pub const RAW_TO_5M_MIN_RANGE: i64 = 40 * 3_600_000;
/// A 5 m block is downsampled to 1 h once it spans at least 10 days.
pub const FIVE_MIN_TO_1H_MIN_RANGE: i64 = 10 * 24 * 3_600_000;
