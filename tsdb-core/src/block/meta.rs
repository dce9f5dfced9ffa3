//! `meta.json`: a block's identity, time range, statistics and compaction lineage.
//!
//! The JSON shape (field names, which fields are omitted when empty, tab indentation and no
//! trailing newline) matches what Prometheus writes, so `promtool` and Thanos read our blocks
//! and we read theirs. The meta-file `version` is always 1; any other value is rejected.

use std::path::Path;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::error::BlockError;
use super::fsutil;

/// File name of the meta file inside a block directory.
pub const META_FILENAME: &str = "meta.json";
/// The only meta-file version Prometheus writes and accepts.
pub const META_VERSION: u32 = 1;

/// Compaction hint: the block was produced from out-of-order samples.
pub const HINT_FROM_OUT_OF_ORDER: &str = "from-out-of-order";

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// Counts of what a block holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    /// All samples (float and histogram).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    /// Float samples.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_float_samples: u64,
    /// Native histogram samples.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_histogram_samples: u64,
    /// Series.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_series: u64,
    /// Chunks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
    /// Tombstone intervals.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

/// A reference to another block: its ULID and time range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDesc {
    /// The block's ULID.
    pub ulid: Ulid,
    /// Inclusive start, ms.
    pub min_time: i64,
    /// Exclusive end, ms.
    pub max_time: i64,
}

/// How a block came to be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMetaCompaction {
    /// 1 for a block cut from the head; one more than the highest parent level after merging.
    #[serde(default)]
    pub level: u32,
    /// ULIDs of all level-1 blocks this block was (transitively) made from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Ulid>,
    /// Whether the block may be deleted (it was superseded).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deletable: bool,
    /// The blocks merged directly into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
    /// Whether a compaction involving this block failed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub failed: bool,
    /// Compaction hints such as [`HINT_FROM_OUT_OF_ORDER`], sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

/// The contents of a block's `meta.json`.
///
/// ```
/// use tsdb_core::block::meta::BlockMeta;
/// let meta = BlockMeta::new_level1(ulid::Ulid::nil(), 0, 7_200_000);
/// let json = meta.to_json();
/// assert!(json.starts_with("{\n\t\"ulid\": \"00000000000000000000000000\""));
/// assert_eq!(BlockMeta::from_json(json.as_bytes()).unwrap(), meta);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// The block's unique, time-sortable identifier.
    pub ulid: Ulid,
    /// Inclusive start of the block's time range, ms.
    pub min_time: i64,
    /// Exclusive end of the block's time range, ms.
    pub max_time: i64,
    /// What the block holds.
    #[serde(default)]
    pub stats: BlockStats,
    /// Compaction lineage.
    #[serde(default)]
    pub compaction: BlockMetaCompaction,
    /// Meta-file format version; always [`META_VERSION`].
    pub version: u32,
}

impl BlockMeta {
    /// Meta of a fresh level-1 block (cut from a head or written by a block writer): it is its
    /// own single source.
    pub fn new_level1(ulid: Ulid, min_time: i64, max_time: i64) -> Self {
        BlockMeta {
            ulid,
            min_time,
            max_time,
            stats: BlockStats::default(),
            compaction: BlockMetaCompaction {
                level: 1,
                sources: vec![ulid],
                ..Default::default()
            },
            version: META_VERSION,
        }
    }

    /// Serialises as Prometheus does: tab-indented JSON without a trailing newline.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(512);
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        // Serialising plain structs of integers and strings into memory cannot fail.
        if self.serialize(&mut ser).is_err() {
            unreachable!("BlockMeta serialisation is infallible");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// Parses and validates meta-file bytes (the version must be 1).
    pub fn from_json(data: &[u8]) -> Result<Self, String> {
        let meta: BlockMeta = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        if meta.version != META_VERSION {
            return Err(format!("unexpected meta file version {}", meta.version));
        }
        Ok(meta)
    }

    /// Reads `<dir>/meta.json`, returning the meta and the file's size in bytes.
    pub fn read_from_dir(dir: &Path) -> Result<(Self, u64), BlockError> {
        let path = dir.join(META_FILENAME);
        let data = std::fs::read(&path).map_err(|e| BlockError::io(&path, "read", e))?;
        let meta = Self::from_json(&data).map_err(|message| BlockError::Corrupt {
            file: path.clone(),
            section: "meta",
            offset: 0,
            message,
        })?;
        Ok((meta, data.len() as u64))
    }

    /// Writes `<dir>/meta.json` atomically (temporary file, fsync, rename, fsync of the
    /// directory), returning the bytes written.
    pub fn write_to_dir(&self, dir: &Path) -> Result<u64, BlockError> {
        let json = self.to_json();
        fsutil::write_file_atomic(&dir.join(META_FILENAME), json.as_bytes())?;
        Ok(json.len() as u64)
    }
}
