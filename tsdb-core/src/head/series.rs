//! One in-memory series: its labels and its chunks, cut the way Prometheus' head cuts them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chunkenc::xor::MAX_BYTES_PER_XOR_CHUNK_BEFORE_APPEND;
use chunkenc::{
    AppendOutcome, Encoding, FloatHistogram, FloatHistogramAppender, Histogram, HistogramAppender,
    XorAppender,
};
use tsdb_index::Labels;

use super::AppendError;
use crate::chunks_head::{ChunkDiskMapper, ChunksHeadError, HeadChunkRef};

/// Size a histogram chunk aims for, as in Prometheus (`TargetBytesPerHistogramChunk`).
pub const TARGET_BYTES_PER_HISTOGRAM_CHUNK: usize = 1024;
/// Fewest samples a histogram chunk is cut at, unless its range ends
/// (`MinSamplesPerHistogramChunk`).
pub const MIN_SAMPLES_PER_HISTOGRAM_CHUNK: usize = 10;

/// A finished head chunk: immutable bytes and the time range they cover.
#[derive(Debug, Clone)]
pub struct ClosedChunk {
    /// How the bytes are encoded (XOR, histogram or float histogram).
    pub encoding: Encoding,
    /// Chunk bytes (header included).
    pub bytes: Arc<[u8]>,
    /// First sample's timestamp.
    pub min_t: i64,
    /// Last sample's timestamp.
    pub max_t: i64,
}

impl From<chunkenc::builder::BuiltChunk> for ClosedChunk {
    fn from(c: chunkenc::builder::BuiltChunk) -> Self {
        ClosedChunk {
            encoding: c.encoding,
            bytes: c.bytes.into(),
            min_t: c.min_t,
            max_t: c.max_t,
        }
    }
}

/// A full chunk written to `chunks_head/`: what the head keeps of it in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappedChunk {
    /// Where its record is.
    pub chunk_ref: HeadChunkRef,
    /// First sample's timestamp.
    pub min_t: i64,
    /// Last sample's timestamp.
    pub max_t: i64,
    /// Number of samples.
    pub num_samples: u16,
}

/// A closed chunk of the head: its bytes in memory (until written to `chunks_head/`, or
/// when the head has no chunk files), or a reference into the chunk files.
#[derive(Debug, Clone)]
pub(crate) enum HeadChunk {
    Mem(ClosedChunk),
    Mapped(MappedChunk),
}

impl HeadChunk {
    pub(crate) fn min_t(&self) -> i64 {
        match self {
            HeadChunk::Mem(c) => c.min_t,
            HeadChunk::Mapped(c) => c.min_t,
        }
    }

    pub(crate) fn max_t(&self) -> i64 {
        match self {
            HeadChunk::Mem(c) => c.max_t,
            HeadChunk::Mapped(c) => c.max_t,
        }
    }

    fn num_samples(&self) -> usize {
        match self {
            HeadChunk::Mem(c) => chunkenc::iter(c.encoding, &c.bytes)
                .map(|it| it.num_samples())
                .unwrap_or_default(),
            HeadChunk::Mapped(c) => usize::from(c.num_samples),
        }
    }

    /// The chunk with its bytes, read from `mapper` if it is mapped.
    fn load(&self, mapper: Option<&ChunkDiskMapper>) -> Result<ClosedChunk, ChunksHeadError> {
        match self {
            HeadChunk::Mem(c) => Ok(c.clone()),
            HeadChunk::Mapped(m) => {
                let mapper = mapper.ok_or(ChunksHeadError::NoSuchFile(m.chunk_ref.seq()))?;
                let (enc, bytes) = mapper.chunk(m.chunk_ref)?;
                let encoding = Encoding::try_from(enc).map_err(|e| ChunksHeadError::Corrupt {
                    seq: m.chunk_ref.seq(),
                    offset: u64::from(m.chunk_ref.offset()),
                    reason: e.to_string(),
                })?;
                Ok(ClosedChunk {
                    encoding,
                    bytes,
                    min_t: m.min_t,
                    max_t: m.max_t,
                })
            }
        }
    }
}

