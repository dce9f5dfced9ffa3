//! The database over a Prometheus data directory: persisted blocks plus the head and its WAL.
//!
//! Layout (as Prometheus writes it): `<dir>/wal/` (segments and checkpoints),
//! `<dir>/chunks_head/` (full head chunks, read through memory maps; see [`crate::chunks_head`]),
//! and one directory per persisted block.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use std::cmp::Ordering;
use std::iter::Peekable;

use chunkenc::{FloatHistogram, Histogram};
use tsdb_index::{Labels, Matcher};

use crate::block::meta::HINT_FROM_OUT_OF_ORDER;
use crate::block::BlockError;
use crate::compact::data_dir::{
    apply_retention, clean_tombstones, compact_until_done, delete_series,
};
use crate::compact::{block_ranges_for_retention, CompactError, CompactOutcome, LeveledPlanner};
use crate::head::querier::HeadSeries;
use crate::head::{Head, HeadAppender, HeadOptions, HeadQuerier, ReplayStats};
use crate::querier::{Blocks, MergeSeriesSet, MergedSeries, SnapshotQuerier};
use crate::retention::RetentionPolicy;
use crate::storage::{
    self, Querier, Queryable, SampleIterator, SelectHints, Series, SeriesSet, StorageError,
    ValueType,
};
use crate::wlog::{self, WalError, WalOptions, WalWriter};
use ulid::Ulid;

/// Name of the WAL directory inside a data directory.
pub const WAL_DIR: &str = "wal";
/// Name of the head chunks directory inside a data directory.
pub const CHUNKS_HEAD_DIR: &str = "chunks_head";
/// Name of the write-behind log of out-of-order samples inside a data directory.
pub const WBL_DIR: &str = "wbl";

/// How a [`Db`] is opened.
#[derive(Debug, Clone, Default)]
pub struct DbOptions {
    /// Head chunk cutting; its `chunk_range` is also the duration of the blocks the head is
    /// cut into (2 h by default).
    pub head: HeadOptions,
    /// WAL segment size and compression.
    pub wal: WalOptions,
    /// Time and size retention that [`Db::compact`] applies (no limit by default).
    pub retention: RetentionPolicy,
    /// Ranges of leveled block compaction in ms, ascending, the first being the head's block
    /// range. Empty: Prometheus' default for the time retention (see
    /// [`block_ranges_for_retention`]).
    pub block_ranges: Vec<i64>,
    /// Leaves persisted blocks as the head cut them (what Thanos and Mimir ask of a
    /// Prometheus whose blocks they compact elsewhere); retention still applies.
    pub no_block_compaction: bool,
    /// Keeps full head chunks in memory instead of writing them to `chunks_head/` (which
    /// is then neither read nor written).
    pub keep_head_chunks_in_memory: bool,
}

/// What one [`Db::compact`] run did.
#[derive(Debug, Clone, Default)]
pub struct CompactionReport {
    /// The head ranges persisted as blocks.
    pub head: Vec<HeadCompaction>,
    /// Blocks written from the head's out-of-order samples.
    pub out_of_order: Vec<crate::block::meta::BlockMeta>,
    /// The merges of persisted blocks, in order.
    pub merged: Vec<CompactOutcome>,
    /// Blocks deleted by retention (or because they were marked deletable).
    pub deleted: Vec<Ulid>,
}

/// What one [`Db::compact_head`] step did.
#[derive(Debug, Clone)]
pub struct HeadCompaction {
    /// The persisted block (`None` when the range held no sample).
    pub block: Option<crate::block::meta::BlockMeta>,
    /// Start of the persisted range (ms, inclusive).
    pub mint: i64,
    /// End of the persisted range (ms, exclusive); the head now starts here.
    pub maxt: i64,
    /// Series dropped from the head because all their samples are now in blocks.
    pub series_removed: usize,
    /// What the WAL checkpoint kept.
    pub checkpoint: wlog::checkpoint::CheckpointStats,
}

