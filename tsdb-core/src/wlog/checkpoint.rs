//! WAL checkpoints: `checkpoint.NNNNNNNN/` directories (themselves WALs) that summarise every
//! segment up to and including `NNNNNNNN`, so those segments can be deleted.

use std::path::{Path, PathBuf};

use super::{Result, WalError};

/// Prefix of checkpoint directory names.
pub const CHECKPOINT_PREFIX: &str = "checkpoint.";

/// A checkpoint directory found in a WAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRef {
    /// The last segment the checkpoint covers.
    pub index: u64,
    /// Its path.
    pub path: PathBuf,
}

/// The name of the checkpoint covering segments up to `index`.
pub fn checkpoint_dir(wal_dir: &Path, index: u64) -> PathBuf {
    wal_dir.join(format!("{CHECKPOINT_PREFIX}{index:08}"))
}

/// Every checkpoint in `wal_dir`, in index order (unfinished `.tmp` ones excluded).
pub fn list_checkpoints(wal_dir: &Path) -> Result<Vec<CheckpointRef>> {
    let entries = std::fs::read_dir(wal_dir).map_err(|e| WalError::io(wal_dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| WalError::io(wal_dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(num) = name.strip_prefix(CHECKPOINT_PREFIX) else {
            continue;
        };
        if num.ends_with(".tmp") {
            continue;
        }
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WalError::InvalidCheckpointName(name.to_string()));
        }
        let index = num
            .parse::<u64>()
            .map_err(|_| WalError::InvalidCheckpointName(name.to_string()))?;
        let is_dir = entry
            .file_type()
            .map_err(|e| WalError::io(entry.path(), e))?
            .is_dir();
        if is_dir {
            out.push(CheckpointRef {
                index,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|c| c.index);
    Ok(out)
}

/// The newest checkpoint of `wal_dir`, if any.
pub fn last_checkpoint(wal_dir: &Path) -> Result<Option<CheckpointRef>> {
    Ok(list_checkpoints(wal_dir)?.pop())
}
