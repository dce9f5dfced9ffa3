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

/// What [`write_checkpoint`] kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Series records entries kept.
    pub series: usize,
    /// Float samples kept.
    pub samples: usize,
    /// Tombstone intervals kept.
    pub tombstones: usize,
    /// Other records (histograms, exemplars, metadata) copied through.
    pub other_records: usize,
    /// Records read from the segments.
    pub records_read: usize,
}

/// Writes `checkpoint.<last>` summarising the previous checkpoint (if any) and segments up to
/// `last`: series whose reference `keep` accepts, float samples at or after `mint` of kept
/// series, tombstones of kept series, and every other record type of kept series unchanged
/// (their samples are not filtered by time). The checkpoint is written to a `.tmp`
/// directory, fsynced and renamed, so a crash leaves either no checkpoint or a whole one.
/// Segments and older checkpoints are not removed here: see [`delete_checkpoints_before`] and
/// `WalWriter::truncate`.
pub fn write_checkpoint(
    wal_dir: &Path,
    last: u64,
    keep: impl Fn(u64) -> bool,
    mint: i64,
    opts: super::WalOptions,
) -> Result<CheckpointStats> {
    use crate::record::{self, RecordType};

    let final_dir = checkpoint_dir(wal_dir, last);
    let tmp_dir = wal_dir.join(format!("{CHECKPOINT_PREFIX}{last:08}.tmp"));
    if tmp_dir.exists() {
        std::fs::remove_dir_all(&tmp_dir).map_err(|e| WalError::io(&tmp_dir, e))?;
    }
    std::fs::create_dir_all(&tmp_dir).map_err(|e| WalError::io(&tmp_dir, e))?;

    let mut sources: Vec<super::reader::SegmentReader> = Vec::new();
    if let Some(prev) = list_checkpoints(wal_dir)?
        .into_iter()
        .rfind(|c| c.index < last)
    {
        sources.push(super::reader::SegmentReader::open_dir(&prev.path)?);
    }
    let segments: Vec<_> = super::list_segments(wal_dir)?
        .into_iter()
        .filter(|s| s.index <= last)
        .collect();
    sources.push(super::reader::SegmentReader::from_segments(
        wal_dir, &segments,
    ));

    let bad = |message: String| WalError::Record {
        dir: wal_dir.to_path_buf(),
        message,
    };
    let mut writer = super::WalWriter::open(&tmp_dir, opts)?;
    let mut stats = CheckpointStats::default();
    let (mut series, mut samples, mut stones) = (Vec::new(), Vec::new(), Vec::new());
    let mut buf = Vec::new();
    for mut reader in sources {
        while let Some(rec) = reader.next_record()? {
            stats.records_read += 1;
            match RecordType::of(rec) {
                Some(RecordType::Series) => {
                    series.clear();
                    record::decode_series(rec, &mut series).map_err(|e| bad(e.to_string()))?;
                    series.retain(|s| keep(s.series_ref));
                    if !series.is_empty() {
                        stats.series += series.len();
                        record::encode_series(&series, &mut buf);
                        writer.log(&[&buf])?;
                    }
                }
                Some(RecordType::Samples) | Some(RecordType::SamplesV2) => {
                    samples.clear();
                    record::decode_samples(rec, &mut samples).map_err(|e| bad(e.to_string()))?;
                    samples.retain(|s| s.t >= mint && keep(s.series_ref));
                    if !samples.is_empty() {
                        stats.samples += samples.len();
                        if samples.iter().any(|s| s.st != 0) {
                            record::encode_samples_v2(&samples, &mut buf);
                        } else {
                            record::encode_samples(&samples, &mut buf);
                        }
                        writer.log(&[&buf])?;
                    }
                }
                Some(RecordType::Tombstones) => {
                    stones.clear();
                    record::decode_tombstones(rec, &mut stones).map_err(|e| bad(e.to_string()))?;
                    stones.retain(|s| s.maxt >= mint && keep(s.series_ref));
                    if !stones.is_empty() {
                        stats.tombstones += stones.len();
                        record::encode_tombstones(&stones, &mut buf);
                        writer.log(&[&buf])?;
                    }
                }
                // Records our head does not hold in memory (histograms, exemplars, metadata)
                // are carried over whole, so that no data is lost for a reader that does.
                Some(_) => {
                    stats.other_records += 1;
                    writer.log(&[rec])?;
                }
                None => return Err(bad(format!("unknown record type {:?}", rec.first()))),
            }
        }
    }
    writer.close()?;
    std::fs::rename(&tmp_dir, &final_dir).map_err(|e| WalError::io(&final_dir, e))?;
    super::sync_dir(wal_dir)?;
    Ok(stats)
}

/// Removes every checkpoint older than `index` (and unfinished `.tmp` checkpoints).
pub fn delete_checkpoints_before(wal_dir: &Path, index: u64) -> Result<()> {
    for c in list_checkpoints(wal_dir)? {
        if c.index < index {
            std::fs::remove_dir_all(&c.path).map_err(|e| WalError::io(&c.path, e))?;
        }
    }
    let entries = std::fs::read_dir(wal_dir).map_err(|e| WalError::io(wal_dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(CHECKPOINT_PREFIX) && name.ends_with(".tmp") {
            let p = entry.path();
            std::fs::remove_dir_all(&p).map_err(|e| WalError::io(&p, e))?;
        }
    }
    super::sync_dir(wal_dir)
}
