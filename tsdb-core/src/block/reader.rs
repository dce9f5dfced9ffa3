//! Opening a persisted block: its meta, memory-mapped index and chunk segments, and its
//! tombstones, with typed errors naming the file and section that failed.

use std::path::{Path, PathBuf};

use tsdb_index::Reader as IndexReader;

use super::chunks::{ChunkReader, CHUNKS_DIRNAME};
use super::error::BlockError;
use super::meta::BlockMeta;
use super::tombstones::Tombstones;

/// Name of the index file inside a block directory.
pub const INDEX_FILENAME: &str = "index";

/// An open, immutable block.
///
/// ```no_run
/// use tsdb_core::block::reader::Block;
/// let b = Block::open("data/01HZX...".as_ref()).unwrap();
/// println!("{} series", b.meta().stats.num_series);
/// ```
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: ChunkReader,
    tombstones: Tombstones,
    size: u64,
}

impl Block {
    /// Opens the block in `dir`, validating the meta file, the index' header, TOC and symbol
    /// table, the chunk segment headers and the tombstones file.
    pub fn open(dir: &Path) -> Result<Block, BlockError> {
        let (meta, meta_size) = BlockMeta::read_from_dir(dir)?;
        let index_path = dir.join(INDEX_FILENAME);
        let index = IndexReader::open(&index_path).map_err(|e| BlockError::Index {
            file: index_path.clone(),
            message: e.to_string(),
        })?;
        let chunks = ChunkReader::open(&dir.join(CHUNKS_DIRNAME))?;
        let (tombstones, tomb_size) = Tombstones::read_from_dir(dir)?;
        let size = meta_size + index.size() + chunks.size() + tomb_size;
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            tombstones,
            size,
        })
    }

    /// A block from parts opened elsewhere (a lazily filled copy of a block in object
    /// storage, say), without tombstones. `dir` names it in errors; `size` is what
    /// [`Block::size`] reports.
    pub fn from_parts(
        dir: PathBuf,
        meta: BlockMeta,
        index: IndexReader,
        chunks: ChunkReader,
        size: u64,
    ) -> Block {
        Block {
            dir,
            meta,
            index,
            chunks,
            tombstones: Tombstones::new(),
            size,
        }
    }

    /// The block directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed `meta.json`.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The index reader.
    pub fn index(&self) -> &IndexReader {
        &self.index
    }

    /// The chunk segment reader.
    pub fn chunks(&self) -> &ChunkReader {
        &self.chunks
    }

    /// The block's tombstones.
    pub fn tombstones(&self) -> &Tombstones {
        &self.tombstones
    }

    /// Bytes on disk: meta, index, chunks and tombstones (what `promtool tsdb list` shows).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The path of the index file (for error messages).
    pub fn index_path(&self) -> PathBuf {
        self.dir.join(INDEX_FILENAME)
    }

    /// Wraps an index error with this block's index path.
    pub fn index_error(&self, e: impl std::fmt::Display) -> BlockError {
        BlockError::Index {
            file: self.index_path(),
            message: e.to_string(),
        }
    }
}

/// Whether a directory name is a block ULID (26 Crockford base32 characters).
pub fn is_block_dir_name(name: &str) -> bool {
    name.len() == 26 && ulid::Ulid::from_string(name).is_ok()
}

/// Opens every block directly under `data_dir` (directories named by a ULID; temporary and
/// other entries are ignored), sorted by min time as Prometheus does.
pub fn open_blocks(data_dir: &Path) -> Result<Vec<Block>, BlockError> {
    let entries =
        std::fs::read_dir(data_dir).map_err(|e| BlockError::io(data_dir, "read dir", e))?;
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BlockError::io(data_dir, "read dir", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_block_dir_name(name) && entry.path().is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    let mut blocks = dirs
        .iter()
        .map(|d| Block::open(d))
        .collect::<Result<Vec<_>, _>>()?;
    blocks.sort_by_key(|b| (b.meta.min_time, b.meta.ulid));
    Ok(blocks)
}
