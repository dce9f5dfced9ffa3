//! Serving blocks of several resolutions through the StoreAPI, as Thanos' store gateway does.
//!
//! For a request's range and `max_resolution_window`, [`blocks_for`] takes the blocks of the
//! coarsest resolution allowed and fills the time they leave uncovered with finer ones,
//! recursively (Thanos' `bucketBlockSet.getFor`). [`select_chunks`] then sends each
//! matching series' chunks as stored: raw chunks in `raw`, aggregate chunks split into the
//! requested aggregates (a requested aggregate a chunk lacks is an error, as in Thanos).
//! Tombstones are not applied: Thanos' blocks in a bucket carry none.

use std::collections::BTreeMap;

use storeapi::grpc::convert::to_proto_chunk;
use storeapi::grpc::proto::{Aggr, AggrChunk as WireAggrChunk, Chunk};
use storeapi::grpc::ChunkSelection;
use tsdb_core::block::reader::Block;
use tsdb_core::querier::BlockQuerier;
use tsdb_core::storage::{Result, Series, StorageError};
use tsdb_index::{Labels, MatchType, Matcher};

use super::aggr_chunk::{AggrChunk, AggrType, AGGR_CHUNK_ENCODING};
use super::{RES_1H, RES_5M, RES_RAW};

/// The blocks of one external label set, by resolution.
#[derive(Clone)]
pub struct LeveledBlocks<'a> {
    /// External labels of the blocks.
    pub labels: &'a Labels,
    /// Every block (raw and downsampled) with its resolution.
    pub blocks: Vec<(i64, &'a Block)>,
}

