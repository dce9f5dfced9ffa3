//! Thanos' `meta.json` extension and the block markers.
//!
//! Thanos stores Prometheus' `meta.json` with one more top-level object, `"thanos"`: the
//! external labels of the block's producer, its downsampling resolution, who wrote it
//! (`source`), its chunk segment files and the size of every file. Prometheus ignores the
//! extension; Thanos' compactor groups blocks by labels and resolution. Markers are small
//! JSON objects next to the block: `deletion-mark.json` and `no-compact-mark.json`.
//!
//! ```
//! use tsdb_bucket::meta::ThanosMeta;
//! let json = r#"{"ulid":"01M87WF4HJ3VKBT462E4NRF9ZN","minTime":0,"maxTime":1,"version":1,
//!   "thanos":{"labels":{"replica":"a"},"downsample":{"resolution":300000},"source":"sidecar"}}"#;
//! let meta = ThanosMeta::from_json(json.as_bytes()).unwrap();
//! assert_eq!(meta.thanos.downsample.resolution, 300_000);
//! assert_eq!(meta.thanos.labels["replica"], "a");
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tsdb_core::block::meta::{BlockMeta, META_VERSION};
use ulid::Ulid;

/// Object name of a block's deletion marker.
pub const DELETION_MARK_FILENAME: &str = "deletion-mark.json";
/// Object name of a block's no-compact marker.
pub const NO_COMPACT_MARK_FILENAME: &str = "no-compact-mark.json";
/// Name of the mark that keeps the compactor from downsampling a block.
pub const NO_DOWNSAMPLE_MARK_FILENAME: &str = "no-downsample-mark.json";
/// The Thanos extension version we write and read.
pub const THANOS_VERSION: u32 = 1;

/// Who produced a block (Thanos' `source` values).
pub mod source {
    /// Uploaded by a sidecar next to Prometheus (and by our `tsdb serve` shipper).
    pub const SIDECAR: &str = "sidecar";
    /// Uploaded by a receiver.
    pub const RECEIVE: &str = "receive";
    /// Written by the compactor.
    pub const COMPACTOR: &str = "compactor";
    /// Uploaded by `bucket upload` tooling.
    pub const BUCKET_UPLOAD: &str = "bucket.upload";
}

/// Downsampling resolution of a block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downsample {
    /// Milliseconds between aggregated samples: 0 (raw), 300000 (5 m) or 3600000 (1 h).
    #[serde(default)]
    pub resolution: i64,
}

/// One file of a block with its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockFile {
    /// Path relative to the block directory (`chunks/000001`, `index`, `meta.json`).
    pub rel_path: String,
    /// Size in bytes (absent for `meta.json`).
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub size_bytes: i64,
    /// Content hash, carried through unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<serde_json::Value>,
}

/// Size limits the compactor records about a block's index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStats {
    /// Largest series entry in the index, bytes.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub series_max_size: i64,
    /// Largest chunk, bytes.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub chunk_max_size: i64,
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// The `"thanos"` object of a `meta.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Thanos {
    /// Extension version (absent means 1).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub version: u32,
    /// External labels of the producer.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Downsampling resolution.
    #[serde(default)]
    pub downsample: Downsample,
    /// Who produced the block (see [`source`]).
    #[serde(default)]
    pub source: String,
    /// Chunk segment file names, sorted (deprecated by `files`, still written by Thanos).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment_files: Vec<String>,
    /// Every file of the block, sorted by path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<BlockFile>,
    /// Rewrite history, carried through unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrites: Option<serde_json::Value>,
    /// Index size statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_stats: Option<IndexStats>,
    /// Free-form extensions, carried through unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<serde_json::Value>,
    /// When the block was uploaded (RFC 3339), if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_time: Option<String>,
}

/// A `meta.json` with the Thanos extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThanosMeta {
    /// Prometheus' part.
    #[serde(flatten)]
    pub block: BlockMeta,
    /// Thanos' part (empty when the block came straight from Prometheus).
    #[serde(default)]
    pub thanos: Thanos,
}

impl ThanosMeta {
    /// Parses and validates a `meta.json` (Prometheus version 1, Thanos version 0 or 1).
    pub fn from_json(data: &[u8]) -> Result<Self, String> {
        let meta: ThanosMeta = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        if meta.block.version != META_VERSION {
            return Err(format!(
                "unexpected meta file version {}",
                meta.block.version
            ));
        }
        if meta.thanos.version > THANOS_VERSION {
            return Err(format!(
                "unexpected thanos meta version {}",
                meta.thanos.version
            ));
        }
        Ok(meta)
    }

    /// Serialises as Thanos does: tab-indented JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        to_tab_json(self)
    }

    /// The block's ULID.
    pub fn ulid(&self) -> Ulid {
        self.block.ulid
    }
}

fn to_tab_json<T: Serialize>(value: &T) -> String {
    let mut out = Vec::with_capacity(1024);
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Maps with string keys, strings and integers always serialise.
    if value.serialize(&mut ser).is_err() {
        return String::new();
    }
    out.push(b'\n');
    String::from_utf8(out).unwrap_or_default()
}

/// `deletion-mark.json`: the block is to be deleted once `deletion_time` is old enough.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionMark {
    /// The block.
    pub id: Ulid,
    /// Always 1.
    pub version: u32,
    /// Why (free text).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
    /// When the mark was written, Unix seconds.
    pub deletion_time: i64,
}

/// `no-downsample-mark.json`: the compactor does not downsample the block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoDownsampleMark {
    /// The block.
    pub id: Ulid,
    /// Always 1.
    pub version: u32,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
    /// When the mark was written, Unix seconds.
    pub no_downsample_time: i64,
    /// Why (free text, e.g. `manual`).
    pub reason: String,
}