/// Errors of [`Db`].
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A WAL failure that repair could not handle.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// A persisted block failed to open.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A block was being written or read while compacting the head.
    #[error("head compaction: {0}")]
    HeadCompaction(String),
    /// Merging persisted blocks failed.
    #[error("block compaction: {0}")]
    Compaction(#[from] CompactError),
    /// The head chunk files failed (opening, or deleting old files).
    #[error("chunks_head: {0}")]
    ChunksHead(#[from] crate::chunks_head::ChunksHeadError),
    /// An I/O failure on a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// What happened while opening.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Replay statistics.
    pub replay: ReplayStats,
    /// The corruption found and repaired, if any: records before it were kept.
    pub repaired: Option<wlog::CorruptionError>,
    /// Damage found in `chunks_head/` and cut off (the WAL replay restored those samples).
    pub chunks_head_repaired: Option<crate::chunks_head::OpenRepair>,
}

/// A Prometheus-compatible database directory, open for appends and queries.
///
/// ```
/// use tsdb_core::db::{Db, DbOptions};
/// use tsdb_index::Labels;
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::open(dir.path(), DbOptions::default()).unwrap();
/// let mut app = db.appender();
/// app.append(&Labels::from_pairs([("__name__", "up")]), 1000, 1.0).unwrap();
/// app.commit().unwrap(); // in the WAL and fsynced
/// db.close().unwrap();
/// let db = Db::open(dir.path(), DbOptions::default()).unwrap();
/// assert_eq!(db.head().num_series(), 1);
/// ```
pub struct Db {
    dir: PathBuf,
    /// The persisted blocks. Replaced whole when blocks are added; a running query keeps the
    /// snapshot it started with (its files stay mapped until it ends).
    blocks: RwLock<Arc<Blocks>>,
    head: Head,
    report: OpenReport,
    opts: DbOptions,
    /// Serialises head compactions.
    compaction: Mutex<()>,
}

impl Db {
    /// Opens (creating if needed) the data directory: replays the WAL into the head,
    /// repairing a damaged tail as Prometheus does (records before the damage are kept, the
    /// rest is cut off), then starts a new WAL segment for appends.
    pub fn open(dir: &Path, opts: DbOptions) -> Result<Db, DbError> {
        let wal_dir = dir.join(WAL_DIR);
        for d in [
            dir.to_path_buf(),
            wal_dir.clone(),
            dir.join(CHUNKS_HEAD_DIR),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| DbError::Io {
                path: d.clone(),
                source: e,
            })?;
        }
        let blocks = Blocks::open_dir(dir)?;
        let head = Head::new(opts.head);
        let wal_opts = opts.wal;
        // As in Prometheus, the head only takes in-order samples after the newest persisted
        // in-order block (blocks of out-of-order samples may reach further).
        if let Some(max) = blocks
            .blocks()
            .iter()
            .filter(|b| {
                !b.meta()
                    .compaction
                    .hints
                    .iter()
                    .any(|h| h == HINT_FROM_OUT_OF_ORDER)
            })
            .map(|b| b.meta().max_time)
            .max()
        {
            head.set_min_valid_time(max);
        }
        let wbl_dir = dir.join(WBL_DIR);
        let mut report = OpenReport::default();
        let mut mapped = std::collections::HashMap::new();
        if !opts.keep_head_chunks_in_memory {
            let (mapper, repaired) = load_head_chunks(
                &dir.join(CHUNKS_HEAD_DIR),
                head.min_valid_time(),
                &mut mapped,
            )?;
            report.chunks_head_repaired = repaired;
            // A fresh head: nothing was set before.
            let _ = head.set_chunk_mapper(mapper);
        }
        match head.replay_with_mapped_chunks(&wal_dir, Some(&wbl_dir), mapped) {
            Ok(stats) => report.replay = stats,
            Err(WalError::Corruption(c)) if c.dir == wal_dir || c.dir == wbl_dir => {
                wlog::repair(&c)?;
                if c.dir == wal_dir && wbl_dir.is_dir() {
                    // The WAL's good records are in; the WBL was not read yet.
                    report.replay.ooo_samples =
                        head.replay_wbl(&wbl_dir, |r| head.series_by_ref(r))?;
                }
                report.repaired = Some(c);
            }
            Err(e) => return Err(e.into()),
        }
        let wal = WalWriter::open(&wal_dir, wal_opts)?;
        head.set_wal(wal);
        if opts.head.ooo_window > 0 || wbl_dir.is_dir() {
            head.set_wbl(WalWriter::open(&wbl_dir, wal_opts)?);
        }
        Ok(Db {
            dir: dir.to_path_buf(),
            blocks: RwLock::new(Arc::new(blocks)),
            head,
            report,
            opts,
            compaction: Mutex::new(()),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What opening found (replay statistics, repaired damage).
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// A snapshot of the persisted blocks.
    pub fn blocks(&self) -> Arc<Blocks> {
        self.blocks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the set of persisted blocks (queries already running keep the old set).
    pub(crate) fn set_blocks(&self, blocks: Blocks) {
        *self.blocks.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(blocks);
    }

    /// Whether the head spans more than 1.5 block ranges, the point at which Prometheus cuts
    /// its oldest block range into a block.
    pub fn head_compactable(&self) -> bool {
        let (min, max) = (self.head.min_time(), self.head.max_time());
        let range = self.opts.head.chunk_range;
        min <= max && max.saturating_sub(min) > range / 2 * 3
    }

    /// Cuts the head into blocks while it spans more than 1.5 block ranges (as Prometheus
    /// does): each step persists the oldest block range `[mint, maxt)` of the head as a block,
    /// makes it visible to queries, drops it from the head, and checkpoints the WAL so that
    /// the segments it covered are deleted. Returns one entry per step (none when the head
    /// is not compactable). Safe to call while appends and queries run.
    pub fn compact_head(&self) -> Result<Vec<HeadCompaction>, DbError> {
        let _one_at_a_time = self.compaction.lock().unwrap_or_else(|e| e.into_inner());
        self.compact_head_locked()
    }

    /// The whole maintenance Prometheus runs every minute: cuts the head into blocks
    /// ([`Db::compact_head`]), merges persisted blocks with the leveled planner until it has
    /// nothing left (unless [`DbOptions::no_block_compaction`]), then deletes the blocks
    /// beyond retention. Each step leaves the directory consistent, so a crash at any point
    /// loses nothing. Queries keep reading the block set they started with: a replaced or
    /// expired block stays readable through their memory mappings until they end.
    pub fn compact(&self) -> Result<CompactionReport, DbError> {
        let _one_at_a_time = self.compaction.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = CompactionReport {
            head: self.compact_head_locked()?,
            out_of_order: self.compact_ooo_locked()?,
            ..Default::default()
        };
        if !self.opts.no_block_compaction {
            if let Some(planner) = LeveledPlanner::new(self.block_ranges()) {
                report.merged = compact_until_done(&self.dir, &planner)?;
            }
        }
        report.deleted = apply_retention(&self.dir, self.opts.retention)?;
        if !report.merged.is_empty() || !report.deleted.is_empty() {
            self.set_blocks(Blocks::open_dir(&self.dir)?);
        }
        Ok(report)
    }

    /// The ranges of leveled compaction in use.
    pub fn block_ranges(&self) -> Vec<i64> {
        if self.opts.block_ranges.is_empty() {
            block_ranges_for_retention(self.opts.head.chunk_range, self.opts.retention.time_ms)
        } else {
            self.opts.block_ranges.clone()
        }
    }

    /// Deletes the samples in `[mint, maxt]` (inclusive) of the series matching `matchers`:
    /// tombstones in every overlapping block and a tombstones record in the WAL for the head.
    /// Queries started afterwards no longer see them; [`Db::clean_tombstones`] or a later
    /// compaction removes them for good. An empty matcher list deletes nothing.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<(), DbError> {
        let _one_at_a_time = self.compaction.lock().unwrap_or_else(|e| e.into_inner());
        let touched = delete_series(&self.dir, matchers, mint, maxt)?;
        if !touched.is_empty() {
            self.set_blocks(Blocks::open_dir(&self.dir)?);
        }
        self.head.delete(matchers, mint, maxt)?;
        Ok(())
    }

    /// Rewrites every block holding tombstones without the deleted samples, as Prometheus'
    /// `clean_tombstones` admin call does. Returns the ULIDs of the blocks replaced.
    pub fn clean_tombstones(&self) -> Result<Vec<Ulid>, DbError> {
        let _one_at_a_time = self.compaction.lock().unwrap_or_else(|e| e.into_inner());
        let cleaned = clean_tombstones(&self.dir)?;
        if !cleaned.is_empty() {
            self.set_blocks(Blocks::open_dir(&self.dir)?);
        }
        Ok(cleaned)
    }

    /// Writes a consistent copy of the database into `dest` (created if needed; it must not
    /// hold the blocks already): every persisted block hard-linked, and, `with_head`, the
    /// head's samples as one more block, as Prometheus' snapshot admin call does. The result
    /// is a data directory that Prometheus, promtool or [`Db::open`] read as is. Returns the
    /// ULIDs of the blocks in the snapshot.
    pub fn snapshot(&self, dest: &Path, with_head: bool) -> Result<Vec<Ulid>, DbError> {
        let _one_at_a_time = self.compaction.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::create_dir_all(dest).map_err(|e| DbError::Io {
            path: dest.to_path_buf(),
            source: e,
        })?;
        let mut ulids = Vec::new();
        for block in self.blocks().blocks() {
            crate::snapshot::link_block(block.dir(), dest)?;
            ulids.push(block.meta().ulid);
        }
        if with_head {
            let failed = |e: BlockError| DbError::HeadCompaction(e.to_string());
            let (mint, maxt) = (self.head.min_time(), self.head.max_time());
            if mint <= maxt {
                if let Some(meta) = self.head.persist(dest, mint, maxt + 1).map_err(failed)? {
                    ulids.push(meta.ulid);
                }
            }
            let ooo = self.head.snapshot_ooo(i64::MAX)?;
            for meta in self.head.persist_ooo(dest, &ooo).map_err(failed)? {
                ulids.push(meta.ulid);
            }
        }
        Ok(ulids)
    }

    /// Writes the head's out-of-order samples older than the in-order blocks' end into
    /// blocks of their own (one per block range; leveled compaction merges them with the
    /// in-order blocks they overlap), makes them visible, then drops them from the head and
    /// the WBL. A crash in between replays them again, and the duplicate samples merge away
    /// when the blocks are compacted.
    fn compact_ooo_locked(&self) -> Result<Vec<crate::block::meta::BlockMeta>, DbError> {
        let snap = self.head.snapshot_ooo(self.head.min_valid_time())?;
        if snap.is_empty() {
            return Ok(Vec::new());
        }
        let failed = |e: BlockError| DbError::HeadCompaction(e.to_string());
        let metas = self.head.persist_ooo(&self.dir, &snap).map_err(failed)?;
        if !metas.is_empty() {
            self.set_blocks(Blocks::open_dir(&self.dir)?);
        }
        self.head.release_ooo(&snap)?;
        Ok(metas)
    }

    fn compact_head_locked(&self) -> Result<Vec<HeadCompaction>, DbError> {
        let mut done = Vec::new();
        while self.head_compactable() {
            let range = self.opts.head.chunk_range;
            let mint = self.head.min_time();
            let maxt = (mint.div_euclid(range) + 1) * range;
            done.push(self.persist_head_range(mint, maxt)?);
        }
        Ok(done)
    }

    fn persist_head_range(&self, mint: i64, maxt: i64) -> Result<HeadCompaction, DbError> {
        let failed = |e: crate::block::BlockError| DbError::HeadCompaction(e.to_string());
        let block = self.head.persist(&self.dir, mint, maxt).map_err(failed)?;
        if block.is_some() {
            self.set_blocks(Blocks::open_dir(&self.dir)?);
        }
        let series_removed = self.head.truncate_before(maxt);
        self.head.truncate_chunk_files()?;
        let checkpoint = self.truncate_wal(maxt)?;
        Ok(HeadCompaction {
            block,
            mint,
            maxt,
            series_removed,
            checkpoint,
        })
    }

    /// Starts a new WAL segment, checkpoints every older one (keeping the series still in
    /// the head and the samples at or after `mint`), then deletes those segments and older
    /// checkpoints, as Prometheus does after a head compaction.
    fn truncate_wal(&self, mint: i64) -> Result<wlog::checkpoint::CheckpointStats, DbError> {
        let wal_dir = self.dir.join(WAL_DIR);
        let last = {
            let mut wal = self.head.wal.lock().unwrap_or_else(|e| e.into_inner());
            match wal.as_mut() {
                Some(w) => w.next_segment()?.checked_sub(1),
                None => None,
            }
        };
        let Some(last) = last else {
            return Ok(Default::default());
        };
        let head = &self.head;
        let stats = wlog::checkpoint::write_checkpoint(
            &wal_dir,
            last,
            |r| head.series_by_ref(r).is_some(),
            mint,
            self.opts.wal,
        )?;
        if let Some(w) = self
            .head
            .wal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            w.truncate(last + 1)?;
        }
        wlog::checkpoint::delete_checkpoints_before(&wal_dir, last)?;
        Ok(stats)
    }

    /// The exemplars of the series matching any of `selectors` in `[start, end]` (held by
    /// the head, logged to the WAL, replayed on open).
    pub fn query_exemplars(
        &self,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Vec<(Labels, Vec<crate::head::exemplars::Exemplar>)> {
        self.head.query_exemplars(selectors, start, end)
    }

    /// The head block.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Starts a transaction; its commit is durable when it returns `Ok`.
    pub fn appender(&self) -> HeadAppender<'_> {
        self.head.appender()
    }

    /// Flushes and closes the WAL and the WBL, and writes out and fsyncs the head chunk file.
    pub fn close(self) -> Result<(), DbError> {
        if let Some(m) = self.head.chunk_mapper() {
            m.close()?;
        }
        if let Some(w) = self.head.take_wal() {
            w.close()?;
        }
        if let Some(w) = self.head.take_wbl() {
            w.close()?;
        }
        Ok(())
    }
}

/// Opens `chunks_head/` and collects its chunks by series reference into `mapped`, as
/// Prometheus' head loads them: out-of-order chunks (replayed from the WBL here), chunks
/// ending before `min_valid` (in blocks already) and encodings the head does not cut are
/// skipped; a series' chunk that does not start after the previous one ends is damage, cut
/// off with everything after it.
fn load_head_chunks(
    dir: &Path,
    min_valid: i64,
    mapped: &mut std::collections::HashMap<u64, Vec<crate::head::series::MappedChunk>>,
) -> Result<
    (
        crate::chunks_head::ChunkDiskMapper,
        Option<crate::chunks_head::OpenRepair>,
    ),
    DbError,
> {
    use chunkenc::Encoding;
    let res = crate::chunks_head::ChunkDiskMapper::open(dir, |rec| {
        let head_encoding = matches!(
            Encoding::try_from(rec.encoding),
            Ok(Encoding::Xor | Encoding::Histogram | Encoding::FloatHistogram)
        );
        if rec.out_of_order || rec.max_t < min_valid || !head_encoding {
            return Ok(());
        }
        let list = mapped.entry(rec.series_ref).or_default();
        if let Some(last) = list.last() {
            if last.max_t >= rec.min_t {
                return Err(format!(
                    "out of sequence chunk for series {}: [{}, {}] after [{}, {}]",
                    rec.series_ref, rec.min_t, rec.max_t, last.min_t, last.max_t
                ));
            }
        }
        list.push(crate::head::series::MappedChunk {
            chunk_ref: rec.chunk_ref,
            min_t: rec.min_t,
            max_t: rec.max_t,
            num_samples: rec.num_samples(),
        });
        Ok(())
    })?;
    Ok(res)
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier + '_>> {
        let blocks = self.blocks();
        let overlapping = blocks
            .blocks()
            .iter()
            .any(|b| b.meta().min_time <= maxt && b.meta().max_time > mint);
        if !overlapping {
            // Head only: unsorted selects keep the head's reference order, as in Prometheus.
            return Ok(Box::new(self.head.querier(mint, maxt)));
        }
        Ok(Box::new(DbQuerier {
            blocks: SnapshotQuerier::over(blocks, mint, maxt),
            head: self.head.querier(mint, maxt),
        }))
    }
}

/// Reads persisted blocks and the head together: series come out in label order, and a label
/// set present in both yields one series whose samples are merged by time (a timestamp in
/// both is read from the block).
pub struct DbQuerier<'a> {
    blocks: SnapshotQuerier,
    head: HeadQuerier<'a>,
}

