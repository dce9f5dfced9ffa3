//! Queriers over persisted blocks.
//!
//! A [`BlockQuerier`] reads one block; a [`MultiBlockQuerier`] merges several: series come out
//! in label order, a label set present in several blocks becomes one series whose samples are
//! merged by time (identical timestamps kept once), and every sample iterator is limited to the
//! querier's time range with the blocks' tombstones applied. [`Blocks`] implements
//! [`Queryable`] over a set of open blocks.

pub mod postings;
pub mod series;

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

use tsdb_index::postings::{BoxPostings, Postings};
use tsdb_index::{ChunkMeta, Labels, Matcher};

use crate::block::reader::Block;
use crate::block::tombstones::Interval;
use crate::storage::{Querier, Queryable, Result, SelectHints, Series, SeriesSet, StorageError};

pub use series::{BlockSeries, MergedSeries};

/// Reads series of one block within `[mint, maxt]` (inclusive, ms).
pub struct BlockQuerier<'a> {
    block: &'a Block,
    mint: i64,
    maxt: i64,
}

impl<'a> BlockQuerier<'a> {
    /// A querier over `block` for `[mint, maxt]`.
    pub fn new(block: &'a Block, mint: i64, maxt: i64) -> Self {
        BlockQuerier { block, mint, maxt }
    }

    /// The matching series as a lazy cursor of [`BlockSeries`].
    pub fn select_block(&self, matchers: &[Matcher]) -> Result<BlockSeriesSet<'a>> {
        let p = postings::select_postings(self.block.index(), matchers)
            .map_err(|e| StorageError::from(self.block.index_error(e)))?;
        Ok(BlockSeriesSet {
            block: self.block,
            postings: p,
            mint: self.mint,
            maxt: self.maxt,
            labels_buf: Vec::new(),
            chunks_buf: Vec::new(),
            done: false,
        })
    }
}

/// A cursor over the series of one block that have data in the querier's range.
pub struct BlockSeriesSet<'a> {
    block: &'a Block,
    postings: BoxPostings<'a>,
    mint: i64,
    maxt: i64,
    labels_buf: Vec<tsdb_index::Label<'a>>,
    chunks_buf: Vec<ChunkMeta>,
    done: bool,
}

impl<'a> BlockSeriesSet<'a> {
    /// The next series with at least one chunk in range not wholly deleted.
    pub fn next_block_series(&mut self) -> Option<Result<BlockSeries<'a>>> {
        if self.done {
            return None;
        }
        while self.postings.next() {
            let id = self.postings.at();
            if let Err(e) =
                self.block
                    .index()
                    .series(id, &mut self.labels_buf, &mut self.chunks_buf)
            {
                self.done = true;
                return Some(Err(self.block.index_error(e).into()));
            }
            let deleted = self.block.tombstones().get(id);
            let chunks: Vec<ChunkMeta> = self
                .chunks_buf
                .iter()
                .filter(|c| c.max_time >= self.mint && c.min_time <= self.maxt)
                .filter(|c| !is_subrange(Interval::new(c.min_time, c.max_time), deleted))
                .copied()
                .collect();
            if chunks.is_empty() {
                continue;
            }
            let labels = Labels::from_sorted(self.labels_buf.iter().map(|l| (l.name, l.value)));
            return Some(Ok(BlockSeries::new(
                self.block,
                labels,
                chunks,
                deleted.to_vec(),
                self.mint,
                self.maxt,
            )));
        }
        self.done = true;
        if let Some(e) = self.postings.err() {
            return Some(Err(self.block.index_error(e).into()));
        }
        None
    }
}

/// Whether `iv` lies entirely inside one of the sorted, merged `deleted` intervals.
fn is_subrange(iv: Interval, deleted: &[Interval]) -> bool {
    deleted
        .iter()
        .any(|d| iv.mint >= d.mint && iv.maxt <= d.maxt)
}

/// Merges the series of several blocks in label order.
pub struct MultiBlockQuerier<'a> {
    queriers: Vec<BlockQuerier<'a>>,
}

impl<'a> MultiBlockQuerier<'a> {
    /// A querier over the blocks overlapping `[mint, maxt]`.
    pub fn new(blocks: impl IntoIterator<Item = &'a Block>, mint: i64, maxt: i64) -> Self {
        let queriers = blocks
            .into_iter()
            .filter(|b| b.meta().min_time <= maxt && b.meta().max_time > mint)
            .map(|b| BlockQuerier::new(b, mint, maxt))
            .collect();
        MultiBlockQuerier { queriers }
    }

    /// The matching series, merged across blocks, in label order.
    pub fn select_merged(&self, matchers: &[Matcher]) -> Result<MergeSeriesSet<'a>> {
        let mut sets = Vec::with_capacity(self.queriers.len());
        for q in &self.queriers {
            sets.push(q.select_block(matchers)?);
        }
        let heads = sets.iter().map(|_| None).collect();
        Ok(MergeSeriesSet {
            sets,
            heads,
            primed: false,
            failed: false,
        })
    }

    fn for_each_series(&self, matchers: &[Matcher], mut f: impl FnMut(&Labels)) -> Result<()> {
        let mut set = self.select_merged(matchers)?;
        while let Some(s) = set.next_merged() {
            f(s?.labels());
        }
        Ok(())
    }
}

