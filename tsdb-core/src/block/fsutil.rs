//! Durable file-system helpers: atomic file replacement and directory fsync.
//!
//! A block must never be visible half-written, so writers build files under temporary names,
//! fsync them, rename them into place and fsync the parent directory so the rename survives a
//! crash.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::error::BlockError;

/// Fsyncs a directory so that entries created or renamed in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), BlockError> {
    let f = File::open(dir).map_err(|e| BlockError::io(dir, "open dir", e))?;
    f.sync_all()
        .map_err(|e| BlockError::io(dir, "fsync dir", e))
}

/// Writes `data` to `path` via `<path>.tmp`, fsync and rename, then fsyncs the parent.
pub fn write_file_atomic(path: &Path, data: &[u8]) -> Result<(), BlockError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp_name);
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| BlockError::io(&tmp, "create", e))?;
        f.write_all(data)
            .map_err(|e| BlockError::io(&tmp, "write", e))?;
        f.sync_all().map_err(|e| BlockError::io(&tmp, "fsync", e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| BlockError::io(path, "rename", e))?;
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Moves a fully written temporary directory to its final name and makes the rename durable.
/// An existing directory at `to` is an error (blocks are never overwritten).
pub fn rename_dir_durable(from: &Path, to: &Path) -> Result<(), BlockError> {
    sync_dir(from)?;
    std::fs::rename(from, to).map_err(|e| BlockError::io(to, "rename", e))?;
    if let Some(parent) = to.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}