/// The appender of the chunk currently appended to, by sample kind.
pub(crate) enum ChunkAppender {
    Xor(XorAppender),
    Histogram(HistogramAppender),
    FloatHistogram(FloatHistogramAppender),
}

impl ChunkAppender {
    pub(crate) fn num_samples(&self) -> usize {
        match self {
            ChunkAppender::Xor(a) => a.num_samples(),
            ChunkAppender::Histogram(a) => a.num_samples(),
            ChunkAppender::FloatHistogram(a) => a.num_samples(),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            ChunkAppender::Xor(a) => a.bytes(),
            ChunkAppender::Histogram(a) => a.bytes(),
            ChunkAppender::FloatHistogram(a) => a.bytes(),
        }
    }

    pub(crate) fn encoding(&self) -> Encoding {
        match self {
            ChunkAppender::Xor(_) => Encoding::Xor,
            ChunkAppender::Histogram(_) => Encoding::Histogram,
            ChunkAppender::FloatHistogram(_) => Encoding::FloatHistogram,
        }
    }
}

/// The chunk currently appended to.
pub(crate) struct OpenChunk {
    pub(crate) app: ChunkAppender,
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
}

/// The newest sample's value, for duplicate detection.
#[derive(Debug, Clone)]
enum LastValue {
    Float(f64),
    Histogram(Box<Histogram>),
    FloatHistogram(Box<FloatHistogram>),
}

/// Mutable state of a series, behind its lock.
pub(crate) struct SeriesData {
    /// Closed chunks, oldest first: the mapped ones first, then any not written out yet.
    pub(crate) closed: Vec<HeadChunk>,
    pub(crate) open: Option<OpenChunk>,
    /// Out-of-order float samples, by time, one per timestamp.
    pub(crate) ooo: Vec<(i64, f64)>,
    /// Whether out-of-order samples were moved into blocks and none is left (the series may
    /// then be dropped like one whose chunks were all persisted).
    pub(crate) ooo_persisted: bool,
    /// Timestamp at which the open chunk is cut.
    next_at: i64,
    /// Value of the newest sample (for duplicate detection).
    last_value: LastValue,
    /// Whether the open histogram chunk's end time was predicted from its fill rate.
    histogram_end_computed: bool,
}

