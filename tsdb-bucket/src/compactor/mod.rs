//! The bucket compactor: Thanos' compactor over any [`Bucket`], reusing `tsdb-core`'s planner
//! and block merging.
//!
//! One [`BucketCompactor::run`]:
//! 1. lists the bucket ([`sync::BucketState`]): complete blocks and their marks; partial
//!    uploads and corrupt metas are skipped and reported;
//! 2. marks for deletion the blocks whose sources another block already holds (left behind
//!    by a run that stopped between uploading a merged block and marking its inputs);
//! 3. groups the remaining blocks by resolution and external labels (without the replica
//!    labels when deduplicating), and in each group plans with Prometheus' leveled planner
//!    over Thanos' ranges (2 h, 8 h, 2 d, 14 d by default). Blocks with a no-compact mark are
//!    never merged, nor merged across. A group whose blocks overlap halts the run with an
//!    error naming them, unless vertical compaction is on (it is with replica labels: the
//!    replicas are then merged into one block, identical samples kept once);
//! 4. downloads a plan's blocks, merges them locally, uploads the result (`meta.json`
//!    last, `thanos.source` = `compactor`, the group's labels) and only then marks the
//!    inputs for deletion; repeats until no group has a plan;
//! 5. downsamples raw blocks of at least 40 h to 5 m and 5 m blocks of at least 10 days to
//!    1 h, unless done already for all their sources or marked `no-downsample-mark.json`
//!    ([`downsampling`]; off with [`CompactorConfig::downsampling`] false);
//! 6. marks for deletion the blocks beyond their resolution's retention;
//! 7. deletes the blocks whose deletion mark is older than the delete delay (`meta.json`
//!    first, so a half-deleted block reads as partial, the mark last), and aborted partial
//!    uploads (no `meta.json`, nothing written for two days).
//!
//! Every step leaves the bucket consistent, so the compactor can be killed at any point.
//! Not yet: compacting downsampled blocks together (their groups are left alone).

pub mod downsampling;
pub mod sync;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tsdb_core::block::meta::{BlockMeta, META_FILENAME};
use tsdb_core::compact::{CompactOutcome, Compactor, LeveledPlanner};
use ulid::Ulid;

use crate::error::BucketError;
use crate::meta::{source, DeletionMark, DELETION_MARK_FILENAME};
use crate::objstore::Bucket;
use crate::shipper::Shipper;
use sync::{first_overlap, BucketBlock, BucketState, GroupKey};

const HOUR_MS: i64 = 3_600_000;

/// Thanos' default compaction ranges: 2 h, 8 h, 2 d, 14 d.
pub const DEFAULT_RANGES: [i64; 4] = [2 * HOUR_MS, 8 * HOUR_MS, 48 * HOUR_MS, 336 * HOUR_MS];

/// How long blocks are kept, per resolution, in ms after their max time (0: forever).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResolutionRetention {
    /// Raw blocks.
    pub raw_ms: i64,
    /// 5-minute downsampled blocks.
    pub five_minutes_ms: i64,
    /// 1-hour downsampled blocks.
    pub one_hour_ms: i64,
}

impl ResolutionRetention {
    fn for_resolution(&self, resolution: i64) -> i64 {
        match resolution {
            0 => self.raw_ms,
            300_000 => self.five_minutes_ms,
            3_600_000 => self.one_hour_ms,
            _ => 0,
        }
    }
}

/// Settings of a [`BucketCompactor`].
#[derive(Debug, Clone)]
pub struct CompactorConfig {
    /// Local scratch directory for downloaded and merged blocks (emptied after each merge).
    pub work_dir: PathBuf,
    /// Compaction ranges in ms, ascending.
    pub ranges: Vec<i64>,
    /// External labels that tell HA replicas apart; their blocks are merged into one.
    pub replica_labels: Vec<String>,
    /// Merge overlapping blocks of a group (implied by `replica_labels`); otherwise an
    /// overlap halts the compactor.
    pub vertical_compaction: bool,
    /// Seconds a deletion-marked block stays before it is deleted (Thanos: 48 h), so that
    /// stores and queriers have time to notice its replacement.
    pub delete_delay_secs: i64,
    /// Retention per resolution.
    pub retention: ResolutionRetention,
    /// Seconds after its last write that a block without `meta.json` counts as an aborted
    /// upload and is deleted (Thanos: 2 days; an upload in progress is younger).
    pub partial_upload_max_age_secs: i64,
    /// Downsample blocks after compacting (Thanos' default; `--downsampling.disable` turns
    /// it off).
    pub downsampling: bool,
}

