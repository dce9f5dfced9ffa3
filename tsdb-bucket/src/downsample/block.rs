//! Downsampling one block on local disk into a new block (Thanos' `downsample.Downsample`).
//!
//! Every series of the source block is read in index order: raw float chunks are expanded
//! and aggregated into windows of the target resolution; the aggregate chunks of an already
//! downsampled block are aggregated again. The output is an ordinary Prometheus block whose
//! chunks carry encoding `0xFF` ([`super::aggr_chunk`]), written atomically by
//! `tsdb-core`'s block writer, with a Thanos `meta.json`: the source's time range,
//! compaction level and sources, external labels, `downsample.resolution` set and
//! `source: compactor`.
//!
//! Native histograms are left out of downsampled blocks: their chunks are skipped and
//! counted in [`DownsampleReport::skipped_histogram_chunks`]. Thanos aggregates them into
//! float-histogram chunks; our readers of aggregate chunks (the store's chunk path, the
//! querier) read float aggregates only, so a histogram aggregate could not be served yet.

use std::path::{Path, PathBuf};

use chunkenc::Encoding;
use tsdb_core::block::meta::BlockMeta;
use tsdb_core::block::reader::Block;
use tsdb_core::block::tombstones::Tombstones;
use tsdb_core::block::writer::{BlockWriter, ChunkData};
use tsdb_core::block::BlockError;
use tsdb_index::postings::Postings;
use tsdb_index::{ChunkMeta, Label};
use ulid::Ulid;

use super::aggr_chunk::{AggrChunk, AggrChunkError, AGGR_CHUNK_ENCODING};
use super::aggregate::{
    downsample_aggr, downsample_raw, expand_raw, AggregateError, DownsampledChunk,
};
use super::{RES_5M, RES_RAW};
use crate::meta::{source, ThanosMeta, THANOS_VERSION};

/// Why a block could not be downsampled.
#[derive(Debug, thiserror::Error)]
pub enum DownsampleError {
    /// Reading the source or writing the output failed.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The source's `meta.json` could not be read.
    #[error("{path}: {message}")]
    Meta {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The target resolution is not coarser than the source's.
    #[error("block {block}: target resolution {target} ms is not coarser than its {current} ms")]
    Resolution {
        /// The source block.
        block: Ulid,
        /// Its resolution.
        current: i64,
        /// The resolution asked for.
        target: i64,
    },
    /// A series' chunks overlap in time (the block must be repaired first).
    #[error("block {block}: series {series} has overlapping chunks {first:?} and {second:?}")]
    OverlappingChunks {
        /// The source block.
        block: Ulid,
        /// The series' labels.
        series: String,
        /// Time range of the first chunk.
        first: (i64, i64),
        /// Time range of the next one.
        second: (i64, i64),
    },
    /// A chunk could not be read or aggregated.
    #[error("block {block}: series {series}: {source}")]
    Series {
        /// The source block.
        block: Ulid,
        /// The series' labels.
        series: String,
        /// The failure.
        #[source]
        source: AggregateError,
    },
}

/// What [`downsample_block`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct DownsampleReport {
    /// The new block's meta (`None` when the source had no float sample).
    pub meta: Option<ThanosMeta>,
    /// Native histogram chunks left out (see the module docs).
    pub skipped_histogram_chunks: u64,
}

/// The Thanos meta of a block directory (a Prometheus-only `meta.json` reads with an empty
/// extension).
pub fn read_thanos_meta(dir: &Path) -> Result<ThanosMeta, DownsampleError> {
    let path = dir.join(tsdb_core::block::meta::META_FILENAME);
    let data = std::fs::read(&path).map_err(|e| DownsampleError::Meta {
        path: path.clone(),
        message: e.to_string(),
    })?;
    ThanosMeta::from_json(&data).map_err(|message| DownsampleError::Meta { path, message })
}

