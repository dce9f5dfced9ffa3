//! The leveled compaction planner: which persisted blocks to merge next.
//!
//! It decides as Prometheus' `LeveledCompactor` plans:
//! 1. Blocks whose time ranges overlap are merged first (vertical compaction): the first run
//!    of mutually overlapping blocks, in min-time order.
//! 2. Otherwise the newest block (largest min time) is left alone, so a freshly cut block
//!    stays as it is for one block range, and the remaining blocks are grouped by the
//!    configured ranges (2 h, 6 h, 18 h, ... by default): for each range after the first, the
//!    blocks falling into one aligned window of that range are merged when they fill the
//!    window or end before the newest block starts, and none of them is marked
//!    `compaction.failed`.
//! 3. Otherwise the newest large block (at least the middle range long) with more than 5 %
//!    tombstones per series is rewritten alone; a smaller block only when its tombstones are
//!    at least as many as its series.

use std::path::{Path, PathBuf};

use ulid::Ulid;

use crate::block::meta::BlockMeta;
use crate::block::reader::is_block_dir_name;
use crate::block::BlockError;

/// Two hours in milliseconds: Prometheus' default (minimum) block range.
pub const DEFAULT_BLOCK_DURATION_MS: i64 = 2 * 3600 * 1000;
/// 31 days in milliseconds: the largest block range Prometheus builds by default.
pub const MAX_BLOCK_DURATION_CAP_MS: i64 = 31 * 24 * 3600 * 1000;

/// `steps` ranges starting at `min_size`, each `step_size` times the previous one.
///
/// ```
/// use tsdb_core::compact::planner::exponential_block_ranges;
/// assert_eq!(exponential_block_ranges(20, 4, 3), [20, 60, 180, 540]);
/// ```
pub fn exponential_block_ranges(min_size: i64, steps: usize, step_size: i64) -> Vec<i64> {
    let mut out = Vec::with_capacity(steps);
    let mut cur = min_size;
    for _ in 0..steps {
        out.push(cur);
        cur = cur.saturating_mul(step_size);
    }
    out
}

/// The compaction ranges Prometheus uses for a given time retention (ms, 0 = none): ten
/// ranges from `min_block` growing by a factor of 3, cut off above the maximum block duration,
/// which is retention / 10 but at most 31 days (and never below `min_block`).
///
/// ```
/// use tsdb_core::compact::planner::{block_ranges_for_retention, DEFAULT_BLOCK_DURATION_MS};
/// let h = 3_600_000;
/// // 15 days of retention: blocks up to 36 h, so 2 h, 6 h and 18 h.
/// assert_eq!(block_ranges_for_retention(DEFAULT_BLOCK_DURATION_MS, 15 * 24 * h),
///            [2 * h, 6 * h, 18 * h]);
/// ```
pub fn block_ranges_for_retention(min_block: i64, retention_ms: i64) -> Vec<i64> {
    let min_block = if min_block <= 0 {
        DEFAULT_BLOCK_DURATION_MS
    } else {
        min_block
    };
    let mut max_block = MAX_BLOCK_DURATION_CAP_MS;
    if retention_ms != 0 && retention_ms / 10 < max_block {
        max_block = retention_ms / 10;
    }
    let max_block = max_block.max(min_block);
    let mut ranges = exponential_block_ranges(min_block, 10, 3);
    if let Some(cut) = ranges.iter().position(|&r| r > max_block) {
        ranges.truncate(cut);
    }
    ranges
}

/// Plans leveled and vertical compactions; see the module docs.
#[derive(Debug, Clone)]
pub struct LeveledPlanner {
    ranges: Vec<i64>,
    overlapping: bool,
}

impl LeveledPlanner {
    /// A planner over `ranges` (ascending, the first being the head's block range), with
    /// overlapping-block compaction enabled as in Prometheus. `None` when `ranges` is empty or
    /// holds a range that is not positive.
    pub fn new(ranges: Vec<i64>) -> Option<Self> {
        if ranges.is_empty() || ranges.iter().any(|&r| r <= 0) {
            return None;
        }
        Some(LeveledPlanner {
            ranges,
            overlapping: true,
        })
    }

    /// Turns vertical (overlapping) compaction on or off; downstream systems that compact
    /// elsewhere (Thanos, Mimir) turn it off.
    pub fn with_overlapping_compaction(mut self, enabled: bool) -> Self {
        self.overlapping = enabled;
        self
    }

    /// The configured ranges.
    pub fn ranges(&self) -> &[i64] {
        &self.ranges
    }

