//! The database over a Prometheus data directory: persisted blocks plus the head and its WAL.
//!
//! Layout (as Prometheus writes it): `<dir>/wal/` (segments and checkpoints),
//! `<dir>/chunks_head/` (m-mapped head chunks; created empty, as we keep head chunks in memory),
//! and one directory per persisted block.

use std::path::{Path, PathBuf};

use std::cmp::Ordering;
use std::iter::Peekable;

use chunkenc::{FloatHistogram, Histogram};
use tsdb_index::{Labels, Matcher};

use crate::block::BlockError;
use crate::head::querier::HeadSeries;
use crate::head::{Head, HeadAppender, HeadOptions, HeadQuerier, ReplayStats};
use crate::querier::{Blocks, MergeSeriesSet, MergedSeries, MultiBlockQuerier};
use crate::storage::{
    self, Querier, Queryable, SampleIterator, SelectHints, Series, SeriesSet, StorageError,
    ValueType,
};
use crate::wlog::{self, WalError, WalOptions, WalWriter};

/// Name of the WAL directory inside a data directory.
pub const WAL_DIR: &str = "wal";
/// Name of the head chunks directory inside a data directory.
pub const CHUNKS_HEAD_DIR: &str = "chunks_head";

/// How a [`Db`] is opened.
#[derive(Debug, Clone, Default)]
pub struct DbOptions {
    /// Head chunk cutting.
    pub head: HeadOptions,
    /// WAL segment size and compression.
    pub wal: WalOptions,
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
    blocks: Blocks,
    head: Head,
    report: OpenReport,
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
        // As in Prometheus, the head only takes samples after the newest persisted block.
        if let Some(max) = blocks.blocks().iter().map(|b| b.meta().max_time).max() {
            head.set_min_valid_time(max);
        }
        let mut report = OpenReport::default();
        match head.replay_wal(&wal_dir) {
            Ok(stats) => report.replay = stats,
            Err(WalError::Corruption(c)) if c.dir == wal_dir => {
                wlog::repair(&c)?;
                report.repaired = Some(c);
            }
            Err(e) => return Err(e.into()),
        }
        let wal = WalWriter::open(&wal_dir, opts.wal)?;
        head.set_wal(wal);
        Ok(Db {
            dir: dir.to_path_buf(),
            blocks,
            head,
            report,
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

    /// The persisted blocks.
    pub fn blocks(&self) -> &Blocks {
        &self.blocks
    }

    /// The head block.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Starts a transaction; its commit is durable when it returns `Ok`.
    pub fn appender(&self) -> HeadAppender<'_> {
        self.head.appender()
    }

    /// Flushes and closes the WAL.
    pub fn close(self) -> Result<(), DbError> {
        if let Some(w) = self.head.take_wal() {
            w.close()?;
        }
        Ok(())
    }
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier + '_>> {
        let overlapping = self
            .blocks
            .blocks()
            .iter()
            .any(|b| b.meta().min_time <= maxt && b.meta().max_time > mint);
        if !overlapping {
            // Head only: unsorted selects keep the head's reference order, as in Prometheus.
            return Ok(Box::new(self.head.querier(mint, maxt)));
        }
        Ok(Box::new(DbQuerier {
            blocks: self.blocks.multi_querier(mint, maxt),
            head: self.head.querier(mint, maxt),
        }))
    }
}

/// Reads persisted blocks and the head together: series come out in label order, and a label
/// set present in both yields one series whose samples are merged by time (a timestamp in
/// both is read from the block).
pub struct DbQuerier<'a> {
    blocks: MultiBlockQuerier<'a>,
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
            blocks: self.blocks.select_merged(matchers)?,
            blocks_done: false,
            pending: None,
            head: self
                .head
                .select_series(true, matchers)
                .into_iter()
                .peekable(),
        }))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> storage::Result<Vec<String>> {
        let mut v = self.blocks.label_values(name, matchers)?;
        v.extend(self.head.label_values(name, matchers)?);
        v.sort();
        v.dedup();
        Ok(v)
    }

    fn label_names(&self, matchers: &[Matcher]) -> storage::Result<Vec<String>> {
        let mut v = self.blocks.label_names(matchers)?;
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
