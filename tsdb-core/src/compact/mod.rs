//! Compaction of persisted blocks: planning which blocks to merge ([`planner`]), merging the
//! chunks of a series across blocks ([`merge`]), writing the union of blocks as a new block
//! ([`populate`]), and the crash-safe replacement of the merged blocks ([`Compactor`],
//! [`gc`]).
//!
//! The protocol, as in Prometheus: the new block is built in `<ULID>.tmp-for-creation`,
//! fsynced and renamed into place; its `meta.json` lists its parents. Only then are the parents
//! removed (each renamed to `<ULID>.tmp-for-deletion`, then deleted). A crash before the
//! rename leaves a temporary directory that [`gc::cleanup_data_dir`] removes on open; a crash
//! after it leaves parents and child side by side, and the cleanup deletes the parents named
//! by the child. Either way every sample is readable exactly once.

pub mod data_dir;
pub mod gc;
mod goheap;
pub mod merge;
pub mod planner;
pub mod populate;

use std::path::{Path, PathBuf};

use ulid::Ulid;

use crate::block::meta::BlockMeta;
use crate::block::reader::Block;
use crate::block::BlockError;

pub use planner::{block_ranges_for_retention, exponential_block_ranges, LeveledPlanner};

/// Errors of planning and compaction.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// Reading or writing a block failed.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A chunk failed to decode or re-encode.
    #[error("{block}: {message}")]
    Chunk {
        /// The block directory (empty when not known).
        block: String,
        /// What failed.
        message: String,
    },
    /// The request makes no sense (no blocks, ...).
    #[error("{0}")]
    Invalid(String),
}

impl CompactError {
    pub(crate) fn chunk(e: impl std::fmt::Display) -> Self {
        CompactError::Chunk {
            block: String::new(),
            message: e.to_string(),
        }
    }
}

/// What a compaction produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompactOutcome {
    /// A new block was written.
    Written(BlockMeta),
    /// The inputs held no sample (all deleted): nothing was written and the inputs were
    /// marked deletable.
    Empty,
}

/// Merges blocks into one; see the module docs for the crash-safety protocol.
///
/// ```no_run
/// use tsdb_core::compact::{Compactor, LeveledPlanner, exponential_block_ranges};
/// let dir = std::path::Path::new("data");
/// let planner = LeveledPlanner::new(exponential_block_ranges(7_200_000, 10, 3)).unwrap();
/// let plan = planner.plan_dir(dir).unwrap();
/// if !plan.is_empty() {
///     Compactor::new().compact_dirs(dir, &plan).unwrap();
///     tsdb_core::compact::gc::cleanup_data_dir(dir).unwrap(); // removes the merged parents
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Compactor {}

impl Compactor {
    /// A compactor with Prometheus' defaults.
    pub fn new() -> Self {
        Compactor {}
    }

    /// Writes the union of the open `blocks` into a new block under `dest`. The inputs are not
    /// touched. On an empty result nothing is written.
    pub fn compact(&self, dest: &Path, blocks: &[&Block]) -> Result<CompactOutcome, CompactError> {
        let mut sorted: Vec<&Block> = blocks.to_vec();
        sorted.sort_by_key(|b| b.meta().min_time);
        let metas: Vec<&BlockMeta> = sorted.iter().map(|b| b.meta()).collect();
        let meta = populate::compact_block_metas(Ulid::new(), &metas);
        match populate::write_union(dest, meta, &sorted)? {
            Some(m) => Ok(CompactOutcome::Written(m)),
            None => Ok(CompactOutcome::Empty),
        }
    }

    /// Opens the block directories `dirs`, merges them into a new block under `dest`, and
    /// handles the outcome as Prometheus does: an empty result marks the inputs deletable; a
    /// failure marks them `compaction.failed` (so the planner skips them). The inputs are
    /// not deleted here: call [`gc::cleanup_data_dir`] (or [`gc::delete_block_dir`]) once the
    /// new block is in use.
    pub fn compact_dirs(
        &self,
        dest: &Path,
        dirs: &[PathBuf],
    ) -> Result<CompactOutcome, CompactError> {
        let blocks = dirs
            .iter()
            .map(|d| Block::open(d))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&Block> = blocks.iter().collect();
        match self.compact(dest, &refs) {
            Ok(CompactOutcome::Empty) => {
                for b in &blocks {
                    let mut m = b.meta().clone();
                    m.compaction.deletable = true;
                    m.write_to_dir(b.dir())?;
                }
                Ok(CompactOutcome::Empty)
            }
            Ok(w) => Ok(w),
            Err(e) => {
                for b in &blocks {
                    let mut m = b.meta().clone();
                    m.compaction.failed = true;
                    // The compaction error is what matters; a failure to flag is secondary.
                    let _ = m.write_to_dir(b.dir());
                }
                Err(e)
            }
        }
    }

    /// Rewrites one block without its tombstones (Prometheus' `CleanTombstones` for one block):
    /// the new block is a level-1 block covering the same range whose only parent is the old
    /// one. `Ok(None)` when the block has no tombstones (nothing to do);
    /// `Ok(Some(CompactOutcome::Empty))` when the tombstones cover everything. The old block
    /// is left in place for the caller to delete.
    pub fn rewrite_without_tombstones(
        &self,
        dest: &Path,
        block: &Block,
    ) -> Result<Option<CompactOutcome>, CompactError> {
        if block.tombstones().is_empty() {
            return Ok(None);
        }
        let base = block.meta();
        let ulid = Ulid::new();
        let mut meta = BlockMeta::new_level1(ulid, base.min_time, base.max_time);
        meta.compaction.parents = vec![crate::block::meta::BlockDesc {
            ulid: base.ulid,
            min_time: base.min_time,
            max_time: base.max_time,
        }];
        if base
            .compaction
            .hints
            .iter()
            .any(|h| h == crate::block::meta::HINT_FROM_OUT_OF_ORDER)
        {
            meta.compaction.hints = vec![crate::block::meta::HINT_FROM_OUT_OF_ORDER.to_string()];
        }
        Ok(Some(match populate::write_union(dest, meta, &[block])? {
            Some(m) => CompactOutcome::Written(m),
            None => CompactOutcome::Empty,
        }))
    }
}