impl CompactorConfig {
    /// Thanos' defaults with `work_dir` as scratch space.
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        CompactorConfig {
            work_dir: work_dir.into(),
            ranges: DEFAULT_RANGES.to_vec(),
            replica_labels: Vec::new(),
            vertical_compaction: false,
            delete_delay_secs: 48 * 3600,
            retention: ResolutionRetention::default(),
            partial_upload_max_age_secs: 48 * 3600,
            downsampling: true,
        }
    }
}

/// One merge the compactor did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCompaction {
    /// The group, as `resolution@{labels}`.
    pub group: String,
    /// The merged blocks.
    pub inputs: Vec<Ulid>,
    /// The new block (`None` when the inputs held no sample).
    pub output: Option<BlockMeta>,
}

/// What one [`BucketCompactor::run`] did.
#[derive(Debug, Clone, Default)]
pub struct CompactorReport {
    /// Merges, in order.
    pub compactions: Vec<GroupCompaction>,
    /// Blocks marked for deletion because another block holds all their sources.
    pub marked_duplicates: Vec<Ulid>,
    /// Blocks marked for deletion by retention.
    pub marked_by_retention: Vec<Ulid>,
    /// Blocks deleted (their deletion mark was older than the delay).
    pub deleted: Vec<Ulid>,
    /// Aborted partial uploads deleted.
    pub deleted_partial: Vec<String>,
    /// Blocks downsampled, in order.
    pub downsampled: Vec<downsampling::Downsampling>,
    /// Groups left alone, with the reason (downsampled data, no-compact marks in the way).
    pub skipped_groups: Vec<(String, String)>,
    /// Directories without a usable `meta.json`, with the reason.
    pub skipped_blocks: Vec<(String, String)>,
}

/// Compacts, applies retention to and cleans one bucket. Run one per bucket (or tenant
/// prefix) at a time, as with Thanos.
pub struct BucketCompactor {
    bucket: Bucket,
    cfg: CompactorConfig,
}

impl BucketCompactor {
    /// A compactor of `bucket`.
    pub fn new(bucket: Bucket, cfg: CompactorConfig) -> Self {
        BucketCompactor { bucket, cfg }
    }

    /// One full pass; see the module docs.
    pub async fn run(&self) -> Result<CompactorReport, BucketError> {
        let planner = LeveledPlanner::new(self.cfg.ranges.clone())
            .ok_or_else(|| BucketError::Config {
                url: self.bucket.description().to_string(),
                message: format!("invalid compaction ranges {:?}", self.cfg.ranges),
            })?
            .with_overlapping_compaction(self.vertical());
        let mut report = CompactorReport::default();
        loop {
            let state = BucketState::load(&self.bucket).await?;
            report.skipped_blocks = state.skipped.clone();
            let duplicates = state.duplicates();
            for id in &duplicates {
                self.mark_for_deletion(*id, "its sources are in another block")
                    .await?;
                report.marked_duplicates.push(*id);
            }
            report.skipped_groups.clear();
            let mut next = None;
            for (key, blocks) in state.groups(&self.cfg.replica_labels, &duplicates) {
                match self.plan_group(&planner, &key, &blocks)? {
                    GroupPlan::Merge(plan) => {
                        next = Some((key, plan));
                        break;
                    }
                    GroupPlan::Nothing => {}
                    GroupPlan::Skip(why) => report.skipped_groups.push((key.to_string(), why)),
                }
            }
            let Some((key, plan)) = next else {
                break;
            };
            report
                .compactions
                .push(self.compact_group(&key, &plan).await?);
        }
        if self.cfg.downsampling {
            report.downsampled = self.downsample_all().await?;
        }
        report.marked_by_retention = self.apply_retention().await?;
        report.deleted = self.delete_marked().await?;
        report.deleted_partial = self.delete_aborted_uploads(&report.skipped_blocks).await?;
        Ok(report)
    }

