//! Snapshots: a consistent copy of a data directory's blocks, made of hard links, so that it
//! costs no space until the originals are compacted or deleted away.
//!
//! Every block file is immutable once written (`meta.json` and `tombstones` are replaced by
//! rename, never rewritten in place), so a hard link keeps exactly the content the block had
//! when the snapshot was taken.

use std::path::{Path, PathBuf};

use crate::block::fsutil::sync_dir;
use crate::block::BlockError;

/// Hard-links every file of the block directory `block_dir` (recursively: `chunks/` too)
/// into `dest_parent/<block name>/`, then fsyncs the new directories. Returns the new block
/// directory.
pub fn link_block(block_dir: &Path, dest_parent: &Path) -> Result<PathBuf, BlockError> {
    let name = block_dir
        .file_name()
        .ok_or_else(|| BlockError::Invalid(format!("{}: not a block", block_dir.display())))?;
    let dest = dest_parent.join(name);
    link_tree(block_dir, &dest)?;
    sync_dir(dest_parent)?;
    Ok(dest)
}

fn link_tree(src: &Path, dest: &Path) -> Result<(), BlockError> {
    std::fs::create_dir_all(dest).map_err(|e| BlockError::io(dest, "create dir", e))?;
    let entries = std::fs::read_dir(src).map_err(|e| BlockError::io(src, "read dir", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| BlockError::io(src, "read dir", e))?;
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| BlockError::io(&from, "stat", e))?;
        if kind.is_dir() {
            link_tree(&from, &to)?;
        } else if kind.is_file() {
            std::fs::hard_link(&from, &to).map_err(|e| BlockError::io(&to, "hard link", e))?;
        }
    }
    sync_dir(dest)
}
