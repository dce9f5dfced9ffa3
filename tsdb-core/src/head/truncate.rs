//! Cutting the head into a persisted block and forgetting what was persisted.
//!
//! [`Head::persist`] writes the head's samples of `[mint, maxt)` into a new block (head chunks
//! that lie wholly inside the range and carry no deletions are copied as they are; the others
//! are re-encoded from the samples that remain), and [`Head::truncate_before`] then drops the
//! chunks the block now holds and the series left without chunks. The database
//! (`Db::compact_head`) runs both and then checkpoints the WAL.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chunkenc::builder::ChunkBuilder;
use chunkenc::{Encoding, ValueKind};
use tsdb_index::Labels;

use super::series::ClosedChunk;
use super::{Head, MemSeries};
use crate::block::meta::BlockMeta;
use crate::block::tombstones::Tombstones;
use crate::block::writer::{BlockWriter, ChunkData};
use crate::block::BlockError;

/// Samples per chunk when re-encoding, as Prometheus' compactor re-cuts.
const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// A chunk to write: shared with the head, or re-encoded.
struct OwnedChunk {
    encoding: Encoding,
    bytes: Arc<[u8]>,
    min_t: i64,
    max_t: i64,
    num_samples: u64,
}

fn deleted(t: i64, intervals: &[(i64, i64)]) -> bool {
    intervals.iter().any(|&(a, b)| a <= t && t <= b)
}

fn corrupt(e: impl std::fmt::Display) -> BlockError {
    BlockError::Invalid(format!("head chunk: {e}"))
}

/// The chunks of one series for `[mint, maxt)`, without deleted samples.
fn chunks_in_range(
    chunks: &[ClosedChunk],
    mint: i64,
    maxt: i64,
    deletions: &[(i64, i64)],
) -> Result<Vec<OwnedChunk>, BlockError> {
    let mut out = Vec::new();
    let mut re = ChunkBuilder::new(MAX_SAMPLES_PER_CHUNK);
    let flush = |re: &mut ChunkBuilder, out: &mut Vec<OwnedChunk>| {
        let built = std::mem::replace(re, ChunkBuilder::new(MAX_SAMPLES_PER_CHUNK)).finish();
        out.extend(built.into_iter().map(|c| OwnedChunk {
            encoding: c.encoding,
            bytes: c.bytes.into(),
            min_t: c.min_t,
            max_t: c.max_t,
            num_samples: c.num_samples as u64,
        }));
    };
    for c in chunks {
        let overlaps_deletion = deletions.iter().any(|&(a, b)| a <= c.max_t && c.min_t <= b);
        let mut it = chunkenc::iter(c.encoding, &c.bytes).map_err(corrupt)?;
        if c.min_t >= mint && c.max_t < maxt && !overlaps_deletion {
            flush(&mut re, &mut out);
            out.push(OwnedChunk {
                encoding: c.encoding,
                bytes: c.bytes.clone(),
                min_t: c.min_t,
                max_t: c.max_t,
                num_samples: it.num_samples() as u64,
            });
            continue;
        }
        while let Some(kind) = it.next().map_err(corrupt)? {
            let t = it.at_t();
            if t < mint || t >= maxt || deleted(t, deletions) {
                continue;
            }
            match kind {
                ValueKind::Float => re.push_float(t, it.at().1),
                ValueKind::Histogram => match it.at_histogram() {
                    Some((_, h)) => re.push_histogram(t, h),
                    None => Ok(()),
                },
                ValueKind::FloatHistogram => match it.at_float_histogram() {
                    Some((_, h)) => {
                        let h = h.clone();
                        re.push_float_histogram(t, &h)
                    }
                    None => Ok(()),
                },
            }
            .map_err(corrupt)?;
        }
    }
    flush(&mut re, &mut out);
    Ok(out)
}

impl Head {
    /// Writes the head's samples of `[mint, maxt)` as a new level-1 block under `parent`
    /// (atomically: temporary directory, fsync, rename). Returns its meta, or `None` when the
    /// range holds no sample.
    pub fn persist(
        &self,
        parent: &Path,
        mint: i64,
        maxt: i64,
    ) -> Result<Option<BlockMeta>, BlockError> {
        let series: Vec<Arc<MemSeries>> = self.read_series().by_ref.values().cloned().collect();
        let tombstones = self
            .tombstones
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut todo: Vec<(Labels, Vec<OwnedChunk>)> = Vec::new();
        for s in &series {
            let snapshot = s
                .lock()
                .snapshot(mint, maxt - 1, self.chunk_mapper())
                .map_err(corrupt)?;
            if snapshot.is_empty() {
                continue;
            }
            let deletions = tombstones
                .get(&s.series_ref())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let chunks = chunks_in_range(&snapshot, mint, maxt, deletions)?;
            if !chunks.is_empty() {
                todo.push((s.labels().clone(), chunks));
            }
        }
        if todo.is_empty() {
            return Ok(None);
        }
        todo.sort_by(|a, b| a.0.cmp(&b.0));
        let mut symbols = BTreeSet::new();
        for (labels, _) in &todo {
            for l in labels.iter() {
                symbols.insert(l.name);
                symbols.insert(l.value);
            }
        }
        let mut w = BlockWriter::create(parent, mint, maxt)?;
        w.add_symbols(symbols.iter().copied())?;
        let mut data = Vec::new();
        for (labels, chunks) in &todo {
            data.clear();
            data.extend(chunks.iter().map(|c| ChunkData {
                encoding: c.encoding as u8,
                data: &c.bytes,
                min_time: c.min_t,
                max_time: c.max_t,
                num_samples: c.num_samples,
            }));
            w.add_series(labels, &data)?;
        }
        w.finish(&Tombstones::new())
    }

    /// Drops every chunk that ends before `t` and every series this leaves without chunks,
    /// and stops accepting samples before `t`. Returns the number of series removed.
    ///
    /// Holds the WAL lock throughout, so no commit interleaves: a transaction that still
    /// holds a removed series re-creates it when it commits (see the appender).
    pub fn truncate_before(&self, t: i64) -> usize {
        let _wal = self.wal.lock().unwrap_or_else(|e| e.into_inner());
        self.set_min_valid_time(self.min_valid_time().max(t));
        let mut store = self.series.write().unwrap_or_else(|e| e.into_inner());
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        let mut removed = Vec::new();
        for s in store.by_ref.values() {
            let mut d = s.lock();
            let had_chunks = d.num_chunks() > 0;
            d.drop_chunks_before(t);
            if let Some((a, b)) = d.time_range() {
                mint = mint.min(a);
                maxt = maxt.max(b);
            } else if (had_chunks || d.ooo_persisted) && d.ooo.is_empty() {
                // Everything it held is in blocks now.
                removed.push(s.clone());
            }
        }
        for s in &removed {
            s.mark_removed();
            store.remove(s);
        }
        drop(store);
        let mut stones = self.tombstones.write().unwrap_or_else(|e| e.into_inner());
        for s in &removed {
            stones.remove(&s.series_ref());
        }
        for intervals in stones.values_mut() {
            intervals.retain(|&(_, b)| b >= t);
        }
        stones.retain(|_, v| !v.is_empty());
        self.min_time.store(mint, Ordering::SeqCst);
        self.max_time.store(maxt, Ordering::SeqCst);
        removed.len()
    }
}