/// A lazy k-way merge of per-block series cursors.
pub struct MergeSeriesSet<'a> {
    sets: Vec<BlockSeriesSet<'a>>,
    heads: Vec<Option<BlockSeries<'a>>>,
    primed: bool,
    failed: bool,
}

impl<'a> MergeSeriesSet<'a> {
    fn refill(&mut self, i: usize) -> Result<()> {
        self.heads[i] = match self.sets[i].next_block_series() {
            Some(r) => Some(r?),
            None => None,
        };
        Ok(())
    }

    /// The next merged series.
    pub fn next_merged(&mut self) -> Option<Result<MergedSeries<'a>>> {
        if self.failed {
            return None;
        }
        if !self.primed {
            self.primed = true;
            for i in 0..self.sets.len() {
                if let Err(e) = self.refill(i) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        // The smallest label set among the heads, and every head carrying it.
        let mut min: Option<usize> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if let Some(h) = h {
                match min {
                    Some(m) => {
                        if h.labels().cmp(self.heads[m].as_ref().map(|s| s.labels())?)
                            == Ordering::Less
                        {
                            min = Some(i);
                        }
                    }
                    None => min = Some(i),
                }
            }
        }
        let m = min?;
        let labels = self.heads[m].as_ref()?.labels().clone();
        let mut parts = Vec::new();
        for i in 0..self.heads.len() {
            if self.heads[i]
                .as_ref()
                .is_some_and(|h| *h.labels() == labels)
            {
                parts.extend(self.heads[i].take());
                if let Err(e) = self.refill(i) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        Some(Ok(MergedSeries::new(labels, parts)))
    }
}

impl SeriesSet for MergeSeriesSet<'_> {
    fn next_series(&mut self) -> Option<Result<Box<dyn Series + '_>>> {
        self.next_merged()
            .map(|r| r.map(|s| Box::new(s) as Box<dyn Series + '_>))
    }
}

impl Querier for MultiBlockQuerier<'_> {
    fn select<'s>(
        &'s self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet + 's>> {
        // Output is always in label order: series IDs follow label order in every block.
        Ok(Box::new(self.select_merged(matchers)?))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut out = BTreeSet::new();
        if matchers.is_empty() {
            for q in &self.queriers {
                let vals = q
                    .block
                    .index()
                    .label_values(name)
                    .map_err(|e| StorageError::from(q.block.index_error(e)))?;
                out.extend(vals.into_iter().map(str::to_string));
            }
        } else {
            self.for_each_series(matchers, |l| {
                if let Some(v) = l.get(name) {
                    if !out.contains(v) {
                        out.insert(v.to_string());
                    }
                }
            })?;
        }
        Ok(out.into_iter().collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut out = BTreeSet::new();
        if matchers.is_empty() {
            for q in &self.queriers {
                out.extend(
                    q.block
                        .index()
                        .label_names()
                        .into_iter()
                        .map(str::to_string),
                );
            }
        } else {
            self.for_each_series(matchers, |l| {
                for lbl in l.iter() {
                    if !out.contains(lbl.name) {
                        out.insert(lbl.name.to_string());
                    }
                }
            })?;
        }
        Ok(out.into_iter().collect())
    }
}

/// A set of open blocks that can be queried together.
#[derive(Debug, Default)]
pub struct Blocks {
    blocks: Vec<Block>,
}

impl Blocks {
    /// Wraps already opened blocks.
    pub fn new(blocks: Vec<Block>) -> Self {
        Blocks { blocks }
    }

    /// Opens every block under `data_dir`.
    pub fn open_dir(
        data_dir: &std::path::Path,
    ) -> std::result::Result<Self, crate::block::BlockError> {
        Ok(Blocks::new(crate::block::reader::open_blocks(data_dir)?))
    }

    /// The blocks, sorted by min time.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// A merging querier over `[mint, maxt]`.
    pub fn multi_querier(&self, mint: i64, maxt: i64) -> MultiBlockQuerier<'_> {
        MultiBlockQuerier::new(&self.blocks, mint, maxt)
    }
}

self_cell::self_cell!(
    /// A querier over a snapshot of blocks that keeps the snapshot alive: blocks replaced or
    /// deleted meanwhile stay readable (their files stay mapped) until it is dropped.
    pub struct SnapshotQuerier {
        owner: Arc<Blocks>,
        #[covariant]
        dependent: MultiBlockQuerier,
    }
);

impl SnapshotQuerier {
    /// A querier over `[mint, maxt]` of `blocks`.
    pub fn over(blocks: Arc<Blocks>, mint: i64, maxt: i64) -> Self {
        SnapshotQuerier::new(blocks, |b| b.multi_querier(mint, maxt))
    }

    /// The underlying merging querier.
    pub fn blocks_querier(&self) -> &MultiBlockQuerier<'_> {
        self.borrow_dependent()
    }
}

impl Querier for SnapshotQuerier {
    fn select<'b>(
        &'b self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet + 'b>> {
        self.blocks_querier().select(sorted, hints, matchers)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.blocks_querier().label_values(name, matchers)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.blocks_querier().label_names(matchers)
    }
}

impl Queryable for Blocks {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>> {
        Ok(Box::new(self.multi_querier(mint, maxt)))
    }
}
