//! Reading blocks series by series, as chunk lists ready for merging, and writing their union
//! into a new block.
//!
//! Each input block is read over the output block's range `[min, max - 1]`: chunks wholly
//! outside it or wholly under a tombstone are dropped, and a chunk that a tombstone (or the
//! range border) cuts into is re-encoded without the removed samples. Series come out of
//! every block in label order and are merged across blocks in label order.

use std::borrow::Cow;
use std::collections::BTreeSet;

use chunkenc::Encoding;
use tsdb_index::postings::{BoxPostings, Postings};
use tsdb_index::{ChunkMeta, Label, Labels};

use super::merge::{compact_chunk_lists, remove_deleted, SeriesChunk};
use super::CompactError;
use crate::block::meta::BlockMeta;
use crate::block::reader::Block;
use crate::block::tombstones::{add_interval, Interval, Tombstones};
use crate::block::writer::{BlockWriter, ChunkData};

/// Walks one block's series in label order, yielding their chunks within `[mint, maxt]` with
/// tombstones applied.
pub struct BlockChunkSeries<'a> {
    block: &'a Block,
    postings: BoxPostings<'a>,
    mint: i64,
    maxt: i64,
    labels_buf: Vec<Label<'a>>,
    metas_buf: Vec<ChunkMeta>,
}

impl<'a> BlockChunkSeries<'a> {
    /// Every series of `block`, restricted to the closed range `[mint, maxt]`.
    pub fn new(block: &'a Block, mint: i64, maxt: i64) -> Result<Self, CompactError> {
        let postings = block
            .index()
            .all_postings()
            .map_err(|e| CompactError::Block(block.index_error(e)))?;
        Ok(BlockChunkSeries {
            block,
            postings,
            mint,
            maxt,
            labels_buf: Vec::new(),
            metas_buf: Vec::new(),
        })
    }

    fn chunk_error(&self, r: u64, e: impl std::fmt::Display) -> CompactError {
        CompactError::Chunk {
            block: self.block.dir().display().to_string(),
            message: format!("chunk {r:#x}: {e}"),
        }
    }

    /// The next series with at least one sample left, and its chunks.
    #[allow(clippy::type_complexity)]
    pub fn next_series(&mut self) -> Result<Option<(Labels, Vec<SeriesChunk<'a>>)>, CompactError> {
        let block = self.block;
        while self.postings.next() {
            let id = self.postings.at();
            block
                .index()
                .series(id, &mut self.labels_buf, &mut self.metas_buf)
                .map_err(|e| CompactError::Block(block.index_error(e)))?;
            let mut intervals: Vec<Interval> = block.tombstones().get(id).to_vec();
            let (mut trim_front, mut trim_back) = (false, false);
            let mut kept = Vec::with_capacity(self.metas_buf.len());
            for m in &self.metas_buf {
                if m.max_time < self.mint || m.min_time > self.maxt {
                    continue;
                }
                let whole = Interval::new(m.min_time, m.max_time);
                if intervals
                    .iter()
                    .any(|d| whole.mint >= d.mint && whole.maxt <= d.maxt)
                {
                    continue;
                }
                trim_front |= m.min_time < self.mint;
                trim_back |= m.max_time > self.maxt;
                kept.push(*m);
            }
            if kept.is_empty() {
                continue;
            }
            if trim_front {
                add_interval(
                    &mut intervals,
                    Interval::new(i64::MIN, self.mint.saturating_sub(1)),
                );
            }
            if trim_back {
                add_interval(
                    &mut intervals,
                    Interval::new(self.maxt.saturating_add(1), i64::MAX),
                );
            }
            let mut chunks = Vec::with_capacity(kept.len());
            let mut overlapping = Vec::new();
            for m in kept {
                let raw = block
                    .chunks()
                    .chunk(m.chunk_ref)
                    .map_err(CompactError::Block)?;
                let encoding = Encoding::try_from(raw.encoding)
                    .map_err(|e| self.chunk_error(m.chunk_ref, e))?;
                let chunk = SeriesChunk {
                    min_time: m.min_time,
                    max_time: m.max_time,
                    encoding,
                    data: Cow::Borrowed(raw.data),
                };
                overlapping.clear();
                overlapping.extend(
                    intervals
                        .iter()
                        .filter(|d| d.mint <= m.max_time && m.min_time <= d.maxt),
                );
                if overlapping.is_empty() {
                    chunks.push(chunk);
                } else if let Some(c) = remove_deleted(&chunk, &overlapping)
                    .map_err(|e| self.chunk_error(m.chunk_ref, e))?
                {
                    chunks.push(c);
                }
            }
            if chunks.is_empty() {
                continue;
            }
            let labels = Labels::from_sorted(self.labels_buf.iter().map(|l| (l.name, l.value)));
            return Ok(Some((labels, chunks)));
        }
        if let Some(e) = self.postings.err() {
            return Err(CompactError::Block(block.index_error(e)));
        }
        Ok(None)
    }
}

