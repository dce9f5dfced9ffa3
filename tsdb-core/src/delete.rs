//! The delete API for persisted blocks: marking samples of matching series deleted by writing
//! tombstones, as Prometheus' `Block.Delete` does.
//!
//! A deletion never rewrites chunks: it adds, for every series selected by the matchers that
//! has a chunk overlapping `[mint, maxt]`, the interval clamped to the series' own time span
//! to the block's `tombstones` file (merged with the existing intervals), and updates the
//! tombstone count in `meta.json`. Queriers hide deleted samples at once; compaction (or
//! [`crate::compact::Compactor::rewrite_without_tombstones`]) drops them for good.

use tsdb_index::postings::Postings as _;
use tsdb_index::{ChunkMeta, Label, Matcher};

use crate::block::reader::Block;
use crate::block::tombstones::{Interval, Tombstones};
use crate::block::BlockError;
use crate::querier::postings::select_postings;

/// Whether the block's range `[min_time, max_time)` meets the closed interval `[mint, maxt]`.
pub fn block_overlaps(block: &Block, mint: i64, maxt: i64) -> bool {
    let m = block.meta();
    m.min_time <= maxt && mint < m.max_time
}

/// Adds tombstones for `[mint, maxt]` to the series of `block` matching `matchers` and writes
/// the tombstones file and `meta.json` durably. Returns the block's new tombstones; the open
/// `block` keeps its old view, so reopen it (`Block::open`) to query with them.
///
/// An empty matcher list selects nothing (as a PromQL selector needs at least one matcher,
/// Prometheus' API refuses it); pass `__name__=~".+"`-like matchers to delete everything.
pub fn delete_in_block(
    block: &Block,
    matchers: &[Matcher],
    mint: i64,
    maxt: i64,
) -> Result<Tombstones, BlockError> {
    if mint > maxt {
        return Err(BlockError::Invalid(format!(
            "delete range [{mint}, {maxt}] is empty"
        )));
    }
    let mut stones = block.tombstones().clone();
    if matchers.is_empty() || !block_overlaps(block, mint, maxt) {
        return Ok(stones);
    }
    let mut postings =
        select_postings(block.index(), matchers).map_err(|e| block.index_error(e))?;
    let mut labels: Vec<Label<'_>> = Vec::new();
    let mut chunks: Vec<ChunkMeta> = Vec::new();
    let mut added = false;
    while postings.next() {
        let id = postings.at();
        block
            .index()
            .series(id, &mut labels, &mut chunks)
            .map_err(|e| block.index_error(e))?;
        if !chunks
            .iter()
            .any(|c| c.min_time <= maxt && mint <= c.max_time)
        {
            continue;
        }
        // Delete only up to the series' own samples, not beyond.
        let (first, last) = (chunks[0].min_time, chunks[chunks.len() - 1].max_time);
        stones.add(id, Interval::new(mint.max(first), maxt.min(last)));
        added = true;
    }
    if let Some(e) = postings.err() {
        return Err(block.index_error(e));
    }
    if added {
        stones.write_to_dir(block.dir())?;
        let mut meta = block.meta().clone();
        meta.stats.num_tombstones = stones.total();
        meta.write_to_dir(block.dir())?;
    }
    Ok(stones)
}
