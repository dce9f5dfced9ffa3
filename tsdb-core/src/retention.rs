//! Retention: which persisted blocks to delete because they are too old, because the data
//! directory is too large, or because they were marked deletable, as Prometheus decides it.
//!
//! Blocks are considered newest first (by max time). Time retention keeps blocks whose max
//! time is less than `retention` behind the newest block's max time and drops the first
//! block at or beyond that distance together with every older one. Size retention adds up
//! the WAL (and head chunks) size and then block sizes from the newest block down, and drops
//! the block that crosses the limit and every older one. Retention deletes whole blocks only.

use std::collections::BTreeSet;

use ulid::Ulid;

use crate::block::meta::BlockMeta;

/// Retention limits; zero disables a limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep blocks whose max time is less than this many ms behind the newest block's (0: no
    /// time limit).
    pub time_ms: i64,
    /// Keep at most this many bytes of blocks plus WAL and head chunks (0 or less: no size
    /// limit).
    pub max_bytes: i64,
}

/// A block as retention sees it: its meta and its size on disk.
#[derive(Debug, Clone, Copy)]
pub struct BlockUsage<'a> {
    /// The block's meta.
    pub meta: &'a BlockMeta,
    /// Bytes on disk (what [`crate::block::reader::Block::size`] reports).
    pub size: u64,
}

fn newest_first<'a>(blocks: &[BlockUsage<'a>]) -> Vec<BlockUsage<'a>> {
    let mut v = blocks.to_vec();
    // Stable, so blocks with equal max time keep their given order.
    v.sort_by_key(|b| std::cmp::Reverse(b.meta.max_time));
    v
}

/// Blocks beyond the time retention.
pub fn beyond_time_retention(blocks: &[BlockUsage<'_>], retention_ms: i64) -> BTreeSet<Ulid> {
    let mut out = BTreeSet::new();
    if blocks.is_empty() || retention_ms == 0 {
        return out;
    }
    let sorted = newest_first(blocks);
    let newest = sorted[0].meta.max_time;
    for (i, b) in sorted.iter().enumerate() {
        if i > 0 && newest.saturating_sub(b.meta.max_time) >= retention_ms {
            out.extend(sorted[i..].iter().map(|b| b.meta.ulid));
            break;
        }
    }
    out
}

/// Blocks beyond the size retention, counting `wal_bytes` (WAL plus head chunks) first.
pub fn beyond_size_retention(
    blocks: &[BlockUsage<'_>],
    wal_bytes: u64,
    max_bytes: i64,
) -> BTreeSet<Ulid> {
    let mut out = BTreeSet::new();
    if blocks.is_empty() || max_bytes <= 0 {
        return out;
    }
    let sorted = newest_first(blocks);
    let mut total = wal_bytes;
    for (i, b) in sorted.iter().enumerate() {
        total = total.saturating_add(b.size);
        if total > max_bytes as u64 {
            out.extend(sorted[i..].iter().map(|b| b.meta.ulid));
            break;
        }
    }
    out
}

/// Every block to delete: marked deletable, beyond time retention or beyond size retention.
pub fn blocks_to_delete(
    blocks: &[BlockUsage<'_>],
    wal_bytes: u64,
    policy: RetentionPolicy,
) -> BTreeSet<Ulid> {
    let mut out: BTreeSet<Ulid> = blocks
        .iter()
        .filter(|b| b.meta.compaction.deletable)
        .map(|b| b.meta.ulid)
        .collect();
    out.extend(beyond_time_retention(blocks, policy.time_ms));
    out.extend(beyond_size_retention(blocks, wal_bytes, policy.max_bytes));
    out
}

/// Total size in bytes of the regular files under `dir` (recursively); 0 if it is missing.
pub fn dir_size(dir: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_dir() {
            total += dir_size(&entry.path())?;
        } else if ft.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(n: u128, mint: i64, maxt: i64) -> BlockMeta {
        BlockMeta::new_level1(Ulid::from_parts(1, n), mint, maxt)
    }

    fn ids(s: &BTreeSet<Ulid>) -> Vec<u128> {
        s.iter().map(|u| u.random()).collect()
    }

    #[test]
    fn time_retention_drops_the_first_block_at_the_limit_and_older() {
        let metas = [
            meta(1, 0, 100),
            meta(2, 100, 200),
            meta(3, 200, 300),
            meta(4, 300, 400),
        ];
        let usage: Vec<BlockUsage> = metas
            .iter()
            .map(|m| BlockUsage { meta: m, size: 10 })
            .collect();
        // newest max 400: 400-300=100 < 150 keep 3; 400-200=200 >= 150 drop 2 and 1.
        assert_eq!(ids(&beyond_time_retention(&usage, 150)), [1, 2]);
        assert_eq!(ids(&beyond_time_retention(&usage, 200)), [1, 2]);
        assert_eq!(ids(&beyond_time_retention(&usage, 201)), [1]);
        assert!(beyond_time_retention(&usage, 0).is_empty());
        assert!(beyond_time_retention(&usage, 10_000).is_empty());
        // The newest block is never dropped by time, however short the retention.
        assert_eq!(ids(&beyond_time_retention(&usage, 1)), [1, 2, 3]);
    }

    #[test]
    fn size_retention_counts_wal_first_then_newest_blocks() {
        let metas = [meta(1, 0, 100), meta(2, 100, 200), meta(3, 200, 300)];
        let usage: Vec<BlockUsage> = metas
            .iter()
            .map(|m| BlockUsage { meta: m, size: 100 })
            .collect();
        assert!(beyond_size_retention(&usage, 0, 300).is_empty());
        assert_eq!(ids(&beyond_size_retention(&usage, 1, 300)), [1]);
        assert_eq!(ids(&beyond_size_retention(&usage, 50, 200)), [1, 2]);
        // A WAL over the limit alone drops every block.
        assert_eq!(ids(&beyond_size_retention(&usage, 500, 300)), [1, 2, 3]);
        assert!(beyond_size_retention(&usage, 500, 0).is_empty());
    }

    #[test]
    fn deletable_marks_are_honoured() {
        let mut m2 = meta(2, 100, 200);
        m2.compaction.deletable = true;
        let metas = [meta(1, 0, 100), m2, meta(3, 200, 300)];
        let usage: Vec<BlockUsage> = metas
            .iter()
            .map(|m| BlockUsage { meta: m, size: 1 })
            .collect();
        assert_eq!(
            ids(&blocks_to_delete(&usage, 0, RetentionPolicy::default())),
            [2]
        );
        let p = RetentionPolicy {
            time_ms: 150,
            max_bytes: 0,
        };
        assert_eq!(ids(&blocks_to_delete(&usage, 0, p)), [1, 2]);
    }
}