impl Querier for DbQuerier<'_> {
    fn select<'b>(
        &'b self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> storage::Result<Box<dyn SeriesSet + 'b>> {
        Ok(Box::new(DbSeriesSet {
            blocks: self.blocks.blocks_querier().select_merged(matchers)?,
            blocks_done: false,
            pending: None,
            head: self
                .head
                .select_series(true, matchers)?
                .into_iter()
                .peekable(),
        }))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> storage::Result<Vec<String>> {
        let mut v = self.blocks.blocks_querier().label_values(name, matchers)?;
        v.extend(self.head.label_values(name, matchers)?);
        v.sort();
        v.dedup();
        Ok(v)
    }

    fn label_names(&self, matchers: &[Matcher]) -> storage::Result<Vec<String>> {
        let mut v = self.blocks.blocks_querier().label_names(matchers)?;
        v.extend(self.head.label_names(matchers)?);
        v.sort();
        v.dedup();
        Ok(v)
    }
}

struct DbSeriesSet<'a> {
    blocks: MergeSeriesSet<'a>,
    blocks_done: bool,
    pending: Option<MergedSeries<'a>>,
    head: Peekable<std::vec::IntoIter<HeadSeries>>,
}

impl SeriesSet for DbSeriesSet<'_> {
    fn next_series(&mut self) -> Option<storage::Result<Box<dyn Series + '_>>> {
        if self.pending.is_none() && !self.blocks_done {
            match self.blocks.next_merged() {
                Some(Ok(s)) => self.pending = Some(s),
                Some(Err(e)) => return Some(Err(e)),
                None => self.blocks_done = true,
            }
        }
        let order = match (&self.pending, self.head.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(b), Some(h)) => b.labels().cmp(h.labels()),
        };
        let s: Box<dyn Series> = match order {
            Ordering::Less => Box::new(self.pending.take()?),
            Ordering::Greater => Box::new(self.head.next()?),
            Ordering::Equal => Box::new(BlockAndHeadSeries {
                block: self.pending.take()?,
                head: self.head.next()?,
            }),
        };
        Some(Ok(s))
    }
}

