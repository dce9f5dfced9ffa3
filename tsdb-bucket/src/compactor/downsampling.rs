//! The compactor's downsampling pass (Thanos' `downsampleBucket`).
//!
//! A raw block is downsampled to 5 m when it spans at least 40 hours and some of its
//! sources are in no 5 m block yet; a 5 m block is downsampled to 1 h when it spans at least
//! 10 days and some of its sources are in no 1 h block yet. Blocks marked for deletion or
//! with a `no-downsample-mark.json` are left alone. The new block is uploaded (`meta.json`
//! last) with the input's external labels; the input stays, since every resolution is kept
//! for its own retention. The pass repeats so that fresh 5 m blocks can go on to 1 h.

use std::collections::BTreeSet;

use ulid::Ulid;

use super::sync::BucketState;
use super::{remove_dir_if_exists, BucketCompactor};
use crate::downsample::{
    downsample_block, DownsampleError, FIVE_MIN_TO_1H_MIN_RANGE, RAW_TO_5M_MIN_RANGE, RES_1H,
    RES_5M, RES_RAW,
};
use crate::error::BucketError;
use crate::meta::{source, ThanosMeta};
use crate::shipper::Shipper;

/// One block the compactor downsampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downsampling {
    /// The input block.
    pub input: Ulid,
    /// The resolution it was downsampled to, ms.
    pub resolution: i64,
    /// The new block (`None` when the input held no float sample).
    pub output: Option<Ulid>,
    /// Native histogram chunks left out.
    pub skipped_histogram_chunks: u64,
}

/// The target resolution of a block that needs downsampling, if any.
fn wanted(
    meta: &ThanosMeta,
    sources_5m: &BTreeSet<Ulid>,
    sources_1h: &BTreeSet<Ulid>,
) -> Option<i64> {
    let span = meta.block.max_time - meta.block.min_time;
    let missing = |done: &BTreeSet<Ulid>| {
        meta.block
            .compaction
            .sources
            .iter()
            .any(|s| !done.contains(s))
    };
    match meta.thanos.downsample.resolution {
        RES_RAW if span >= RAW_TO_5M_MIN_RANGE && missing(sources_5m) => Some(RES_5M),
        RES_5M if span >= FIVE_MIN_TO_1H_MIN_RANGE && missing(sources_1h) => Some(RES_1H),
        _ => None,
    }
}

impl BucketCompactor {
    /// Downsamples every block that needs it; see the module docs.
    pub(super) async fn downsample_all(&self) -> Result<Vec<Downsampling>, BucketError> {
        let mut done = Vec::new();
        let mut tried: BTreeSet<Ulid> = BTreeSet::new();
        loop {
            let state = BucketState::load(&self.bucket).await?;
            let duplicates = state.duplicates();
            let live: Vec<&ThanosMeta> = state
                .live()
                .filter(|b| !duplicates.contains(&b.ulid()))
                .map(|b| &b.meta)
                .collect();
            let sources = |res: i64| -> BTreeSet<Ulid> {
                live.iter()
                    .filter(|m| m.thanos.downsample.resolution == res)
                    .flat_map(|m| m.block.compaction.sources.iter().copied())
                    .collect()
            };
            let (sources_5m, sources_1h) = (sources(RES_5M), sources(RES_1H));
            let mut todo: Vec<(Ulid, i64)> = state
                .live()
                .filter(|b| !duplicates.contains(&b.ulid()) && b.no_downsample.is_none())
                .filter(|b| !tried.contains(&b.ulid()))
                .filter_map(|b| wanted(&b.meta, &sources_5m, &sources_1h).map(|r| (b.ulid(), r)))
                .collect();
            todo.sort();
            if todo.is_empty() {
                return Ok(done);
            }
            for (id, resolution) in todo {
                tried.insert(id);
                let meta = state
                    .blocks
                    .iter()
                    .find(|b| b.ulid() == id)
                    .map(|b| b.meta.clone())
                    .ok_or_else(|| BucketError::Halt {
                        group: id.to_string(),
                        message: "block vanished from the listing".into(),
                    })?;
                done.push(self.downsample_one(&meta, resolution).await?);
            }
        }
    }

    async fn downsample_one(
        &self,
        meta: &ThanosMeta,
        resolution: i64,
    ) -> Result<Downsampling, BucketError> {
        let id = meta.ulid();
        let scratch = self.cfg.work_dir.join(format!("downsample-{id}"));
        remove_dir_if_exists(&scratch)?;
        std::fs::create_dir_all(&scratch)
            .map_err(|e| BucketError::io("create dir", &scratch, e))?;
        let src = self.download_block(id, &scratch).await?;
        let out_dir = scratch.join("out");
        std::fs::create_dir_all(&out_dir)
            .map_err(|e| BucketError::io("create dir", &out_dir, e))?;
        let report = {
            let (src, out_dir) = (src.clone(), out_dir.clone());
            tokio::task::spawn_blocking(move || downsample_block(&src, resolution, &out_dir))
                .await
                .map_err(|e| BucketError::Halt {
                    group: id.to_string(),
                    message: format!("downsampling task failed: {e}"),
                })?
                .map_err(|e: DownsampleError| BucketError::Halt {
                    group: id.to_string(),
                    message: format!("downsampling to {resolution} ms: {e}"),
                })?
        };
        let output = match &report.meta {
            Some(m) => {
                let dir = out_dir.join(m.ulid().to_string());
                Shipper::new(&out_dir, self.bucket.clone())
                    .with_labels(meta.thanos.labels.clone())
                    .with_source(source::COMPACTOR)
                    .with_resolution(resolution)
                    .without_state_file()
                    .upload_block(&dir, &m.block)
                    .await?;
                Some(m.ulid())
            }
            None => None,
        };
        remove_dir_if_exists(&scratch)?;
        Ok(Downsampling {
            input: id,
            resolution,
            output,
            skipped_histogram_chunks: report.skipped_histogram_chunks,
        })
    }
}
