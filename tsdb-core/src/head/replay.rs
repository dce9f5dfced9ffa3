//! Rebuilding the head from a WAL directory: the newest checkpoint, then every later segment.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::series::MappedChunk;
use super::{Head, MemSeries};
use crate::record::{self, RecordType, RefSample, RefSeries, RefTombstone};
use crate::wlog::checkpoint::last_checkpoint;
use crate::wlog::{list_segments, Result, SegmentReader, WalError};

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Records read.
    pub records: usize,
    /// Series records entries.
    pub series: usize,
    /// Float samples applied.
    pub samples: usize,
    /// Samples for references without a series record (dropped, as Prometheus drops them).
    pub unknown_refs: usize,
    /// Samples not newer than their series' newest sample, or older than the head's minimum
    /// valid time (dropped).
    pub dropped_samples: usize,
    /// Native histogram samples (integer and float) applied.
    pub histograms: usize,
    /// Tombstone intervals applied.
    pub tombstones: usize,
    /// Out-of-order samples replayed from the write-behind log.
    pub ooo_samples: usize,
    /// Exemplars replayed.
    pub exemplars: usize,
    /// Metadata entries (decoded and validated, not stored).
    pub ignored_entries: usize,
    /// The checkpoint replayed first, if any.
    pub checkpoint: Option<u64>,
    /// Chunks from `chunks_head/` taken by the series the WAL names.
    pub mmapped_chunks: usize,
    /// Samples skipped because a chunk from `chunks_head/` already holds them.
    pub samples_in_mmapped_chunks: usize,
}

struct Replayer<'h> {
    head: &'h Head,
    refs: HashMap<u64, Arc<MemSeries>>,
    stats: ReplayStats,
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    stones: Vec<RefTombstone>,
    mint: i64,
    maxt: i64,
    /// Chunks loaded from `chunks_head/` by series reference, until the series record.
    mapped: HashMap<u64, Vec<MappedChunk>>,
}

impl Head {
    /// Replays the WAL in `wal_dir` (its newest checkpoint, then the segments after it) into
    /// the head. Records before any damage are applied; the damage is returned as
    /// [`WalError::Corruption`] (see [`crate::wlog::repair`]).
    pub fn replay_wal(&self, wal_dir: &Path) -> Result<ReplayStats> {
        self.replay_wal_and_wbl(wal_dir, None)
    }

    /// Like [`Head::replay_wal`], then replays the out-of-order samples of the write-behind
    /// log in `wbl_dir` (if given and present) into their series.
    pub fn replay_wal_and_wbl(
        &self,
        wal_dir: &Path,
        wbl_dir: Option<&Path>,
    ) -> Result<ReplayStats> {
        self.replay_with_mapped_chunks(wal_dir, wbl_dir, HashMap::new())
    }

    /// Like [`Head::replay_wal_and_wbl`], first giving each series the chunks loaded for its
    /// reference from `chunks_head/` (`mapped`, oldest first per series; see
    /// [`crate::chunks_head::ChunkDiskMapper::open`]) when the WAL's series record for it is
    /// read: its WAL samples up to the newest of those chunks are then skipped, as
    /// Prometheus skips them. Chunks of series the WAL does not name are ignored.
    pub fn replay_with_mapped_chunks(
        &self,
        wal_dir: &Path,
        wbl_dir: Option<&Path>,
        mapped: HashMap<u64, Vec<MappedChunk>>,
    ) -> Result<ReplayStats> {
        // A reference of those chunks is never handed out again to another series.
        if let Some(max) = mapped.keys().max() {
            self.next_ref
                .fetch_max(max.saturating_add(1), std::sync::atomic::Ordering::SeqCst);
        }
        let mut rp = Replayer {
            mapped,
            head: self,
            refs: HashMap::new(),
            stats: ReplayStats::default(),
            series: Vec::new(),
            samples: Vec::new(),
            stones: Vec::new(),
            mint: i64::MAX,
            maxt: i64::MIN,
        };
        let mut start = 0;
        if let Some(cp) = last_checkpoint(wal_dir)? {
            let mut r = SegmentReader::open_dir(&cp.path)?;
            rp.read_all(&mut r)?;
            start = cp.index + 1;
            rp.stats.checkpoint = Some(cp.index);
        }
        let segs: Vec<_> = list_segments(wal_dir)?
            .into_iter()
            .filter(|s| s.index >= start)
            .collect();
        let mut r = SegmentReader::from_segments(wal_dir, &segs);
        let res = rp.read_all(&mut r);
        if rp.mint <= rp.maxt {
            self.update_min_max(rp.mint, rp.maxt);
        }
        res?;
        if let Some(dir) = wbl_dir.filter(|d| d.is_dir()) {
            let refs = &rp.refs;
            rp.stats.ooo_samples = self.replay_wbl(dir, |r| {
                refs.get(&r).cloned().or_else(|| self.series_by_ref(r))
            })?;
        }
        Ok(rp.stats)
    }
}

