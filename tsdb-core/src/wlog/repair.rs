//! Repairing a damaged WAL tail, as Prometheus does when replay hits corruption.
//!
//! Prometheus rewrites the damaged segment with every record that ends before the damage and
//! deletes all later segments. Truncating the segment where the damaged record starts and
//! zero-padding its last page leaves exactly the same records, in a file any reader accepts.

use std::fs::OpenOptions;
use std::io::Write;

use super::{list_segments, segment_name, sync_dir, CorruptionError, Result, WalError, PAGE_SIZE};

/// Truncates the WAL at the damage described by `err`: later segments are deleted and the
/// damaged one keeps only its records before `err.record_offset`.
pub fn repair(err: &CorruptionError) -> Result<()> {
    let dir = &err.dir;
    for s in list_segments(dir)? {
        if s.index > err.segment {
            std::fs::remove_file(&s.path).map_err(|e| WalError::io(&s.path, e))?;
        }
    }
    let path = segment_name(dir, err.segment);
    let mut f = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| WalError::io(&path, e))?;
    let len = f.metadata().map_err(|e| WalError::io(&path, e))?.len();
    let keep = err.record_offset.min(len);
    f.set_len(keep).map_err(|e| WalError::io(&path, e))?;
    let pad = (PAGE_SIZE as u64 - keep % PAGE_SIZE as u64) % PAGE_SIZE as u64;
    if pad > 0 {
        use std::io::Seek;
        f.seek(std::io::SeekFrom::End(0))
            .map_err(|e| WalError::io(&path, e))?;
        f.write_all(&vec![0u8; pad as usize])
            .map_err(|e| WalError::io(&path, e))?;
    }
    f.sync_all().map_err(|e| WalError::io(&path, e))?;
    sync_dir(dir)
}