    fn vertical(&self) -> bool {
        self.cfg.vertical_compaction || !self.cfg.replica_labels.is_empty()
    }

    fn plan_group(
        &self,
        planner: &LeveledPlanner,
        key: &GroupKey,
        blocks: &[BucketBlock],
    ) -> Result<GroupPlan, BucketError> {
        if key.resolution != 0 {
            return Ok(GroupPlan::Skip(
                "downsampled blocks are not compacted yet".into(),
            ));
        }
        if !self.vertical() {
            if let Some((a, b)) = first_overlap(blocks) {
                return Err(BucketError::Halt {
                    group: key.to_string(),
                    message: format!(
                        "blocks {a} and {b} overlap; give the replica labels that tell them \
                         apart, or turn on vertical compaction, or remove one"
                    ),
                });
            }
        }
        // Blocks with a no-compact mark split the group into runs that are planned apart,
        // so that no merge spans a marked block.
        let mut sorted: Vec<&BucketBlock> = blocks.iter().collect();
        sorted.sort_by_key(|b| (b.meta.block.min_time, b.ulid()));
        for run in sorted.split(|b| b.no_compact.is_some()) {
            let metas: Vec<BlockMeta> = run.iter().map(|b| b.meta.block.clone()).collect();
            let plan = planner.plan(&metas);
            if !plan.is_empty() {
                return Ok(GroupPlan::Merge(plan));
            }
        }
        Ok(GroupPlan::Nothing)
    }

    async fn compact_group(
        &self,
        key: &GroupKey,
        plan: &[Ulid],
    ) -> Result<GroupCompaction, BucketError> {
        let scratch = self.cfg.work_dir.join(format!("compact-{}", plan[0]));
        remove_dir_if_exists(&scratch)?;
        std::fs::create_dir_all(&scratch)
            .map_err(|e| BucketError::io("create dir", &scratch, e))?;
        let mut dirs = Vec::new();
        for id in plan {
            dirs.push(self.download_block(*id, &scratch).await?);
        }
        let outcome = {
            let scratch = scratch.clone();
            let dirs = dirs.clone();
            tokio::task::spawn_blocking(move || Compactor::new().compact_dirs(&scratch, &dirs))
                .await
                .map_err(|e| BucketError::Halt {
                    group: key.to_string(),
                    message: format!("compaction task failed: {e}"),
                })??
        };
        let output = match outcome {
            CompactOutcome::Written(meta) => {
                let dir = scratch.join(meta.ulid.to_string());
                Shipper::new(&scratch, self.bucket.clone())
                    .with_labels(key.labels.clone())
                    .with_source(source::COMPACTOR)
                    .without_state_file()
                    .upload_block(&dir, &meta)
                    .await?;
                Some(meta)
            }
            CompactOutcome::Empty => None,
        };
        // Inputs are marked only once their replacement is complete in the bucket.
        let why = match &output {
            Some(m) => format!("compacted into {}", m.ulid),
            None => "compaction found no sample".to_string(),
        };
        for id in plan {
            self.mark_for_deletion(*id, &why).await?;
        }
        remove_dir_if_exists(&scratch)?;
        Ok(GroupCompaction {
            group: key.to_string(),
            inputs: plan.to_vec(),
            output,
        })
    }

    /// Downloads every object of block `id` into `parent/<id>/`.
    async fn download_block(&self, id: Ulid, parent: &Path) -> Result<PathBuf, BucketError> {
        let dir = parent.join(id.to_string());
        let prefix = format!("{id}/");
        for obj in self.bucket.list(&prefix).await? {
            let Some(rel) = obj.key.strip_prefix(&prefix) else {
                continue;
            };
            // Marks stay in the bucket; everything else is block content.
            if rel == DELETION_MARK_FILENAME || rel.ends_with("-mark.json") {
                continue;
            }
            let local = dir.join(rel);
            if let Some(p) = local.parent() {
                std::fs::create_dir_all(p).map_err(|e| BucketError::io("create dir", p, e))?;
            }
            let n = self.bucket.download_file(&obj.key, &local).await?;
            if n != obj.size {
                return Err(BucketError::Corrupt {
                    what: "block file",
                    key: obj.key,
                    message: format!("listed as {} bytes, downloaded {n}", obj.size),
                });
            }
        }
        if !dir.join(META_FILENAME).is_file() {
            return Err(BucketError::Corrupt {
                what: "block",
                key: prefix,
                message: "no meta.json downloaded".into(),
            });
        }
        Ok(dir)
    }

