//! Out-of-order samples: reading them merged with a series' in-order chunks, replaying them
//! from the write-behind log (`wbl/`), and persisting them as blocks of their own (marked
//! `from-out-of-order`), which leveled compaction then merges with the overlapping in-order
//! blocks, as Prometheus does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use chunkenc::builder::ChunkBuilder;
use tsdb_index::Labels;

use super::querier::iter_chunks;
use super::series::{ClosedChunk, MemSeries};
use super::{Head, DEFAULT_SAMPLES_PER_CHUNK};
use crate::block::meta::{BlockMeta, HINT_FROM_OUT_OF_ORDER};
use crate::block::tombstones::Tombstones;
use crate::block::writer::{BlockWriter, ChunkData};
use crate::block::BlockError;
use crate::record::{self, RecordType};
use crate::storage::ValueType;
use crate::wlog::SegmentReader;
use crate::wlog::{list_segments, WalError};

/// `chunks` (in order, within `[mint, maxt]`) with the out-of-order float samples `ooo`
/// merged in by time, re-encoded; at a timestamp in both, the in-order sample is kept.
pub(crate) fn merge_ooo(
    chunks: &[ClosedChunk],
    ooo: &[(i64, f64)],
    mint: i64,
    maxt: i64,
) -> Vec<ClosedChunk> {
    let mut b = ChunkBuilder::new(DEFAULT_SAMPLES_PER_CHUNK);
    let mut it = iter_chunks(chunks, mint, maxt);
    let mut vt = it.next();
    let mut rest = ooo.iter().peekable();
    loop {
        let next_ooo = rest.peek().copied();
        if vt == ValueType::None {
            let Some(&(t, v)) = next_ooo else { break };
            let _ = b.push_float(t, v);
            rest.next();
            continue;
        }
        let t = it.at_t();
        match next_ooo {
            Some(&(ot, ov)) if ot < t => {
                let _ = b.push_float(ot, ov);
                rest.next();
                continue;
            }
            Some(&(ot, _)) if ot == t => {
                rest.next();
            }
            _ => {}
        }
        // Pushing can only fail for samples out of order, which a merge does not produce.
        let _ = match vt {
            ValueType::Float => {
                let (t, v) = it.at();
                b.push_float(t, v)
            }
            ValueType::Histogram => {
                let (t, h) = it.at_histogram();
                b.push_histogram(t, h)
            }
            ValueType::FloatHistogram => {
                let (t, h) = it.at_float_histogram();
                let h = h.clone();
                b.push_float_histogram(t, &h)
            }
            ValueType::None => Ok(()),
        };
        vt = it.next();
    }
    b.finish().into_iter().map(ClosedChunk::from).collect()
}

/// One series' part of an [`OooSnapshot`].
struct TakenSeries {
    series: Arc<MemSeries>,
    /// The samples to persist (deleted ones left out).
    samples: Vec<(i64, f64)>,
    /// The timestamps to drop from the head once they are in blocks.
    taken: Vec<i64>,
}

/// Series samples grouped by the block range they fall into.
type ByRange<'a> = BTreeMap<i64, Vec<(&'a Labels, Vec<(i64, f64)>)>>;

/// Out-of-order samples taken for persisting.
pub struct OooSnapshot {
    series: Vec<TakenSeries>,
    /// WBL segments below this index hold only samples of this snapshot.
    pub wbl_cut: Option<u64>,
}

impl OooSnapshot {
    /// Whether it holds no sample.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

impl Head {
    /// Replays the out-of-order samples of a WBL directory into their series (`series`
    /// finds a series by the WAL's reference). Returns the number of samples added.
    pub(crate) fn replay_wbl(
        &self,
        wbl_dir: &Path,
        series: impl Fn(u64) -> Option<Arc<MemSeries>>,
    ) -> Result<usize, WalError> {
        let segments = list_segments(wbl_dir)?;
        let mut r = SegmentReader::from_segments(wbl_dir, &segments);
        let mut samples = Vec::new();
        let mut n = 0;
        while let Some(rec) = r.next_record()? {
            if !matches!(
                RecordType::of(rec),
                Some(RecordType::Samples | RecordType::SamplesV2)
            ) {
                // Prometheus also writes m-map markers and histogram samples here.
                continue;
            }
            samples.clear();
            if let Err(e) = record::decode_samples(rec, &mut samples) {
                return Err(WalError::Corruption(r.record_corruption(e.to_string())));
            }
            for s in &samples {
                if let Some(ms) = series(s.series_ref) {
                    if ms.lock().insert_ooo(s.t, s.v) {
                        n += 1;
                    }
                }
            }
        }
        Ok(n)
    }