/// A series with samples both in blocks and in the head.
struct BlockAndHeadSeries<'a> {
    block: MergedSeries<'a>,
    head: HeadSeries,
}

impl Series for BlockAndHeadSeries<'_> {
    fn labels(&self) -> &Labels {
        self.block.labels()
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(TwoWayIterator {
            a: self.block.iter(),
            b: self.head.iter(),
            va: ValueType::None,
            vb: ValueType::None,
            started: false,
            cur: Side::Done,
            dup: false,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
    Done,
}

/// Merges two time-ordered iterators; on equal timestamps the first wins.
struct TwoWayIterator<'s> {
    a: Box<dyn SampleIterator + 's>,
    b: Box<dyn SampleIterator + 's>,
    va: ValueType,
    vb: ValueType,
    started: bool,
    cur: Side,
    /// The current sample of `a` has the same timestamp as that of `b`.
    dup: bool,
}

impl TwoWayIterator<'_> {
    fn pick(&mut self) -> ValueType {
        self.dup = false;
        match (self.va, self.vb) {
            (ValueType::None, ValueType::None) => {
                self.cur = Side::Done;
                ValueType::None
            }
            (x, ValueType::None) => {
                self.cur = Side::A;
                x
            }
            (ValueType::None, y) => {
                self.cur = Side::B;
                y
            }
            (x, y) => {
                let (ta, tb) = (self.a.at_t(), self.b.at_t());
                if ta <= tb {
                    self.cur = Side::A;
                    self.dup = ta == tb;
                    x
                } else {
                    self.cur = Side::B;
                    y
                }
            }
        }
    }

    fn current(&self) -> &(dyn SampleIterator + '_) {
        match self.cur {
            Side::B => self.b.as_ref(),
            _ => self.a.as_ref(),
        }
    }
}