impl Replayer<'_> {
    /// Gives a series its chunks from `chunks_head/` (if it holds nothing yet).
    fn attach(&mut self, ms: &MemSeries, chunks: &[MappedChunk]) {
        let mut d = ms.lock();
        if !d.attach_mapped(chunks) {
            return;
        }
        if let Some(m) = self.head.chunk_mapper() {
            d.restore_last_value(m);
        }
        self.stats.mmapped_chunks += chunks.len();
        if let (Some(first), Some(last)) = (chunks.first(), chunks.last()) {
            self.mint = self.mint.min(first.min_t);
            self.maxt = self.maxt.max(last.max_t);
        }
    }

    fn read_all(&mut self, r: &mut SegmentReader) -> Result<()> {
        loop {
            let rec = match r.next_record() {
                Ok(Some(rec)) => rec,
                Ok(None) => return Ok(()),
                Err(e) => {
                    if self.mint <= self.maxt {
                        self.head.update_min_max(self.mint, self.maxt);
                    }
                    return Err(e);
                }
            };
            self.stats.records += 1;
            if let Err(msg) = self.apply(rec) {
                return Err(WalError::Corruption(r.record_corruption(msg)));
            }
        }
    }

    fn apply(&mut self, rec: &[u8]) -> std::result::Result<(), String> {
        let Some(typ) = RecordType::of(rec) else {
            return Err(format!(
                "unknown record type {}",
                rec.first().copied().unwrap_or(0)
            ));
        };
        let opts = self.head.options();
        let min_valid = self.head.min_valid_time();
        match typ {
            RecordType::Series => {
                self.series.clear();
                record::decode_series(rec, &mut self.series).map_err(|e| e.to_string())?;
                let mut series = std::mem::take(&mut self.series);
                for s in series.drain(..) {
                    let ms = self.head.get_or_create_with_ref(s.series_ref, &s.labels);
                    ms.set_logged();
                    if let Some(chunks) = self.mapped.remove(&s.series_ref) {
                        self.attach(&ms, &chunks);
                    }
                    self.refs.insert(s.series_ref, ms);
                    self.stats.series += 1;
                }
                self.series = series;
            }
            RecordType::Samples | RecordType::SamplesV2 => {
                self.samples.clear();
                record::decode_samples(rec, &mut self.samples).map_err(|e| e.to_string())?;
                for smp in &self.samples {
                    let Some(s) = self.refs.get(&smp.series_ref) else {
                        self.stats.unknown_refs += 1;
                        continue;
                    };
                    let mut d = s.lock();
                    if d.covered_by_mapped(smp.t) {
                        self.stats.samples_in_mmapped_chunks += 1;
                        continue;
                    }
                    if smp.t < min_valid
                        || !d.append(smp.t, smp.v, opts.chunk_range, opts.samples_per_chunk)
                    {
                        self.stats.dropped_samples += 1;
                        continue;
                    }
                    self.head.mmap_cut_chunks(s.series_ref(), &mut d);
                    self.stats.samples += 1;
                    self.mint = self.mint.min(smp.t);
                    self.maxt = self.maxt.max(smp.t);
                }
            }
            RecordType::Tombstones => {
                self.stones.clear();
                record::decode_tombstones(rec, &mut self.stones).map_err(|e| e.to_string())?;
                let mut ts = self
                    .head
                    .tombstones
                    .write()
                    .unwrap_or_else(|e| e.into_inner());
                for st in &self.stones {
                    // Tombstones name series by their WAL reference.
                    let Some(s) = self.refs.get(&st.series_ref) else {
                        continue;
                    };
                    ts.entry(s.series_ref())
                        .or_default()
                        .push((st.mint, st.maxt));
                    self.stats.tombstones += 1;
                }
            }
            RecordType::HistogramSamples
            | RecordType::CustomBucketsHistogramSamples
            | RecordType::HistogramSamplesV2 => {
                let mut out = Vec::new();
                record::decode_histogram_samples(rec, &mut out).map_err(|e| e.to_string())?;
                for smp in &out {
                    let Some(s) = self.refs.get(&smp.series_ref) else {
                        self.stats.unknown_refs += 1;
                        continue;
                    };
                    let mut d = s.lock();
                    if d.covered_by_mapped(smp.t) {
                        self.stats.samples_in_mmapped_chunks += 1;
                        continue;
                    }
                    if smp.t < min_valid || !d.append_histogram(smp.t, &smp.h, opts.chunk_range) {
                        self.stats.dropped_samples += 1;
                        continue;
                    }
                    self.head.mmap_cut_chunks(s.series_ref(), &mut d);
                    self.stats.histograms += 1;
                    self.mint = self.mint.min(smp.t);
                    self.maxt = self.maxt.max(smp.t);
                }
            }
            RecordType::FloatHistogramSamples
            | RecordType::CustomBucketsFloatHistogramSamples
            | RecordType::FloatHistogramSamplesV2 => {
                let mut out = Vec::new();
                record::decode_float_histogram_samples(rec, &mut out).map_err(|e| e.to_string())?;
                for smp in &out {
                    let Some(s) = self.refs.get(&smp.series_ref) else {
                        self.stats.unknown_refs += 1;
                        continue;
                    };
                    let mut d = s.lock();
                    if d.covered_by_mapped(smp.t) {
                        self.stats.samples_in_mmapped_chunks += 1;
                        continue;
                    }
                    if smp.t < min_valid
                        || !d.append_float_histogram(smp.t, &smp.fh, opts.chunk_range)
                    {
                        self.stats.dropped_samples += 1;
                        continue;
                    }
                    self.head.mmap_cut_chunks(s.series_ref(), &mut d);
                    self.stats.histograms += 1;
                    self.mint = self.mint.min(smp.t);
                    self.maxt = self.maxt.max(smp.t);
                }
            }
            RecordType::Exemplars => {
                let mut out = Vec::new();
                record::decode_exemplars(rec, &mut out).map_err(|e| e.to_string())?;
                for e in out {
                    let Some(s) = self.refs.get(&e.series_ref) else {
                        self.stats.unknown_refs += 1;
                        continue;
                    };
                    let added = self.head.exemplars.add(
                        s.labels(),
                        super::exemplars::Exemplar {
                            labels: e.labels,
                            value: e.v,
                            t: e.t,
                        },
                    );
                    if added == super::exemplars::ExemplarOutcome::Added {
                        self.stats.exemplars += 1;
                    }
                }
            }
            RecordType::Metadata => {
                let mut out = Vec::new();
                record::decode_metadata(rec, &mut out).map_err(|e| e.to_string())?;
                self.stats.ignored_entries += out.len();
            }
            RecordType::MmapMarkers => {
                let mut out = Vec::new();
                record::decode_mmap_markers(rec, &mut out).map_err(|e| e.to_string())?;
                self.stats.ignored_entries += out.len();
            }
        }
        Ok(())
    }
}