/// The newest sample's value as [`SeriesData::appendable_histogram`] shows it.
pub(crate) enum LastValueRef<'a> {
    Float(#[allow(dead_code)] f64),
    Histogram(&'a Histogram),
    FloatHistogram(&'a FloatHistogram),
}

/// A series of the head.
pub struct MemSeries {
    series_ref: u64,
    labels: Labels,
    data: Mutex<SeriesData>,
    /// Whether a series record for it is in the WAL (set under the WAL lock).
    logged: AtomicBool,
    /// Whether head truncation removed it (set under the WAL lock): a transaction still
    /// holding it must re-create the series instead.
    removed: AtomicBool,
}

/// `(t / width) * width + width` with Go's truncating division, as Prometheus computes the end
/// of the aligned range holding `t`.
pub(crate) fn range_for_timestamp(t: i64, width: i64) -> i64 {
    (t / width) * width + width
}

/// Prometheus' prediction of where to end a chunk so that the rest of the chunk range is split
/// into equally full chunks: once a chunk is a quarter full (`ratio_to_full` = 4), the
/// remaining range is divided by how many chunks of this rate fit into it.
pub(crate) fn compute_chunk_end_time(start: i64, cur: i64, max_t: i64, ratio_to_full: f64) -> i64 {
    let n = (max_t - start) as f64 / ((cur - start + 1) as f64 * ratio_to_full);
    if n <= 1.0 {
        return max_t;
    }
    (start as f64 + (max_t - start) as f64 / n.floor()) as i64
}

impl MemSeries {
    pub(crate) fn new(series_ref: u64, labels: Labels) -> Self {
        MemSeries {
            series_ref,
            labels,
            data: Mutex::new(SeriesData {
                closed: Vec::new(),
                open: None,
                ooo: Vec::new(),
                ooo_persisted: false,
                next_at: i64::MIN,
                last_value: LastValue::Float(0.0),
                histogram_end_computed: false,
            }),
            logged: AtomicBool::new(false),
            removed: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    pub(crate) fn mark_removed(&self) {
        self.removed.store(true, Ordering::Release);
    }

    pub(crate) fn is_logged(&self) -> bool {
        self.logged.load(Ordering::Acquire)
    }

    pub(crate) fn set_logged(&self) {
        self.logged.store(true, Ordering::Release);
    }

    pub(crate) fn unset_logged(&self) {
        self.logged.store(false, Ordering::Release);
    }

    /// The series' reference.
    pub fn series_ref(&self) -> u64 {
        self.series_ref
    }

    /// The series' labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Number of chunks, the open one included.
    pub fn num_chunks(&self) -> usize {
        self.lock().num_chunks()
    }

    /// Sample counts of the series' chunks, oldest first (the open one included).
    pub fn chunk_sample_counts(&self) -> Vec<usize> {
        let d = self.lock();
        let mut v: Vec<usize> = d.closed.iter().map(HeadChunk::num_samples).collect();
        if let Some(c) = &d.open {
            v.push(c.app.num_samples());
        }
        v
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SeriesData> {
        // A panic while holding the lock cannot leave the chunk list inconsistent (appends are
        // a single push or chunk swap), so a poisoned lock is still usable.
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SeriesData {
    /// Timestamp of the newest sample, if any.
    pub(crate) fn max_time(&self) -> Option<i64> {
        match &self.open {
            Some(c) => Some(c.max_t),
            None => self.closed.last().map(HeadChunk::max_t),
        }
    }

    /// Checks where a float sample can go, as Prometheus' `appendable` decides: `Ok(false)`
    /// in order, `Ok(true)` among the out-of-order samples (only with `ooo_floor`, the
    /// oldest timestamp the out-of-order window accepts), or why not.
    pub(crate) fn appendable(
        &self,
        t: i64,
        v: f64,
        min_valid: i64,
        ooo_floor: Option<i64>,
    ) -> Result<bool, AppendError> {
        if t >= min_valid {
            let Some(max_t) = self.max_time() else {
                return Ok(false);
            };
            if t > max_t {
                return Ok(false);
            }
            if t == max_t {
                // Exact duplicates are accepted (federation produces them); a different value
                // (or a histogram) at the newest timestamp is an error.
                return match self.last_value {
                    LastValue::Float(last) if last.to_bits() == v.to_bits() => Ok(false),
                    LastValue::Float(last) => Err(AppendError::DuplicateSample {
                        t,
                        existing: last,
                        new: v,
                    }),
                    _ => Err(AppendError::DuplicateSample {
                        t,
                        existing: f64::NAN,
                        new: v,
                    }),
                };
            }
        }
        match ooo_floor {
            Some(floor) if t >= floor => Ok(true),
            Some(_) => Err(AppendError::TooOld { t }),
            None if t < min_valid => Err(AppendError::OutOfBounds { t, min_valid }),
            None => Err(AppendError::OutOfOrder { t }),
        }
    }

    /// Adds an out-of-order float sample; a sample already there at `t` wins (as in
    /// Prometheus' out-of-order chunk). Returns whether it was added.
    pub(crate) fn insert_ooo(&mut self, t: i64, v: f64) -> bool {
        match self.ooo.binary_search_by_key(&t, |s| s.0) {
            Ok(_) => false,
            Err(i) => {
                self.ooo.insert(i, (t, v));
                true
            }
        }
    }

    /// The out-of-order samples in `[mint, maxt]`.
    pub(crate) fn ooo_in(&self, mint: i64, maxt: i64) -> Vec<(i64, f64)> {
        let from = self.ooo.partition_point(|s| s.0 < mint);
        let to = self.ooo.partition_point(|s| s.0 <= maxt);
        self.ooo[from..to.max(from)].to_vec()
    }

    /// Appends a float sample if it is newer than the newest one, cutting chunks as
    /// Prometheus does. Returns whether it was appended.
    pub(crate) fn append(
        &mut self,
        t: i64,
        v: f64,
        chunk_range: i64,
        samples_per_chunk: usize,
    ) -> bool {
        if let Some(max_t) = self.max_time() {
            if t <= max_t {
                return false;
            }
        }
        let cut = match &self.open {
            None => true,
            Some(c) if c.app.encoding() != Encoding::Xor => true,
            Some(c) => {
                let n = c.app.num_samples();
                if c.app.bytes().len() > MAX_BYTES_PER_XOR_CHUNK_BEFORE_APPEND {
                    true
                } else {
                    if n == samples_per_chunk / 4 {
                        self.next_at = compute_chunk_end_time(c.min_t, c.max_t, self.next_at, 4.0);
                    }
                    t >= self.next_at || n >= samples_per_chunk * 2
                }
            }
        };
        if cut {
            self.cut(t, chunk_range, ChunkAppender::Xor(XorAppender::new()));
        }
        let Some(c) = self.open.as_mut() else {
            return false;
        };
        let ChunkAppender::Xor(app) = &mut c.app else {
            return false;
        };
        // A chunk is cut long before the 65535-sample limit, so this cannot fail.
        let _ = app.append(t, v);
        c.max_t = t;
        self.last_value = LastValue::Float(v);
        true
    }

    /// Closes the open chunk and opens `app` for a sample at `t`; returns the closed chunk's
    /// appender (histogram appenders are consulted for the counter-reset header).
    fn cut(&mut self, t: i64, chunk_range: i64, app: ChunkAppender) -> Option<ChunkAppender> {
        let prev = self.open.take().and_then(|c| {
            if c.app.num_samples() == 0 {
                return None;
            }
            let encoding = c.app.encoding();
            // XOR bytes move; a histogram appender is kept for the next chunk's header.
            let (bytes, keep): (Arc<[u8]>, Option<ChunkAppender>) = match c.app {
                ChunkAppender::Xor(a) => (a.into_chunk().into_bytes().into(), None),
                other => (other.bytes().into(), Some(other)),
            };
            self.closed.push(HeadChunk::Mem(ClosedChunk {
                encoding,
                bytes,
                min_t: c.min_t,
                max_t: c.max_t,
            }));
            keep
        });
        self.open = Some(OpenChunk {
            app,
            min_t: t,
            max_t: i64::MIN,
        });
        self.next_at = range_for_timestamp(t, chunk_range);
        self.histogram_end_computed = false;
        prev
    }

    /// Checks whether a histogram sample can be appended in order; `same` says whether it
    /// equals the newest sample (an exact duplicate is accepted).
    pub(crate) fn appendable_histogram(
        &self,
        t: i64,
        min_valid: i64,
        same_as_last: impl Fn(&LastValueRef<'_>) -> bool,
    ) -> Result<(), AppendError> {
        if t < min_valid {
            return Err(AppendError::OutOfBounds { t, min_valid });
        }
        let Some(max_t) = self.max_time() else {
            return Ok(());
        };
        if t > max_t {
            return Ok(());
        }
        if t == max_t {
            let last = match &self.last_value {
                LastValue::Float(v) => LastValueRef::Float(*v),
                LastValue::Histogram(h) => LastValueRef::Histogram(h),
                LastValue::FloatHistogram(h) => LastValueRef::FloatHistogram(h),
            };
            if same_as_last(&last) {
                return Ok(());
            }
            return Err(AppendError::DuplicateSample {
                t,
                existing: f64::NAN,
                new: f64::NAN,
            });
        }
        Err(AppendError::OutOfOrder { t })
    }

    /// Cuts the open chunk if a histogram sample of `encoding` at `t` must start a new one,
    /// as Prometheus' head decides it (size target of 1 KiB, at least 10 samples, chunk range
    /// boundaries). Returns the closed chunk's appender when one was cut.
    fn prepare_histogram_chunk(
        &mut self,
        t: i64,
        encoding: Encoding,
        chunk_range: i64,
        fresh: fn() -> ChunkAppender,
    ) -> Option<ChunkAppender> {
        let Some(c) = self.open.as_ref().filter(|c| c.app.encoding() == encoding) else {
            return self.cut(t, chunk_range, fresh());
        };
        let n = c.app.num_samples();
        let bytes = c.app.bytes().len();
        let (min_t, max_t) = (c.min_t, c.max_t);
        let target = TARGET_BYTES_PER_HISTOGRAM_CHUNK;
        let range_start = if self.histogram_end_computed {
            range_for_timestamp(min_t, chunk_range)
        } else {
            self.next_at
        };
        if !self.histogram_end_computed && bytes >= target / 4 {
            let ratio = target as f64 / bytes as f64;
            self.next_at = compute_chunk_end_time(min_t, max_t, self.next_at, ratio);
            self.histogram_end_computed = true;
        }
        if (t >= self.next_at || bytes >= target * 2)
            && (n >= MIN_SAMPLES_PER_HISTOGRAM_CHUNK || t >= range_start)
        {
            return self.cut(t, chunk_range, fresh());
        }
        None
    }

    /// Appends a histogram sample of either kind if it is newer than the newest sample:
    /// `append` adds it to the open chunk's appender (given the previous chunk's appender
    /// when one was just cut) and returns `None` on failure, or the appender of a new chunk
    /// the sample went into instead (counter reset, layout change). Returns whether the
    /// sample was appended.
    fn append_any_histogram(
        &mut self,
        t: i64,
        chunk_range: i64,
        encoding: Encoding,
        fresh: fn() -> ChunkAppender,
        append: impl FnOnce(&mut ChunkAppender, Option<&ChunkAppender>) -> Option<Option<ChunkAppender>>,
        last: impl FnOnce() -> LastValue,
    ) -> bool {
        if self.max_time().is_some_and(|m| t <= m) {
            return false;
        }
        let prev = self.prepare_histogram_chunk(t, encoding, chunk_range, fresh);
        let Some(c) = self.open.as_mut() else {
            return false;
        };
        let Some(next) = append(&mut c.app, prev.as_ref()) else {
            return false;
        };
        if let Some(next) = next {
            self.cut(t, chunk_range, next);
        }
        if let Some(c) = self.open.as_mut() {
            c.max_t = t;
        }
        self.last_value = last();
        true
    }

    /// Appends an integer histogram sample if it is newer than the newest sample, cutting
    /// and recoding chunks as Prometheus does. Returns whether it was appended.
    pub(crate) fn append_histogram(&mut self, t: i64, h: &Histogram, chunk_range: i64) -> bool {
        self.append_any_histogram(
            t,
            chunk_range,
            Encoding::Histogram,
            || ChunkAppender::Histogram(HistogramAppender::new()),
            |app, prev| {
                let ChunkAppender::Histogram(app) = app else {
                    return None;
                };
                let prev = match prev {
                    Some(ChunkAppender::Histogram(p)) => Some(p),
                    _ => None,
                };
                match app.append_histogram(prev, t, h, false).ok()? {
                    AppendOutcome::NewChunk(next) => Some(Some(ChunkAppender::Histogram(*next))),
                    _ => Some(None),
                }
            },
            || LastValue::Histogram(Box::new(h.clone())),
        )
    }

    /// Appends a float histogram sample if it is newer than the newest sample. Returns
    /// whether it was appended.
    pub(crate) fn append_float_histogram(
        &mut self,
        t: i64,
        h: &FloatHistogram,
        chunk_range: i64,
    ) -> bool {
        self.append_any_histogram(
            t,
            chunk_range,
            Encoding::FloatHistogram,
            || ChunkAppender::FloatHistogram(FloatHistogramAppender::new()),
            |app, prev| {
                let ChunkAppender::FloatHistogram(app) = app else {
                    return None;
                };
                let prev = match prev {
                    Some(ChunkAppender::FloatHistogram(p)) => Some(p),
                    _ => None,
                };
                match app.append_float_histogram(prev, t, h, false).ok()? {
                    AppendOutcome::NewChunk(next) => {
                        Some(Some(ChunkAppender::FloatHistogram(*next)))
                    }
                    _ => Some(None),
                }
            },
            || LastValue::FloatHistogram(Box::new(h.clone())),
        )
    }

    /// The chunks overlapping `[mint, maxt]`, the open one copied and the mapped ones read
    /// from `mapper`.
    pub(crate) fn snapshot(
        &self,
        mint: i64,
        maxt: i64,
        mapper: Option<&ChunkDiskMapper>,
    ) -> Result<Vec<ClosedChunk>, ChunksHeadError> {
        let mut out: Vec<ClosedChunk> = self
            .closed
            .iter()
            .filter(|c| c.max_t() >= mint && c.min_t() <= maxt)
            .map(|c| c.load(mapper))
            .collect::<Result<_, _>>()?;
        if let Some(c) = &self.open {
            if c.app.num_samples() > 0 && c.max_t >= mint && c.min_t <= maxt {
                out.push(ClosedChunk {
                    encoding: c.app.encoding(),
                    bytes: c.app.bytes().into(),
                    min_t: c.min_t,
                    max_t: c.max_t,
                });
            }
        }
        Ok(out)
    }

    /// Approximate bytes held for the series' chunks: the chunk list, bytes of chunks in
    /// memory, and the open chunk's bytes.
    pub(crate) fn chunk_memory_bytes(&self) -> usize {
        let list = self.closed.capacity() * std::mem::size_of::<HeadChunk>();
        let mem: usize = self
            .closed
            .iter()
            .map(|c| match c {
                HeadChunk::Mem(c) => c.bytes.len(),
                HeadChunk::Mapped(_) => 0,
            })
            .sum();
        let open = self.open.as_ref().map_or(0, |c| c.app.bytes().len());
        list + mem + open
    }

    /// Whether a sample at `t` is already in the newest chunk loaded from `chunks_head/`
    /// (WAL replay skips it).
    pub(crate) fn covered_by_mapped(&self, t: i64) -> bool {
        self.open.is_none()
            && matches!(self.closed.last(), Some(HeadChunk::Mapped(m)) if t <= m.max_t)
    }

    /// Whether a cut chunk waits to be written to `chunks_head/`.
    pub(crate) fn has_unmapped(&self) -> bool {
        matches!(self.closed.last(), Some(HeadChunk::Mem(_)))
    }

    /// Writes the chunks not written yet to `mapper`, oldest first, and keeps only their
    /// references. On failure the rest stay in memory.
    pub(crate) fn mmap_pending(
        &mut self,
        series_ref: u64,
        mapper: &ChunkDiskMapper,
    ) -> Result<(), ChunksHeadError> {
        let first = self
            .closed
            .iter()
            .rposition(|c| matches!(c, HeadChunk::Mapped(_)))
            .map_or(0, |i| i + 1);
        for c in &mut self.closed[first..] {
            let HeadChunk::Mem(m) = c else { continue };
            let chunk_ref =
                mapper.write_chunk(series_ref, m.min_t, m.max_t, m.encoding as u8, &m.bytes)?;
            let num_samples = u16::from_be_bytes([m.bytes[0], m.bytes[1]]);
            *c = HeadChunk::Mapped(MappedChunk {
                chunk_ref,
                min_t: m.min_t,
                max_t: m.max_t,
                num_samples,
            });
        }
        Ok(())
    }

    /// Takes `chunks` (loaded from `chunks_head/` on open, oldest first) as the series'
    /// oldest chunks, if it holds none yet. Returns whether they were taken.
    pub(crate) fn attach_mapped(&mut self, chunks: &[MappedChunk]) -> bool {
        if !self.closed.is_empty() || self.open.is_some() || chunks.is_empty() {
            return false;
        }
        self.closed = chunks.iter().copied().map(HeadChunk::Mapped).collect();
        true
    }

    /// Sets the newest value (for duplicate detection) from the newest closed chunk, when
    /// there is no open chunk (after loading mapped chunks).
    pub(crate) fn restore_last_value(&mut self, mapper: &ChunkDiskMapper) {
        if self.open.is_some() {
            return;
        }
        let Some(Ok(c)) = self.closed.last().map(|c| c.load(Some(mapper))) else {
            return;
        };
        let Ok(mut it) = chunkenc::iter(c.encoding, &c.bytes) else {
            return;
        };
        let mut last = None;
        while let Ok(Some(kind)) = it.next() {
            last = Some(kind);
        }
        self.last_value = match last {
            Some(chunkenc::ValueKind::Float) => LastValue::Float(it.at().1),
            Some(chunkenc::ValueKind::Histogram) => match it.at_histogram() {
                Some((_, h)) => LastValue::Histogram(Box::new(h.clone())),
                None => return,
            },
            Some(chunkenc::ValueKind::FloatHistogram) => match it.at_float_histogram() {
                Some((_, h)) => LastValue::FloatHistogram(Box::new(h.clone())),
                None => return,
            },
            None => return,
        };
    }

    /// Sequence number of the oldest chunk file the series still refers to.
    pub(crate) fn min_mapped_seq(&self) -> Option<u32> {
        self.closed.iter().find_map(|c| match c {
            HeadChunk::Mapped(m) => Some(m.chunk_ref.seq()),
            HeadChunk::Mem(_) => None,
        })
    }

    /// Drops the chunks whose newest sample is before `t` (the open one included).
    pub(crate) fn drop_chunks_before(&mut self, t: i64) {
        self.closed.retain(|c| c.max_t() >= t);
        if self
            .open
            .as_ref()
            .is_some_and(|c| c.app.num_samples() > 0 && c.max_t < t)
        {
            // The newest sample stays known through `last_value` and the empty state: a later
            // sample starts a new chunk.
            self.open = None;
        }
    }

    /// Oldest and newest timestamps of the chunks still held, if any.
    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        let first = self.closed.first().map(HeadChunk::min_t).or_else(|| {
            self.open
                .as_ref()
                .filter(|c| c.app.num_samples() > 0)
                .map(|c| c.min_t)
        })?;
        Some((first, self.max_time()?))
    }

    /// Oldest and newest timestamps of the series' samples, in order and out of order.
    pub(crate) fn full_time_range(&self) -> Option<(i64, i64)> {
        let ooo = self
            .ooo
            .first()
            .map(|f| (f.0, self.ooo[self.ooo.len() - 1].0));
        match (self.time_range(), ooo) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (r, None) | (None, r) => r,
        }
    }

    /// Number of chunks, the open one included.
    pub(crate) fn num_chunks(&self) -> usize {
        self.closed.len() + usize::from(self.open.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl MemSeries {
        fn lock_owned_for_test(self) -> SeriesData {
            self.data.into_inner().unwrap()
        }
    }

    #[test]
    fn chunk_end_time_spreads_the_range() {
        // 30 samples at 15 s from t=0 in a 2 h range: 2h / (435 s * 4) ≈ 4.1 → 4 chunks.
        let end = compute_chunk_end_time(0, 29 * 15_000, 7_200_000, 4.0);
        assert_eq!(end, 1_800_000);
        assert_eq!(
            compute_chunk_end_time(0, 7_000_000, 7_200_000, 4.0),
            7_200_000
        );
        assert_eq!(range_for_timestamp(7_199_999, 7_200_000), 7_200_000);
        assert_eq!(range_for_timestamp(7_200_000, 7_200_000), 14_400_000);
        assert_eq!(range_for_timestamp(-1, 7_200_000), 7_200_000);
    }

    #[test]
    fn cuts_at_120_samples_for_regular_scrapes() {
        let mut d = MemSeries::new(1, Labels::empty()).lock_owned_for_test();
        for i in 0..480 {
            assert!(d.append(i * 15_000, i as f64, 7_200_000, 120));
        }
        // 480 samples at 15 s = 2 h: Prometheus cuts four chunks of 120.
        assert_eq!(d.closed.len(), 3);
        assert!(d.closed.iter().all(
            |c| matches!(c, HeadChunk::Mem(c) if c.bytes[1] == 120 && c.encoding == Encoding::Xor)
        ));
        assert!(!d.append(0, 1.0, 7_200_000, 120));
    }
}
