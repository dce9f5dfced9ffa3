//! The shipper: uploads the completed blocks of a data directory to a bucket, once each.
//!
//! A block is uploaded file by file: its chunk segments, then its index, then `meta.json`
//! (with Thanos' extension: external labels, source, segment files, file sizes). Readers
//! treat a block without `meta.json` as partial, so a crash at any point leaves either a
//! complete block or a partial one that the next run uploads again from the start.
//! Shipped ULIDs are recorded in Thanos' state file `thanos.shipper.json` (written
//! atomically after each block); a block whose `meta.json` is already in the bucket is only
//! recorded, never uploaded again. Tombstones are not shipped (Thanos ignores them), nor are
//! empty blocks or, unless asked, compacted blocks (level > 1), as Thanos' shipper does.
//!
//! ```no_run
//! # async fn f() -> Result<(), tsdb_bucket::BucketError> {
//! use tsdb_bucket::{Bucket, Shipper};
//! let bucket = Bucket::from_url("file:///var/lib/bucket")?;
//! let shipper = Shipper::new("/var/lib/prometheus", bucket)
//!     .with_labels([("cluster".to_string(), "eu-1".to_string())].into());
//! let report = shipper.sync().await?;
//! println!("uploaded {:?}", report.uploaded);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tsdb_core::block::meta::{BlockMeta, META_FILENAME};
use ulid::Ulid;

use crate::error::BucketError;
use crate::meta::{source, BlockFile, Thanos, ThanosMeta, THANOS_VERSION};
use crate::objstore::Bucket;

/// Name of the shipper's state file in the data directory.
pub const SHIPPER_STATE_FILENAME: &str = "thanos.shipper.json";

/// Thanos' shipper state: the blocks already uploaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipperState {
    /// Always 1.
    pub version: u32,
    /// ULIDs of uploaded blocks still present locally.
    #[serde(default)]
    pub uploaded: Vec<Ulid>,
}

impl ShipperState {
    /// Reads the state file; an absent or unreadable file means nothing was shipped (as in
    /// Thanos: the bucket's `meta.json` objects then prevent uploading twice).
    pub fn read(dir: &Path) -> ShipperState {
        let path = dir.join(SHIPPER_STATE_FILENAME);
        std::fs::read(&path)
            .ok()
            .and_then(|data| serde_json::from_slice::<ShipperState>(&data).ok())
            .filter(|s| s.version == 1)
            .unwrap_or(ShipperState {
                version: 1,
                uploaded: Vec::new(),
            })
    }

    /// Writes the state file atomically (tab-indented, as Thanos writes it).
    pub fn write(&self, dir: &Path) -> Result<(), BucketError> {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        self.serialize(&mut ser).map_err(|e| BucketError::Corrupt {
            what: "shipper state",
            key: dir.display().to_string(),
            message: e.to_string(),
        })?;
        out.push(b'\n');
        tsdb_core::block::fsutil::write_file_atomic(&dir.join(SHIPPER_STATE_FILENAME), &out)?;
        Ok(())
    }
}

/// What one [`Shipper::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipReport {
    /// Blocks uploaded by this run, in upload order.
    pub uploaded: Vec<Ulid>,
    /// Blocks found complete in the bucket and only recorded.
    pub already_in_bucket: Vec<Ulid>,
    /// Blocks skipped (empty, or compacted while compacted uploads are off).
    pub skipped: Vec<Ulid>,
    /// Bytes uploaded.
    pub bytes: u64,
}

/// Called after each uploaded file with (block, relative path, bytes).
pub type ProgressFn = dyn Fn(Ulid, &str, u64) + Send + Sync;

/// Uploads the blocks of one data directory to one bucket.
pub struct Shipper {
    dir: PathBuf,
    bucket: Bucket,
    labels: BTreeMap<String, String>,
    source: String,
    resolution: i64,
    upload_compacted: bool,
    record_state: bool,
    progress: Option<Box<ProgressFn>>,
}

impl Shipper {
    /// A shipper for `dir` (a Prometheus or `tsdb` data directory) into `bucket`, as a
    /// sidecar with no external labels and level-1 blocks only.
    pub fn new(dir: impl Into<PathBuf>, bucket: Bucket) -> Self {
        Shipper {
            dir: dir.into(),
            bucket,
            labels: BTreeMap::new(),
            source: source::SIDECAR.to_string(),
            resolution: 0,
            upload_compacted: false,
            record_state: true,
            progress: None,
        }
    }