impl<'a> LeveledBlocks<'a> {
    /// The blocks of each standard resolution, coarsest first, each by min time.
    fn levels(&self) -> [(i64, Vec<&'a Block>); 3] {
        let mut levels = [
            (RES_1H, Vec::new()),
            (RES_5M, Vec::new()),
            (RES_RAW, Vec::new()),
        ];
        for (res, block) in &self.blocks {
            if let Some(l) = levels.iter_mut().find(|l| l.0 == *res) {
                l.1.push(*block);
            }
        }
        for l in &mut levels {
            l.1.sort_by_key(|b| b.meta().min_time);
        }
        levels
    }
}

/// The blocks to read for `[mint, maxt]` with resolutions at most `max_resolution`: the
/// coarsest allowed level first, gaps filled from finer levels.
pub fn blocks_for<'a>(
    levels: &[(i64, Vec<&'a Block>)],
    mint: i64,
    maxt: i64,
    max_resolution: i64,
) -> Vec<&'a Block> {
    let mut out = Vec::new();
    if mint > maxt {
        return out;
    }
    let Some(i) = levels.iter().position(|l| l.0 <= max_resolution) else {
        return out;
    };
    let finer = levels.get(i + 1).map(|l| l.0);
    let mut start = mint;
    for b in &levels[i].1 {
        let m = b.meta();
        if m.max_time <= mint {
            continue;
        }
        if m.min_time > maxt {
            break;
        }
        if let Some(f) = finer {
            out.extend(blocks_for(levels, start, m.min_time - 1, f));
        }
        out.push(*b);
        start = m.max_time;
    }
    if let Some(f) = finer {
        out.extend(blocks_for(levels, start, maxt, f));
    }
    out
}

/// `labels` with `ext` added (an external label wins over a series label of its name).
fn with_external(labels: &Labels, ext: &Labels) -> Labels {
    if ext.is_empty() {
        return labels.clone();
    }
    let mut pairs: Vec<(&str, &str)> = labels
        .iter()
        .filter(|l| ext.get(l.name).is_none())
        .map(|l| (l.name, l.value))
        .collect();
    pairs.extend(ext.iter().map(|l| (l.name, l.value)));
    Labels::from_pairs(pairs)
}

/// The matchers left for the blocks of a set, or `None` when an external label rules the
/// set out.
fn block_matchers(ext: &Labels, matchers: &[Matcher]) -> Option<Vec<Matcher>> {
    let mut rest = Vec::new();
    for m in matchers {
        match ext.get(&m.name) {
            Some(v) if !m.matches(v) => return None,
            Some(_) => {}
            None => rest.push(m.clone()),
        }
    }
    if rest.is_empty() {
        rest.push(Matcher::new(MatchType::Regexp, "__name__", ".*").ok()?);
    }
    Some(rest)
}

fn corrupt(block: &Block, message: String) -> StorageError {
    StorageError::Corrupt {
        file: block.dir().display().to_string(),
        message,
    }
}

/// One stored chunk in wire form, or `None` for a raw encoding the StoreAPI cannot carry.
fn wire_chunk(
    block: &Block,
    chunk_ref: u64,
    min_time: i64,
    max_time: i64,
    aggregates: &[Aggr],
) -> Result<Option<WireAggrChunk>> {
    let raw = block.chunks().chunk(chunk_ref)?;
    let mut out = WireAggrChunk {
        min_time,
        max_time,
        ..Default::default()
    };
    if raw.encoding != AGGR_CHUNK_ENCODING {
        let Ok(enc) = chunkenc::Encoding::try_from(raw.encoding) else {
            return Err(corrupt(
                block,
                format!("chunk {chunk_ref:#x}: unknown encoding {}", raw.encoding),
            ));
        };
        out.raw = to_proto_chunk(enc, raw.data.to_vec());
        return Ok(out.raw.is_some().then_some(out));
    }
    let aggr = AggrChunk::decode(raw.data)
        .map_err(|e| corrupt(block, format!("chunk {chunk_ref:#x}: {e}")))?;
    for a in aggregates {
        let (kind, slot) = match a {
            Aggr::Raw => continue,
            Aggr::Count => (AggrType::Count, &mut out.count),
            Aggr::Sum => (AggrType::Sum, &mut out.sum),
            Aggr::Min => (AggrType::Min, &mut out.min),
            Aggr::Max => (AggrType::Max, &mut out.max),
            Aggr::Counter => (AggrType::Counter, &mut out.counter),
        };
        let part = aggr.get(kind).ok_or_else(|| {
            corrupt(
                block,
                format!("chunk {chunk_ref:#x}: aggregate {kind} does not exist"),
            )
        })?;
        *slot = Some(
            to_proto_chunk(part.encoding, part.data.to_vec()).unwrap_or(Chunk {
                r#type: 0,
                data: Vec::new(),
                hash: 0,
            }),
        );
    }
    Ok(Some(out))
}

/// The series matching a selection across label sets, each with its chunks (sorted by
/// time) from the blocks [`blocks_for`] picks; external labels added.
pub fn select_chunks(
    sets: &[LeveledBlocks<'_>],
    sel: &ChunkSelection<'_>,
) -> Result<Vec<(Labels, Vec<WireAggrChunk>)>> {
    let mut found: BTreeMap<Labels, Vec<WireAggrChunk>> = BTreeMap::new();
    for set in sets {
        let Some(ms) = block_matchers(set.labels, sel.matchers) else {
            continue;
        };
        let levels = set.levels();
        for block in blocks_for(&levels, sel.mint, sel.maxt, sel.max_resolution_window) {
            let q = BlockQuerier::new(block, sel.mint, sel.maxt);
            let mut series = q.select_block(&ms)?;
            while let Some(s) = series.next_block_series() {
                let s = s?;
                let mut chunks = Vec::with_capacity(s.chunks().len());
                for m in s.chunks() {
                    if let Some(c) =
                        wire_chunk(block, m.chunk_ref, m.min_time, m.max_time, sel.aggregates)?
                    {
                        chunks.push(c);
                    }
                }
                if chunks.is_empty() {
                    continue;
                }
                found
                    .entry(with_external(s.labels(), set.labels))
                    .or_default()
                    .extend(chunks);
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|(l, mut chunks)| {
            chunks.sort_by_key(|c| (c.min_time, c.max_time));
            (l, chunks)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarsest_level_first_gaps_from_finer() {
        // Block picking is checked on metas only: build tiny in-memory levels by time range.
        let dir = tempfile::tempdir().unwrap();
        let mk = |mint: i64, maxt: i64| -> Block {
            let mut w =
                tsdb_core::block::writer::BlockWriter::create(dir.path(), mint, maxt).unwrap();
            w.add_symbols(["__name__", "x"]).unwrap();
            let mut app = chunkenc::XorAppender::new();
            app.append(mint, 1.0).unwrap();
            let data = app.into_chunk().into_bytes();
            w.add_series(
                &Labels::from_pairs([("__name__", "x")]),
                &[tsdb_core::block::writer::ChunkData {
                    encoding: 1,
                    data: &data,
                    min_time: mint,
                    max_time: mint,
                    num_samples: 1,
                }],
            )
            .unwrap();
            let meta = w.finish(&Default::default()).unwrap().unwrap();
            Block::open(&dir.path().join(meta.ulid.to_string())).unwrap()
        };
        let raw = [mk(0, 100), mk(100, 200), mk(200, 300)];
        let five = [mk(100, 200)];
        let levels = [
            (RES_1H, vec![]),
            (RES_5M, five.iter().collect::<Vec<_>>()),
            (RES_RAW, raw.iter().collect::<Vec<_>>()),
        ];
        let range = |bs: Vec<&Block>| -> Vec<(i64, i64)> {
            bs.iter()
                .map(|b| (b.meta().min_time, b.meta().max_time))
                .collect()
        };
        assert_eq!(
            range(blocks_for(&levels, 0, 299, RES_1H)),
            vec![(0, 100), (100, 200), (200, 300)]
        );
        assert!(std::ptr::eq(
            blocks_for(&levels, 0, 299, RES_5M)[1],
            &five[0]
        ));
        assert!(std::ptr::eq(
            blocks_for(&levels, 0, 299, RES_RAW)[1],
            &raw[1]
        ));
        assert_eq!(
            range(blocks_for(&levels, 150, 160, RES_5M)),
            vec![(100, 200)]
        );
    }
}
