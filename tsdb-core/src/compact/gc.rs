//! Cleaning a data directory after a crash or a compaction: leftover temporary block
//! directories are removed, and blocks that a newer block names as its parents (or that are
//! marked deletable) are deleted, so that no sample is read twice.
//!
//! Block deletion is atomic: the block directory is first renamed to
//! `<ULID>.tmp-for-deletion` (and the rename fsynced), then removed; a crash in between leaves
//! only a temporary directory, which the next cleanup removes.
//!
//! Deleting a block that an open [`crate::block::reader::Block`] still reads is safe on Linux
//! and other Unix systems: the index and chunk files are memory-mapped and tombstones held in
//! memory, and unlinking files keeps their mapped contents alive until the last mapping is
//! gone. Queries that started before the deletion finish on the data they saw.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ulid::Ulid;

use crate::block::fsutil;
use crate::block::meta::BlockMeta;
use crate::block::writer::TMP_CREATION_SUFFIX;
use crate::block::BlockError;

use super::planner::block_dirs;

/// Suffix of a block directory being deleted.
pub const TMP_DELETION_SUFFIX: &str = ".tmp-for-deletion";
/// Suffix of temporary directories written by old Prometheus versions.
pub const TMP_LEGACY_SUFFIX: &str = ".tmp";

/// What [`cleanup_data_dir`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Temporary directories removed.
    pub removed_tmp: Vec<PathBuf>,
    /// Blocks deleted because a newer block replaced them or they were marked deletable.
    pub deleted_blocks: Vec<Ulid>,
}

/// Whether a directory name is a temporary block (or checkpoint / chunk snapshot) directory
/// that Prometheus removes on start.
pub fn is_tmp_dir_name(name: &str) -> bool {
    let Some(dot) = name.rfind('.') else {
        return false;
    };
    let (stem, ext) = name.split_at(dot);
    if ![TMP_CREATION_SUFFIX, TMP_DELETION_SUFFIX, TMP_LEGACY_SUFFIX].contains(&ext) {
        return false;
    }
    stem.starts_with("checkpoint.")
        || stem.starts_with("chunk_snapshot.")
        || (stem.len() == 26 && Ulid::from_string(stem).is_ok())
}

/// Deletes the block directory `<data_dir>/<ulid>` atomically (see the module docs). A missing
/// block is not an error.
pub fn delete_block_dir(data_dir: &Path, ulid: Ulid) -> Result<(), BlockError> {
    let dir = data_dir.join(ulid.to_string());
    if !dir.exists() {
        return Ok(());
    }
    let tmp = data_dir.join(format!("{ulid}{TMP_DELETION_SUFFIX}"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| BlockError::io(&tmp, "remove", e))?;
    }
    std::fs::rename(&dir, &tmp).map_err(|e| BlockError::io(&dir, "rename", e))?;
    fsutil::sync_dir(data_dir)?;
    std::fs::remove_dir_all(&tmp).map_err(|e| BlockError::io(&tmp, "remove", e))?;
    Ok(())
}

/// Removes temporary directories, then deletes every block that another block lists as a
/// parent or that is marked deletable. Blocks whose `meta.json` cannot be read are left
/// alone (as Prometheus skips them).
pub fn cleanup_data_dir(data_dir: &Path) -> Result<CleanupReport, BlockError> {
    let mut report = CleanupReport::default();
    let entries =
        std::fs::read_dir(data_dir).map_err(|e| BlockError::io(data_dir, "read dir", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| BlockError::io(data_dir, "read dir", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_tmp_dir_name(name) && entry.path().is_dir() {
            let p = entry.path();
            std::fs::remove_dir_all(&p).map_err(|e| BlockError::io(&p, "remove", e))?;
            report.removed_tmp.push(p);
        }
    }
    report.removed_tmp.sort();

    let mut metas: Vec<BlockMeta> = Vec::new();
    for dir in block_dirs(data_dir)? {
        if let Ok((m, _)) = BlockMeta::read_from_dir(&dir) {
            metas.push(m);
        }
    }
    let present: BTreeSet<Ulid> = metas.iter().map(|m| m.ulid).collect();
    let mut doomed = BTreeSet::new();
    for m in &metas {
        if m.compaction.deletable {
            doomed.insert(m.ulid);
        }
        for p in &m.compaction.parents {
            if present.contains(&p.ulid) {
                doomed.insert(p.ulid);
            }
        }
    }
    for u in doomed {
        delete_block_dir(data_dir, u)?;
        report.deleted_blocks.push(u);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_dir_names() {
        let u = "01M87WF4HJ3VKBT462E4NRF9ZN";
        assert!(is_tmp_dir_name(&format!("{u}.tmp-for-creation")));
        assert!(is_tmp_dir_name(&format!("{u}.tmp-for-deletion")));
        assert!(is_tmp_dir_name(&format!("{u}.tmp")));
        assert!(is_tmp_dir_name("checkpoint.00000003.tmp"));
        assert!(!is_tmp_dir_name(u));
        assert!(!is_tmp_dir_name("wal"));
        assert!(!is_tmp_dir_name("foo.tmp"));
    }
}