    /// Takes a snapshot of the out-of-order samples before `cutoff` and starts a new WBL
    /// segment, under the WAL lock so that no commit interleaves. [`Db`](crate::db::Db)
    /// persists those before the in-order blocks' end, so that blocks of out-of-order
    /// samples never reach into the in-order head's range.
    pub fn snapshot_ooo(&self, cutoff: i64) -> Result<OooSnapshot, WalError> {
        let _wal = self.wal.lock().unwrap_or_else(|e| e.into_inner());
        let mut wbl = self.wbl.lock().unwrap_or_else(|e| e.into_inner());
        let deleted = self
            .tombstones
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut series = Vec::new();
        for s in self.read_series().by_ref.values() {
            let d = s.lock();
            if d.ooo.is_empty() {
                continue;
            }
            let before = &d.ooo[..d.ooo.partition_point(|s| s.0 < cutoff)];
            if before.is_empty() {
                continue;
            }
            let stones = deleted
                .get(&s.series_ref())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let kept: Vec<(i64, f64)> = before
                .iter()
                .copied()
                .filter(|(t, _)| !stones.iter().any(|&(a, b)| *t >= a && *t <= b))
                .collect();
            let taken: Vec<i64> = before.iter().map(|s| s.0).collect();
            series.push(TakenSeries {
                series: s.clone(),
                samples: kept,
                taken,
            });
        }
        let wbl_cut = match wbl.as_mut() {
            Some(w) if !series.is_empty() => Some(w.next_segment()?),
            _ => None,
        };
        Ok(OooSnapshot { series, wbl_cut })
    }

    /// Writes the samples of `snap` under `parent` as level-1 blocks, one per aligned block
    /// range holding any, with the `from-out-of-order` hint. Returns their metas.
    pub fn persist_ooo(
        &self,
        parent: &Path,
        snap: &OooSnapshot,
    ) -> Result<Vec<BlockMeta>, BlockError> {
        let range = self.options().chunk_range;
        let mut by_range = ByRange::new();
        for TakenSeries {
            series: s, samples, ..
        } in &snap.series
        {
            let mut start = 0;
            while start < samples.len() {
                let block_start = samples[start].0.div_euclid(range) * range;
                let end = samples[start..]
                    .iter()
                    .position(|(t, _)| *t >= block_start + range)
                    .map_or(samples.len(), |p| start + p);
                by_range
                    .entry(block_start)
                    .or_default()
                    .push((s.labels(), samples[start..end].to_vec()));
                start = end;
            }
        }
        let mut metas = Vec::new();
        for (block_start, mut series) in by_range {
            series.sort_by(|a, b| a.0.cmp(b.0));
            let mut meta =
                BlockMeta::new_level1(ulid::Ulid::new(), block_start, block_start + range);
            meta.compaction.hints = vec![HINT_FROM_OUT_OF_ORDER.to_string()];
            let mut w = BlockWriter::create_with_meta(parent, meta)?;
            let mut symbols = BTreeSet::new();
            for (labels, _) in &series {
                for l in labels.iter() {
                    symbols.insert(l.name);
                    symbols.insert(l.value);
                }
            }
            w.add_symbols(symbols.iter().copied())?;
            for (labels, samples) in &series {
                let mut b = ChunkBuilder::new(DEFAULT_SAMPLES_PER_CHUNK);
                for &(t, v) in samples {
                    b.push_float(t, v)
                        .map_err(|e| BlockError::Invalid(e.to_string()))?;
                }
                let built = b.finish();
                let data: Vec<ChunkData<'_>> = built
                    .iter()
                    .map(|c| ChunkData {
                        encoding: c.encoding as u8,
                        data: &c.bytes,
                        min_time: c.min_t,
                        max_time: c.max_t,
                        num_samples: c.num_samples as u64,
                    })
                    .collect();
                w.add_series(labels, &data)?;
            }
            if let Some(m) = w.finish(&Tombstones::new())? {
                metas.push(m);
            }
        }
        Ok(metas)
    }

    /// Drops the samples of `snap` from the head (they are in blocks now), logs the
    /// out-of-order samples left into the current WBL segment, and deletes the older
    /// segments, whose every sample is now either in a block or logged again.
    pub fn release_ooo(&self, snap: &OooSnapshot) -> Result<(), WalError> {
        let _wal = self.wal.lock().unwrap_or_else(|e| e.into_inner());
        for TakenSeries {
            series: s, taken, ..
        } in &snap.series
        {
            let mut d = s.lock();
            d.ooo.retain(|(t, _)| taken.binary_search(t).is_err());
            if d.ooo.is_empty() {
                d.ooo_persisted = true;
            }
        }
        let mut wbl = self.wbl.lock().unwrap_or_else(|e| e.into_inner());
        let (Some(w), Some(cut)) = (wbl.as_mut(), snap.wbl_cut) else {
            return Ok(());
        };
        self.log_remaining_ooo(w)?;
        w.truncate(cut)
    }

    /// Logs every out-of-order sample the head holds into the WBL's current segment and
    /// fsyncs it, so that older segments may be deleted. Call with the WAL lock held.
    pub(crate) fn log_remaining_ooo(&self, w: &mut crate::wlog::WalWriter) -> Result<(), WalError> {
        let mut left = Vec::new();
        for s in self.read_series().by_ref.values() {
            left.extend(s.lock().ooo.iter().map(|&(t, v)| record::RefSample {
                series_ref: s.series_ref(),
                st: 0,
                t,
                v,
            }));
        }
        if !left.is_empty() {
            let mut buf = Vec::new();
            record::encode_samples(&left, &mut buf);
            w.log(&[&buf])?;
        }
        w.sync()
    }
}
