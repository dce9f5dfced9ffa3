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

use chunkenc::{XorAppender, XorIterator};
use tsdb_index::Labels;

use super::series::ClosedChunk;
use super::{Head, MemSeries};
use crate::block::meta::BlockMeta;
use crate::block::tombstones::Tombstones;
use crate::block::writer::{BlockWriter, ChunkData};
use crate::block::BlockError;

/// Chunk encoding byte of XOR chunks.
const XOR_ENCODING: u8 = 1;
/// Samples per chunk when re-encoding, as Prometheus' compactor re-cuts.
const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// A chunk to write: borrowed from the head, or re-encoded.
struct OwnedChunk {
    bytes: Arc<[u8]>,
    min_t: i64,
    max_t: i64,
    num_samples: u64,
}

fn sample_count(bytes: &[u8]) -> u64 {
    u16::from_be_bytes([bytes[0], bytes[1]]) as u64
}

fn deleted(t: i64, intervals: &[(i64, i64)]) -> bool {
    intervals.iter().any(|&(a, b)| a <= t && t <= b)
}

/// The chunks of one series for `[mint, maxt)`, without deleted samples.
fn chunks_in_range(
    chunks: &[ClosedChunk],
    mint: i64,
    maxt: i64,
    deletions: &[(i64, i64)],
) -> Result<Vec<OwnedChunk>, BlockError> {
    let mut out = Vec::new();
    let mut pending: Option<(XorAppender, i64, i64)> = None;
    let flush = |p: &mut Option<(XorAppender, i64, i64)>, out: &mut Vec<OwnedChunk>| {
        if let Some((app, min_t, max_t)) = p.take() {
            let n = app.num_samples() as u64;
            out.push(OwnedChunk {
                bytes: app.into_chunk().into_bytes().into(),
                min_t,
                max_t,
                num_samples: n,
            });
        }
    };
    for c in chunks {
        let overlaps_deletion = deletions.iter().any(|&(a, b)| a <= c.max_t && c.min_t <= b);
        if c.min_t >= mint && c.max_t < maxt && !overlaps_deletion {
            flush(&mut pending, &mut out);
            out.push(OwnedChunk {
                bytes: c.bytes.clone(),
                min_t: c.min_t,
                max_t: c.max_t,
                num_samples: sample_count(&c.bytes),
            });
            continue;
        }
        let mut it = XorIterator::new(&c.bytes)
            .map_err(|e| BlockError::Invalid(format!("head chunk: {e}")))?;
        while it
            .next()
            .map_err(|e| BlockError::Invalid(format!("head chunk: {e}")))?
        {
            let (t, v) = it.at();
            if t < mint || t >= maxt || deleted(t, deletions) {
                continue;
            }
            if pending
                .as_ref()
                .is_some_and(|(a, _, _)| a.num_samples() >= MAX_SAMPLES_PER_CHUNK)
            {
                flush(&mut pending, &mut out);
            }
            let p = pending.get_or_insert_with(|| (XorAppender::new(), t, t));
            p.0.append(t, v)
                .map_err(|e| BlockError::Invalid(format!("re-encoding a head chunk: {e}")))?;
            p.2 = t;
        }
    }
    flush(&mut pending, &mut out);
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
            let snapshot = s.lock().snapshot(mint, maxt - 1);
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
                encoding: XOR_ENCODING,
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
            } else if had_chunks {
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