/// Downsamples the block in `src` to `resolution` ms (300000 or 3600000), writing the new
/// block under `out_dir` (atomically: a temporary directory renamed into place, then its
/// `meta.json` replaced by the Thanos one through a rename).
pub fn downsample_block(
    src: &Path,
    resolution: i64,
    out_dir: &Path,
) -> Result<DownsampleReport, DownsampleError> {
    let src_meta = read_thanos_meta(src)?;
    let current = src_meta.thanos.downsample.resolution;
    if current >= resolution {
        return Err(DownsampleError::Resolution {
            block: src_meta.ulid(),
            current,
            target: resolution,
        });
    }
    let block = Block::open(src)?;
    let mut meta = BlockMeta {
        ulid: Ulid::new(),
        ..src_meta.block.clone()
    };
    meta.stats = Default::default();
    let mut writer = BlockWriter::create_with_meta(out_dir, meta)?;
    writer.add_symbols(block.index().symbols())?;

    let index = block.index();
    let mut postings = index.all_postings().map_err(|e| block.index_error(e))?;
    let mut labels_buf: Vec<Label<'_>> = Vec::new();
    let mut metas: Vec<ChunkMeta> = Vec::new();
    let mut samples: Vec<(i64, f64)> = Vec::new();
    let mut skipped_histogram_chunks = 0u64;
    let id = src_meta.ulid();
    while postings.next() {
        index
            .series(postings.at(), &mut labels_buf, &mut metas)
            .map_err(|e| block.index_error(e))?;
        let labels = tsdb_index::Labels::from_sorted(labels_buf.iter().map(|l| (l.name, l.value)));
        for w in metas.windows(2) {
            if w[0].max_time >= w[1].min_time {
                return Err(DownsampleError::OverlappingChunks {
                    block: id,
                    series: labels.to_string(),
                    first: (w[0].min_time, w[0].max_time),
                    second: (w[1].min_time, w[1].max_time),
                });
            }
        }
        let series_err = |source: AggregateError| DownsampleError::Series {
            block: id,
            series: labels.to_string(),
            source,
        };
        let out = if current == RES_RAW {
            samples.clear();
            for m in &metas {
                let raw = block.chunks().chunk(m.chunk_ref)?;
                match Encoding::try_from(raw.encoding) {
                    Ok(Encoding::Xor | Encoding::Xor2) => {
                        let enc = Encoding::try_from(raw.encoding).unwrap_or(Encoding::Xor);
                        expand_raw(enc, raw.data, &mut samples).map_err(series_err)?;
                    }
                    Ok(
                        Encoding::Histogram
                        | Encoding::FloatHistogram
                        | Encoding::HistogramSt
                        | Encoding::FloatHistogramSt,
                    ) => skipped_histogram_chunks += 1,
                    _ => {
                        return Err(series_err(AggregateError::Aggr(
                            AggrChunkError::UnknownEncoding {
                                aggr: super::AggrType::Count,
                                encoding: raw.encoding,
                            },
                        )))
                    }
                }
            }
            downsample_raw(&samples, resolution).map_err(series_err)?
        } else {
            aggregate_series(
                &block,
                &metas,
                current,
                resolution,
                &mut skipped_histogram_chunks,
            )
            .map_err(|e| match e {
                Either::Block(b) => DownsampleError::Block(b),
                Either::Aggr(a) => series_err(a),
            })?
        };
        let chunks: Vec<ChunkData<'_>> = out
            .iter()
            .map(|c| ChunkData {
                encoding: AGGR_CHUNK_ENCODING,
                data: &c.data,
                min_time: c.min_time,
                max_time: c.max_time,
                num_samples: c.num_samples,
            })
            .collect();
        writer.add_series(&labels, &chunks)?;
    }
    let Some(written) = writer.finish(&Tombstones::default())? else {
        return Ok(DownsampleReport {
            meta: None,
            skipped_histogram_chunks,
        });
    };
    let dir = out_dir.join(written.ulid.to_string());
    let mut thanos = src_meta.thanos.clone();
    thanos.version = THANOS_VERSION;
    thanos.downsample.resolution = resolution;
    thanos.source = source::COMPACTOR.to_string();
    thanos.files.clear();
    thanos.segment_files.clear();
    thanos.upload_time = None;
    let full = ThanosMeta {
        block: written,
        thanos,
    };
    write_meta_atomically(&dir, &full)?;
    Ok(DownsampleReport {
        meta: Some(full),
        skipped_histogram_chunks,
    })
}

enum Either {
    Block(BlockError),
    Aggr(AggregateError),
}

/// The chunks of one series of a downsampled block, aggregated to `resolution`. Raw chunks
/// found there (Thanos' issue #5272) are first aggregated to 5 m, as Thanos does; empty ones
/// are dropped.
fn aggregate_series(
    block: &Block,
    metas: &[ChunkMeta],
    current: i64,
    resolution: i64,
    skipped_histogram_chunks: &mut u64,
) -> Result<Vec<DownsampledChunk>, Either> {
    enum Part<'a> {
        Stored(&'a [u8]),
        Converted(usize),
    }
    let mut converted: Vec<DownsampledChunk> = Vec::new();
    let mut parts: Vec<(Part<'_>, i64, i64)> = Vec::new();
    let mut samples = Vec::new();
    for m in metas {
        let raw = block.chunks().chunk(m.chunk_ref).map_err(Either::Block)?;
        if raw.encoding == AGGR_CHUNK_ENCODING {
            parts.push((Part::Stored(raw.data), m.min_time, m.max_time));
            continue;
        }
        match Encoding::try_from(raw.encoding) {
            Ok(enc @ (Encoding::Xor | Encoding::Xor2)) => {
                samples.clear();
                expand_raw(enc, raw.data, &mut samples).map_err(Either::Aggr)?;
                for c in downsample_raw(&samples, RES_5M).map_err(Either::Aggr)? {
                    let (mint, maxt) = (c.min_time, c.max_time);
                    converted.push(c);
                    parts.push((Part::Converted(converted.len() - 1), mint, maxt));
                }
            }
            _ => *skipped_histogram_chunks += 1,
        }
    }
    let mut chunks = Vec::with_capacity(parts.len());
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    for (p, lo, hi) in &parts {
        let data = match p {
            Part::Stored(d) => d,
            Part::Converted(i) => converted[*i].data.as_slice(),
        };
        let c = AggrChunk::decode(data).map_err(|e| Either::Aggr(e.into()))?;
        if c.is_histogram() {
            *skipped_histogram_chunks += 1;
            continue;
        }
        mint = mint.min(*lo);
        maxt = maxt.max(*hi);
        chunks.push(c);
    }
    if chunks.is_empty() {
        return Ok(Vec::new());
    }
    downsample_aggr(&chunks, mint, maxt, current, resolution).map_err(Either::Aggr)
}

/// Replaces `dir/meta.json` with `meta` through a temporary file, fsynced, renamed.
fn write_meta_atomically(dir: &Path, meta: &ThanosMeta) -> Result<(), DownsampleError> {
    use std::io::Write;
    let path = dir.join(tsdb_core::block::meta::META_FILENAME);
    let tmp = dir.join("meta.json.tmp");
    let io = |e: std::io::Error| DownsampleError::Meta {
        path: path.clone(),
        message: e.to_string(),
    };
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(meta.to_json().as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}