    async fn mark_for_deletion(&self, id: Ulid, details: &str) -> Result<(), BucketError> {
        let key = format!("{id}/{DELETION_MARK_FILENAME}");
        if self.bucket.exists(&key).await? {
            return Ok(());
        }
        let mark = DeletionMark::now(id, details);
        self.bucket.put(&key, Bytes::from(mark.to_json())).await
    }

    async fn apply_retention(&self) -> Result<Vec<Ulid>, BucketError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let state = BucketState::load(&self.bucket).await?;
        let mut marked = Vec::new();
        for b in state.live() {
            let keep = self
                .cfg
                .retention
                .for_resolution(b.meta.thanos.downsample.resolution);
            if keep > 0 && now_ms > b.meta.block.max_time.saturating_add(keep) {
                self.mark_for_deletion(b.ulid(), "beyond retention").await?;
                marked.push(b.ulid());
            }
        }
        Ok(marked)
    }

    /// Deletes the directories without `meta.json` whose newest object is older than the
    /// partial-upload age: uploads that were aborted (a running upload writes meanwhile).
    async fn delete_aborted_uploads(
        &self,
        skipped: &[(String, String)],
    ) -> Result<Vec<String>, BucketError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut deleted = Vec::new();
        for (dir, _) in skipped {
            let prefix = format!("{dir}/");
            let objects = self.bucket.list(&prefix).await?;
            if objects.iter().any(|o| o.key.ends_with(META_FILENAME)) {
                // A corrupt meta.json: left for an operator to look at.
                continue;
            }
            let newest = objects
                .iter()
                .map(|o| o.modified_ms)
                .max()
                .unwrap_or(i64::MAX);
            if now_ms.saturating_sub(newest) < self.cfg.partial_upload_max_age_secs * 1000 {
                continue;
            }
            for o in &objects {
                self.bucket.delete(&o.key).await?;
            }
            deleted.push(dir.clone());
        }
        Ok(deleted)
    }

    async fn delete_marked(&self) -> Result<Vec<Ulid>, BucketError> {
        let now = chrono::Utc::now().timestamp();
        let state = BucketState::load(&self.bucket).await?;
        let mut deleted = Vec::new();
        for b in &state.blocks {
            let Some(mark) = &b.deletion_mark else {
                continue;
            };
            if now - mark.deletion_time < self.cfg.delete_delay_secs {
                continue;
            }
            delete_block(&self.bucket, b.ulid()).await?;
            deleted.push(b.ulid());
        }
        Ok(deleted)
    }
}

/// What to do next in one group.
enum GroupPlan {
    /// Merge these blocks.
    Merge(Vec<Ulid>),
    /// Nothing to merge.
    Nothing,
    /// Left alone, with the reason.
    Skip(String),
}

/// Deletes every object of a block: `meta.json` first (from then on the block reads as a
/// partial upload), then its files, the deletion mark last.
pub async fn delete_block(bucket: &Bucket, id: Ulid) -> Result<(), BucketError> {
    bucket.delete(&format!("{id}/{META_FILENAME}")).await?;
    let mark = format!("{id}/{DELETION_MARK_FILENAME}");
    let objects = bucket.list(&format!("{id}/")).await?;
    for obj in objects.iter().filter(|o| o.key != mark) {
        bucket.delete(&obj.key).await?;
    }
    bucket.delete(&mark).await
}

fn remove_dir_if_exists(dir: &Path) -> Result<(), BucketError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BucketError::io("remove dir", dir, e)),
    }
}
