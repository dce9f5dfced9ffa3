//! Writing a block atomically.
//!
//! Everything goes into `<parent>/<ULID>.tmp-for-creation/`: chunk segments, the index, an
//! empty (or given) tombstones file and `meta.json`, each fsynced; then the directory is fsynced
//! and renamed to `<parent>/<ULID>` and the parent fsynced. A crash at any point leaves at most
//! a temporary directory that readers ignore, never a half-written block.
//!
//! Callers stream series in label order with their encoded chunks; symbols (every label name
//! and value, sorted and deduplicated) must be given before the first series, because the index
//! stores them first.

use std::path::{Path, PathBuf};

use tsdb_index::{ChunkMeta, Labels, Writer as IndexWriter};
use ulid::Ulid;

use super::chunks::{ChunkWriter, CHUNKS_DIRNAME};
use super::error::BlockError;
use super::fsutil;
use super::meta::{BlockMeta, BlockStats};
use super::reader::INDEX_FILENAME;
use super::tombstones::Tombstones;

/// Suffix of the temporary directory a block is built in.
pub const TMP_CREATION_SUFFIX: &str = ".tmp-for-creation";

/// One encoded chunk to be written.
#[derive(Debug, Clone, Copy)]
pub struct ChunkData<'a> {
    /// Encoding byte.
    pub encoding: u8,
    /// Encoded chunk bytes.
    pub data: &'a [u8],
    /// First sample's timestamp.
    pub min_time: i64,
    /// Last sample's timestamp.
    pub max_time: i64,
    /// Number of samples in the chunk.
    pub num_samples: u64,
}

/// Builds one block; see the module docs for the protocol.
pub struct BlockWriter {
    parent: PathBuf,
    tmp_dir: PathBuf,
    meta: BlockMeta,
    chunks: Option<ChunkWriter>,
    index: Option<IndexWriter>,
    stats: BlockStats,
    metas: Vec<ChunkMeta>,
    last_labels: Option<Labels>,
    finished: bool,
}

impl BlockWriter {
    /// Starts a level-1 block with a fresh ULID covering `[min_time, max_time)`.
    pub fn create(parent: &Path, min_time: i64, max_time: i64) -> Result<Self, BlockError> {
        Self::create_with_meta(
            parent,
            BlockMeta::new_level1(Ulid::new(), min_time, max_time),
        )
    }

    /// Starts a block with the given meta (its stats are filled in by [`BlockWriter::finish`]).
    pub fn create_with_meta(parent: &Path, meta: BlockMeta) -> Result<Self, BlockError> {
        let tmp_dir = parent.join(format!("{}{TMP_CREATION_SUFFIX}", meta.ulid));
        if tmp_dir.exists() {
            std::fs::remove_dir_all(&tmp_dir).map_err(|e| BlockError::io(&tmp_dir, "remove", e))?;
        }
        std::fs::create_dir_all(&tmp_dir).map_err(|e| BlockError::io(&tmp_dir, "create dir", e))?;
        let chunks = ChunkWriter::new(&tmp_dir.join(CHUNKS_DIRNAME))?;
        Ok(BlockWriter {
            parent: parent.to_path_buf(),
            tmp_dir,
            meta,
            chunks: Some(chunks),
            index: None,
            stats: BlockStats::default(),
            metas: Vec::new(),
            last_labels: None,
            finished: false,
        })
    }

    /// The ULID of the block being written.
    pub fn ulid(&self) -> Ulid {
        self.meta.ulid
    }

    fn index_err(&self, e: impl std::fmt::Display) -> BlockError {
        BlockError::Index {
            file: self.tmp_dir.join(INDEX_FILENAME),
            message: e.to_string(),
        }
    }

    /// Writes the symbol table: every label name and value of every series, sorted ascending
    /// and without duplicates. Call once, before any series. The empty string is always
    /// included (first), as in Prometheus' blocks.
    pub fn add_symbols<'s>(
        &mut self,
        symbols: impl IntoIterator<Item = &'s str>,
    ) -> Result<(), BlockError> {
        if self.index.is_some() {
            return Err(BlockError::Invalid("symbols already written".into()));
        }
        let path = self.tmp_dir.join(INDEX_FILENAME);
        let mut w = IndexWriter::create(&path).map_err(|e| self.index_err(e))?;
        // Prometheus' symbol tables always hold "", the name and value of the all-postings key.
        w.add_symbol("").map_err(|e| self.index_err(e))?;
        for s in symbols.into_iter().filter(|s| !s.is_empty()) {
            w.add_symbol(s).map_err(|e| self.index_err(e))?;
        }
        self.index = Some(w);
        Ok(())
    }

    /// Adds the next series (label sets strictly increasing) with its chunks in time order.
    /// Series without chunks are skipped, as Prometheus does.
    pub fn add_series(
        &mut self,
        labels: &Labels,
        chunks: &[ChunkData<'_>],
    ) -> Result<(), BlockError> {
        if chunks.is_empty() {
            return Ok(());
        }
        if let Some(prev) = &self.last_labels {
            if prev >= labels {
                return Err(BlockError::Invalid(format!(
                    "series {labels} added after {prev}: series must be in strictly increasing label order"
                )));
            }
        }
        if self.index.is_none() {
            return Err(BlockError::Invalid(
                "add_symbols must be called before add_series".into(),
            ));
        }
        let cw = self
            .chunks
            .as_mut()
            .ok_or_else(|| BlockError::Invalid("writer finished".into()))?;
        self.metas.clear();
        for c in chunks {
            let r = cw.write_chunk(c.encoding, c.data)?;
            self.metas.push(ChunkMeta {
                chunk_ref: r,
                min_time: c.min_time,
                max_time: c.max_time,
            });
            self.stats.num_chunks += 1;
            self.stats.num_samples += c.num_samples;
        }
        self.stats.num_series += 1;
        let idx = self.index.as_mut().expect("checked above");
        if let Err(e) = idx.add_series(labels, &self.metas) {
            return Err(self.index_err(e));
        }
        self.last_labels = Some(labels.clone());
        Ok(())
    }

    /// Writes tombstones, meta.json, fsyncs everything and renames the block into place.
    /// Returns the final meta. If no series was added, the temporary directory is removed and
    /// `Ok(None)` returned (Prometheus writes no empty blocks).
    pub fn finish(mut self, tombstones: &Tombstones) -> Result<Option<BlockMeta>, BlockError> {
        if self.stats.num_series == 0 {
            let _ = std::fs::remove_dir_all(&self.tmp_dir);
            return Ok(None);
        }
        if let Some(cw) = self.chunks.take() {
            cw.finish()?;
        }
        if let Some(iw) = self.index.take() {
            if let Err(e) = iw.finish() {
                return Err(self.index_err(e));
            }
        }
        tombstones.write_to_dir(&self.tmp_dir)?;
        let mut meta = self.meta.clone();
        self.stats.num_tombstones = tombstones.total();
        meta.stats = self.stats.clone();
        meta.write_to_dir(&self.tmp_dir)?;
        let final_dir = self.parent.join(meta.ulid.to_string());
        fsutil::rename_dir_durable(&self.tmp_dir, &final_dir)?;
        self.finished = true;
        Ok(Some(meta))
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        // An abandoned (failed) block leaves nothing behind.
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.tmp_dir);
        }
    }
}
