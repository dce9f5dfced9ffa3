//! Whole-directory operations over a data directory's persisted blocks: compacting until
//! the planner is done, applying retention, deleting series and cleaning tombstones. They
//! work on the directory alone (no open database), so a `Db` or an offline tool can use them;
//! an open `Db` reloads its block set afterwards.
//!
//! Each operation leaves the directory consistent at every step: new blocks appear only when
//! complete, and replaced blocks are removed by [`super::gc::cleanup_data_dir`] only after
//! their replacement is durable.

use std::path::Path;

use tsdb_index::Matcher;
use ulid::Ulid;

use super::gc::{cleanup_data_dir, delete_block_dir};
use super::planner::{block_dirs, LeveledPlanner};
use super::{CompactError, CompactOutcome, Compactor};
use crate::block::meta::BlockMeta;
use crate::block::reader::Block;
use crate::block::BlockError;
use crate::delete::{block_overlaps, delete_in_block};
use crate::retention::{blocks_to_delete, dir_size, BlockUsage, RetentionPolicy};

/// Plans and compacts until the planner has nothing left, removing replaced blocks after
/// each step. Returns the outcome of every compaction, in order.
pub fn compact_until_done(
    data_dir: &Path,
    planner: &LeveledPlanner,
) -> Result<Vec<CompactOutcome>, CompactError> {
    let mut outcomes = Vec::new();
    cleanup_data_dir(data_dir)?;
    loop {
        let plan = planner.plan_dir(data_dir)?;
        if plan.is_empty() {
            return Ok(outcomes);
        }
        outcomes.push(Compactor::new().compact_dirs(data_dir, &plan)?);
        cleanup_data_dir(data_dir)?;
    }
}

/// Bytes that size retention counts besides the blocks: `wal/`, `wbl/` and `chunks_head/`.
pub fn head_bytes(data_dir: &Path) -> Result<u64, BlockError> {
    let mut total = 0;
    for d in ["wal", "wbl", "chunks_head"] {
        let p = data_dir.join(d);
        total += dir_size(&p).map_err(|e| BlockError::io(&p, "size", e))?;
    }
    Ok(total)
}

/// Deletes the blocks that `policy` (and deletable marks) select; returns their ULIDs.
pub fn apply_retention(data_dir: &Path, policy: RetentionPolicy) -> Result<Vec<Ulid>, BlockError> {
    let mut metas: Vec<(BlockMeta, u64)> = Vec::new();
    for dir in block_dirs(data_dir)? {
        let (meta, _) = BlockMeta::read_from_dir(&dir)?;
        let size = dir_size(&dir).map_err(|e| BlockError::io(&dir, "size", e))?;
        metas.push((meta, size));
    }
    let usage: Vec<BlockUsage<'_>> = metas
        .iter()
        .map(|(meta, size)| BlockUsage { meta, size: *size })
        .collect();
    let doomed = blocks_to_delete(&usage, head_bytes(data_dir)?, policy);
    for u in &doomed {
        delete_block_dir(data_dir, *u)?;
    }
    Ok(doomed.into_iter().collect())
}

/// Writes tombstones for `[mint, maxt]` of the series matching `matchers` into every block
/// overlapping that range; returns the ULIDs of the blocks that gained tombstones.
pub fn delete_series(
    data_dir: &Path,
    matchers: &[Matcher],
    mint: i64,
    maxt: i64,
) -> Result<Vec<Ulid>, BlockError> {
    let mut touched = Vec::new();
    for dir in block_dirs(data_dir)? {
        let block = Block::open(&dir)?;
        if !block_overlaps(&block, mint, maxt) {
            continue;
        }
        let after = delete_in_block(&block, matchers, mint, maxt)?;
        if after != *block.tombstones() {
            touched.push(block.meta().ulid);
        }
    }
    Ok(touched)
}

/// Rewrites every block that has tombstones without the deleted samples (a block left with
/// no sample disappears), then removes the old blocks. Returns the ULIDs of the rewritten
/// (removed) blocks.
pub fn clean_tombstones(data_dir: &Path) -> Result<Vec<Ulid>, CompactError> {
    cleanup_data_dir(data_dir)?;
    let mut cleaned = Vec::new();
    for dir in block_dirs(data_dir)? {
        let block = Block::open(&dir)?;
        let Some(outcome) = Compactor::new().rewrite_without_tombstones(data_dir, &block)? else {
            continue;
        };
        let ulid = block.meta().ulid;
        if outcome == CompactOutcome::Empty {
            // Nothing replaces it: mark it, so a crash before the deletion still removes it.
            let mut m = block.meta().clone();
            m.compaction.deletable = true;
            m.write_to_dir(block.dir())?;
        }
        drop(block);
        // The new block names the old one as its parent (or the old one is marked
        // deletable): the cleanup removes it.
        cleanup_data_dir(data_dir)?;
        cleaned.push(ulid);
    }
    Ok(cleaned)
}