impl NoDownsampleMark {
    /// A mark written now.
    pub fn now(id: Ulid, reason: &str, details: &str) -> Self {
        NoDownsampleMark {
            id,
            version: 1,
            details: details.to_string(),
            no_downsample_time: chrono::Utc::now().timestamp(),
            reason: reason.to_string(),
        }
    }

    /// Parses a mark; the version must be 1.
    pub fn from_json(data: &[u8]) -> Result<Self, String> {
        let mark: Self = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        if mark.version != 1 {
            return Err(format!(
                "unexpected no-downsample mark version {}",
                mark.version
            ));
        }
        Ok(mark)
    }

    /// Serialises as Thanos does.
    pub fn to_json(&self) -> String {
        to_tab_json(self)
    }
}

/// `no-compact-mark.json`: the compactor leaves the block alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoCompactMark {
    /// The block.
    pub id: Ulid,
    /// Always 1.
    pub version: u32,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
    /// When the mark was written, Unix seconds.
    pub no_compact_time: i64,
    /// Why: `manual`, `index-size-exceeding`, `block-index-out-of-order-chunk`, ...
    pub reason: String,
}

impl DeletionMark {
    /// A mark written now.
    pub fn now(id: Ulid, details: &str) -> Self {
        DeletionMark {
            id,
            version: 1,
            details: details.to_string(),
            deletion_time: chrono::Utc::now().timestamp(),
        }
    }

    /// Parses a mark; the version must be 1.
    pub fn from_json(data: &[u8]) -> Result<Self, String> {
        let mark: Self = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        if mark.version != 1 {
            return Err(format!("unexpected deletion mark version {}", mark.version));
        }
        Ok(mark)
    }

    /// Serialises as Thanos does.
    pub fn to_json(&self) -> String {
        to_tab_json(self)
    }
}

impl NoCompactMark {
    /// A mark written now.
    pub fn now(id: Ulid, reason: &str, details: &str) -> Self {
        NoCompactMark {
            id,
            version: 1,
            details: details.to_string(),
            no_compact_time: chrono::Utc::now().timestamp(),
            reason: reason.to_string(),
        }
    }

    /// Parses a mark; the version must be 1.
    pub fn from_json(data: &[u8]) -> Result<Self, String> {
        let mark: Self = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        if mark.version != 1 {
            return Err(format!(
                "unexpected no-compact mark version {}",
                mark.version
            ));
        }
        Ok(mark)
    }

    /// Serialises as Thanos does.
    pub fn to_json(&self) -> String {
        to_tab_json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_meta_reads_with_empty_extension() {
        let meta = BlockMeta::new_level1(Ulid::nil(), 0, 10);
        let t = ThanosMeta::from_json(meta.to_json().as_bytes()).unwrap();
        assert_eq!(t.block, meta);
        assert_eq!(t.thanos, Thanos::default());
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let json = r#"{"ulid":"01M87WF4HJ3VKBT462E4NRF9ZN","minTime":5,"maxTime":9,
          "stats":{"numSamples":3},"compaction":{"level":2,"sources":["01M87WF4HJ3VKBT462E4NRF9ZN"]},
          "version":1,"thanos":{"version":1,"labels":{"a":"b"},"downsample":{"resolution":0},
          "source":"compactor","segment_files":["000001"],
          "files":[{"rel_path":"chunks/000001","size_bytes":10},{"rel_path":"index","size_bytes":4},{"rel_path":"meta.json"}],
          "index_stats":{"series_max_size":7,"chunk_max_size":8},"extensions":{"x":1},
          "rewrites":[{"sources":["01M87WF4HJ3VKBT462E4NRF9ZN"]}]}}"#;
        let meta = ThanosMeta::from_json(json.as_bytes()).unwrap();
        assert_eq!(meta.thanos.files[2].size_bytes, 0);
        assert_eq!(meta.thanos.index_stats.as_ref().unwrap().chunk_max_size, 8);
        let again = ThanosMeta::from_json(meta.to_json().as_bytes()).unwrap();
        assert_eq!(again, meta);
        let v: serde_json::Value = serde_json::from_str(&meta.to_json()).unwrap();
        let orig: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v, orig);
    }

    #[test]
    fn bad_versions_and_garbage_are_errors() {
        assert!(ThanosMeta::from_json(b"{").is_err());
        assert!(ThanosMeta::from_json(
            br#"{"ulid":"01M87WF4HJ3VKBT462E4NRF9ZN","minTime":0,"maxTime":1,"version":2}"#
        )
        .is_err());
        assert!(ThanosMeta::from_json(
            br#"{"ulid":"01M87WF4HJ3VKBT462E4NRF9ZN","minTime":0,"maxTime":1,"version":1,"thanos":{"version":2}}"#
        )
        .is_err());
        assert!(DeletionMark::from_json(
            br#"{"id":"01M87WF4HJ3VKBT462E4NRF9ZN","version":2,"deletion_time":1}"#
        )
        .is_err());
    }

    #[test]
    fn marks_round_trip() {
        let id: Ulid = "01M87WF4HJ3VKBT462E4NRF9ZN".parse().unwrap();
        let d = DeletionMark::now(id, "");
        assert!(!d.to_json().contains("details"));
        assert_eq!(DeletionMark::from_json(d.to_json().as_bytes()).unwrap(), d);
        let n = NoCompactMark::now(id, "manual", "by hand");
        assert_eq!(NoCompactMark::from_json(n.to_json().as_bytes()).unwrap(), n);
        assert!(n.to_json().contains("\"no_compact_time\""));
    }
}