impl SampleIterator for TwoWayIterator<'_> {
    fn next(&mut self) -> ValueType {
        if !self.started {
            self.started = true;
            self.va = self.a.next();
            self.vb = self.b.next();
        } else {
            match self.cur {
                Side::A => {
                    self.va = self.a.next();
                    if self.dup {
                        self.vb = self.b.next();
                    }
                }
                Side::B => self.vb = self.b.next(),
                Side::Done => return ValueType::None,
            }
        }
        self.pick()
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if self.started {
            match self.cur {
                Side::Done => return ValueType::None,
                side if self.current().at_t() >= t => {
                    return if side == Side::A { self.va } else { self.vb };
                }
                _ => {}
            }
        }
        self.started = true;
        self.va = self.a.seek(t);
        self.vb = self.b.seek(t);
        self.pick()
    }

    fn at(&self) -> (i64, f64) {
        self.current().at()
    }

    fn at_histogram(&self) -> (i64, &Histogram) {
        self.current().at_histogram()
    }

    fn at_float_histogram(&mut self) -> (i64, &FloatHistogram) {
        match self.cur {
            Side::B => self.b.at_float_histogram(),
            _ => self.a.at_float_histogram(),
        }
    }

    fn at_t(&self) -> i64 {
        self.current().at_t()
    }

    fn err(&self) -> Option<&StorageError> {
        self.a.err().or(self.b.err())
    }
}