    /// The ULIDs of the blocks to merge next (in min-time order), or nothing.
    pub fn plan(&self, metas: &[BlockMeta]) -> Vec<Ulid> {
        let mut dms: Vec<&BlockMeta> = metas.iter().collect();
        dms.sort_by_key(|m| m.min_time);

        let overlapping = self.select_overlapping(&dms);
        if !overlapping.is_empty() {
            return overlapping;
        }
        if dms.is_empty() {
            return Vec::new();
        }
        // The newest block (largest min time) just came from the head: leave it alone.
        dms.pop();

        let selected = self.select_ranges(&dms);
        if !selected.is_empty() {
            return selected.iter().map(|m| m.ulid).collect();
        }

        let middle = self.ranges[self.ranges.len() / 2];
        for m in dms.iter().rev() {
            if m.max_time.saturating_sub(m.min_time) < middle {
                let s = &m.stats;
                if s.num_tombstones > 0 && s.num_tombstones >= s.num_series {
                    return vec![m.ulid];
                }
                break;
            }
            let s = &m.stats;
            if s.num_tombstones as f64 / (s.num_series + 1) as f64 > 0.05 {
                return vec![m.ulid];
            }
        }
        Vec::new()
    }

    /// Reads the `meta.json` of every block directory under `data_dir` and plans; returns the
    /// block directories to merge.
    pub fn plan_dir(&self, data_dir: &Path) -> Result<Vec<PathBuf>, BlockError> {
        let metas = read_block_metas(data_dir)?;
        let plan = self.plan(&metas);
        Ok(plan
            .into_iter()
            .map(|u| data_dir.join(u.to_string()))
            .collect())
    }

    fn select_overlapping(&self, dms: &[&BlockMeta]) -> Vec<Ulid> {
        if !self.overlapping || dms.len() < 2 {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut global_max = dms[0].max_time;
        for i in 1..dms.len() {
            let d = dms[i];
            if d.min_time < global_max {
                if out.is_empty() {
                    out.push(dms[i - 1].ulid);
                }
                out.push(d.ulid);
            } else if !out.is_empty() {
                break;
            }
            global_max = global_max.max(d.max_time);
        }
        out
    }

    fn select_ranges<'m>(&self, dms: &[&'m BlockMeta]) -> Vec<&'m BlockMeta> {
        if self.ranges.len() < 2 || dms.is_empty() {
            return Vec::new();
        }
        let high_time = dms[dms.len() - 1].min_time;
        for &iv in &self.ranges[1..] {
            for part in split_by_range(dms, iv) {
                if part.iter().any(|m| m.compaction.failed) {
                    continue;
                }
                let mint = part[0].min_time;
                let maxt = part[part.len() - 1].max_time;
                if (maxt.checked_sub(mint) == Some(iv) || maxt <= high_time) && part.len() > 1 {
                    return part;
                }
            }
        }
        Vec::new()
    }
}

/// Groups min-time-sorted blocks by aligned windows `[k*tr, (k+1)*tr)`: each group holds
/// consecutive blocks lying wholly inside one window; blocks straddling a window border (or
/// longer than `tr`) belong to no group.
pub fn split_by_range<'m>(dms: &[&'m BlockMeta], tr: i64) -> Vec<Vec<&'m BlockMeta>> {
    let mut out = Vec::new();
    if tr <= 0 {
        return out;
    }
    let mut i = 0;
    while i < dms.len() {
        let m = dms[i];
        // Start of the aligned window holding the block's start (floor division).
        let Some(t0) = m.min_time.checked_sub(m.min_time.rem_euclid(tr)) else {
            i += 1;
            continue;
        };
        let end = t0.saturating_add(tr);
        if m.max_time > end {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < dms.len() && dms[i].max_time <= end {
            group.push(dms[i]);
            i += 1;
        }
        if !group.is_empty() {
            out.push(group);
        }
    }
    out
}

/// The metas of every block directory (named by a ULID) directly under `data_dir`.
pub fn read_block_metas(data_dir: &Path) -> Result<Vec<BlockMeta>, BlockError> {
    let mut out = Vec::new();
    for dir in block_dirs(data_dir)? {
        out.push(BlockMeta::read_from_dir(&dir)?.0);
    }
    Ok(out)
}

/// Every directory directly under `data_dir` whose name is a ULID, sorted by name.
pub fn block_dirs(data_dir: &Path) -> Result<Vec<PathBuf>, BlockError> {
    let entries =
        std::fs::read_dir(data_dir).map_err(|e| BlockError::io(data_dir, "read dir", e))?;
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BlockError::io(data_dir, "read dir", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_block_dir_name(name) && entry.path().is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}