    /// External labels written into each block's `thanos.labels`.
    pub fn with_labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels = labels;
        self
    }

    /// The `thanos.source` written (see [`crate::meta::source`]).
    pub fn with_source(mut self, source: &str) -> Self {
        self.source = source.to_string();
        self
    }

    /// Sets the `downsample.resolution` recorded in uploaded metas (ms; default 0, raw).
    pub fn with_resolution(mut self, resolution: i64) -> Self {
        self.resolution = resolution;
        self
    }

    /// Also ship compacted blocks (level > 1), e.g. to upload an existing data directory.
    pub fn with_upload_compacted(mut self, yes: bool) -> Self {
        self.upload_compacted = yes;
        self
    }

    /// Do not write `thanos.shipper.json` (one-off uploads of a directory that is not
    /// ours); the bucket's `meta.json` objects alone then prevent uploading twice.
    pub fn without_state_file(mut self) -> Self {
        self.record_state = false;
        self
    }

    /// A callback run after each uploaded file (for progress bars).
    pub fn with_progress(mut self, f: Box<ProgressFn>) -> Self {
        self.progress = Some(f);
        self
    }

    /// Complete local blocks (a ULID-named directory with a readable `meta.json`), sorted by
    /// min time.
    pub fn local_blocks(&self) -> Result<Vec<(PathBuf, BlockMeta)>, BucketError> {
        let entries =
            std::fs::read_dir(&self.dir).map_err(|e| BucketError::io("read dir", &self.dir, e))?;
        let mut blocks = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| BucketError::io("read dir", &self.dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.parse::<Ulid>().is_err() || !entry.path().is_dir() {
                continue;
            }
            // A directory without meta.json is still being written (or half-deleted).
            if !entry.path().join(META_FILENAME).exists() {
                continue;
            }
            let (meta, _) = BlockMeta::read_from_dir(&entry.path())?;
            blocks.push((entry.path(), meta));
        }
        blocks.sort_by_key(|(_, m)| (m.min_time, m.ulid));
        Ok(blocks)
    }

    /// Uploads every completed block not yet shipped; returns what it did. Safe to run again
    /// after a failure or crash at any point.
    pub async fn sync(&self) -> Result<ShipReport, BucketError> {
        let state = ShipperState::read(&self.dir);
        let shipped: BTreeSet<Ulid> = state.uploaded.iter().copied().collect();
        let mut report = ShipReport::default();
        let mut uploaded = Vec::new();
        let blocks = self.local_blocks()?;
        let mut result = Ok(());
        for (dir, meta) in &blocks {
            let id = meta.ulid;
            if shipped.contains(&id) {
                uploaded.push(id);
                continue;
            }
            if meta.stats.num_samples == 0 || (meta.compaction.level > 1 && !self.upload_compacted)
            {
                report.skipped.push(id);
                continue;
            }
            match self.bucket.exists(&format!("{id}/{META_FILENAME}")).await {
                Ok(true) => {
                    report.already_in_bucket.push(id);
                    uploaded.push(id);
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            match self.upload_block(dir, meta).await {
                Ok(bytes) => {
                    report.bytes += bytes;
                    report.uploaded.push(id);
                    uploaded.push(id);
                    // Record progress after every block so a crash costs at most one block.
                    if self.record_state {
                        ShipperState {
                            version: 1,
                            uploaded: uploaded.clone(),
                        }
                        .write(&self.dir)?;
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // Keep what was shipped before even if this run stopped early.
        if result.is_err() {
            for (_, meta) in &blocks {
                if shipped.contains(&meta.ulid) && !uploaded.contains(&meta.ulid) {
                    uploaded.push(meta.ulid);
                }
            }
        }
        if self.record_state {
            ShipperState {
                version: 1,
                uploaded,
            }
            .write(&self.dir)?;
        }
        result.map(|()| report)
    }

    /// Uploads one block: chunks, index, then `meta.json`. Returns the bytes uploaded.
    pub async fn upload_block(&self, dir: &Path, meta: &BlockMeta) -> Result<u64, BucketError> {
        let id = meta.ulid;
        let chunks_dir = dir.join("chunks");
        let mut segments: Vec<String> = std::fs::read_dir(&chunks_dir)
            .map_err(|e| BucketError::io("read dir", &chunks_dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        segments.sort();
        let mut files = Vec::new();
        let mut total = 0;
        for seg in &segments {
            let rel = format!("chunks/{seg}");
            let n = self
                .bucket
                .upload_file(&chunks_dir.join(seg), &format!("{id}/{rel}"))
                .await?;
            self.report_progress(id, &rel, n);
            files.push(BlockFile {
                rel_path: rel,
                size_bytes: n as i64,
                hash: None,
            });
            total += n;
        }
        let n = self
            .bucket
            .upload_file(&dir.join("index"), &format!("{id}/index"))
            .await?;
        self.report_progress(id, "index", n);
        files.push(BlockFile {
            rel_path: "index".into(),
            size_bytes: n as i64,
            hash: None,
        });
        total += n;
        files.push(BlockFile {
            rel_path: META_FILENAME.into(),
            size_bytes: 0,
            hash: None,
        });
        let full = ThanosMeta {
            block: meta.clone(),
            thanos: Thanos {
                version: THANOS_VERSION,
                labels: self.labels.clone(),
                source: self.source.clone(),
                downsample: crate::meta::Downsample {
                    resolution: self.resolution,
                },
                segment_files: segments,
                files,
                upload_time: Some(chrono::Utc::now().to_rfc3339()),
                ..Default::default()
            },
        };
        let json = full.to_json();
        let n = json.len() as u64;
        self.bucket
            .put(&format!("{id}/{META_FILENAME}"), Bytes::from(json))
            .await?;
        self.report_progress(id, META_FILENAME, n);
        Ok(total + n)
    }

    fn report_progress(&self, id: Ulid, rel: &str, n: u64) {
        if let Some(f) = &self.progress {
            f(id, rel, n);
        }
    }
}

/// Reads the `meta.json` of every complete block in a bucket (directories without one are
/// partial uploads and are left out), sorted by min time.
pub async fn bucket_metas(bucket: &Bucket) -> Result<Vec<ThanosMeta>, BucketError> {
    let mut metas = Vec::new();
    for dir in bucket.list_dirs().await? {
        if dir.parse::<Ulid>().is_err() {
            continue;
        }
        let key = format!("{dir}/{META_FILENAME}");
        let Some(data) = bucket.get(&key).await? else {
            continue;
        };
        let meta = ThanosMeta::from_json(&data).map_err(|message| BucketError::Corrupt {
            what: "meta.json",
            key,
            message,
        })?;
        metas.push(meta);
    }
    metas.sort_by_key(|m| (m.block.min_time, m.block.ulid));
    Ok(metas)
}