/// The meta of a block merged from `parents`: the union of their ranges and sources (sorted),
/// one level above the highest parent, and the parents listed in the given order.
pub fn compact_block_metas(ulid: ulid::Ulid, parents: &[&BlockMeta]) -> BlockMeta {
    let mut meta = BlockMeta::new_level1(ulid, 0, 0);
    meta.compaction.sources.clear();
    meta.compaction.level = 0;
    let mut sources = BTreeSet::new();
    let mut mint = parents.first().map_or(0, |m| m.min_time);
    let mut maxt = parents.first().map_or(0, |m| m.max_time);
    for p in parents {
        mint = mint.min(p.min_time);
        maxt = maxt.max(p.max_time);
        meta.compaction.level = meta.compaction.level.max(p.compaction.level);
        sources.extend(p.compaction.sources.iter().copied());
        meta.compaction.parents.push(crate::block::meta::BlockDesc {
            ulid: p.ulid,
            min_time: p.min_time,
            max_time: p.max_time,
        });
    }
    meta.compaction.level += 1;
    meta.compaction.sources = sources.into_iter().collect();
    meta.min_time = mint;
    meta.max_time = maxt;
    meta
}

/// Writes the union of `blocks` (sorted by min time) into a new block under `dest` with the
/// given meta (its stats are filled in). Returns the final meta, or `None` when no sample is
/// left (then nothing is written).
pub fn write_union(
    dest: &std::path::Path,
    meta: BlockMeta,
    blocks: &[&Block],
) -> Result<Option<BlockMeta>, CompactError> {
    if blocks.is_empty() {
        return Err(CompactError::Invalid(
            "cannot populate a block from no blocks".into(),
        ));
    }
    // Block ranges are half-open; the series reader takes a closed range.
    let (mint, maxt) = (meta.min_time, meta.max_time.saturating_sub(1));
    let mut writer = BlockWriter::create_with_meta(dest, meta)?;
    // The symbol table is the union of the inputs' symbol tables, as Prometheus writes it.
    let mut symbols: BTreeSet<&str> = BTreeSet::new();
    for b in blocks {
        symbols.extend(b.index().symbols());
    }
    writer.add_symbols(symbols.iter().copied())?;
    drop(symbols);

    let mut cursors = blocks
        .iter()
        .map(|b| BlockChunkSeries::new(b, mint, maxt))
        .collect::<Result<Vec<_>, _>>()?;
    let mut heads = Vec::with_capacity(cursors.len());
    for c in &mut cursors {
        heads.push(c.next_series()?);
    }
    let mut lists = Vec::with_capacity(cursors.len());
    let mut counts = Vec::new();
    while let Some(min) = heads
        .iter()
        .filter_map(|h| h.as_ref().map(|(l, _)| l))
        .min()
        .cloned()
    {
        lists.clear();
        for (i, h) in heads.iter_mut().enumerate() {
            if h.as_ref().is_some_and(|(l, _)| *l == min) {
                if let Some((_, chunks)) = h.take() {
                    lists.push(chunks);
                }
                *h = cursors[i].next_series()?;
            }
        }
        let chunks = compact_chunk_lists(std::mem::take(&mut lists))?;
        counts.clear();
        for c in &chunks {
            counts.push(c.num_samples()? as u64);
        }
        let data: Vec<ChunkData<'_>> = chunks
            .iter()
            .zip(&counts)
            .map(|(c, &n)| ChunkData {
                encoding: c.encoding.into(),
                data: &c.data,
                min_time: c.min_time,
                max_time: c.max_time,
                num_samples: n,
            })
            .collect();
        writer.add_series(&min, &data)?;
    }
    Ok(writer.finish(&Tombstones::new())?)
}
