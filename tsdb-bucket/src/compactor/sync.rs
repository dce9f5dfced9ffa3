//! What the compactor knows about a bucket: every complete block's meta, its marks, and the
//! groups blocks fall into.

use std::collections::{BTreeMap, BTreeSet};

use ulid::Ulid;

use crate::error::BucketError;
use crate::meta::{
    DeletionMark, NoCompactMark, NoDownsampleMark, ThanosMeta, DELETION_MARK_FILENAME,
    NO_COMPACT_MARK_FILENAME, NO_DOWNSAMPLE_MARK_FILENAME,
};
use crate::objstore::Bucket;
use tsdb_core::block::meta::META_FILENAME;

/// A complete block of the bucket and its marks.
#[derive(Debug, Clone)]
pub struct BucketBlock {
    /// Its `meta.json`.
    pub meta: ThanosMeta,
    /// Its deletion mark, if marked.
    pub deletion_mark: Option<DeletionMark>,
    /// Its no-compact mark, if marked.
    pub no_compact: Option<NoCompactMark>,
    /// Its no-downsample mark, if marked.
    pub no_downsample: Option<NoDownsampleMark>,
}

impl BucketBlock {
    /// The block's ULID.
    pub fn ulid(&self) -> Ulid {
        self.meta.ulid()
    }
}

/// The blocks of a bucket as one listing saw them.
#[derive(Debug, Clone, Default)]
pub struct BucketState {
    /// Complete blocks, by min time.
    pub blocks: Vec<BucketBlock>,
    /// Directories without a readable `meta.json` (partial uploads or corrupt metas), with
    /// the reason.
    pub skipped: Vec<(String, String)>,
}

/// Blocks that are compacted together: same resolution, same external labels (after the
/// replica labels are dropped, when deduplicating).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// Downsampling resolution in ms (0: raw).
    pub resolution: i64,
    /// External labels.
    pub labels: BTreeMap<String, String>,
}

impl std::fmt::Display for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{{", self.resolution)?;
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

async fn read_mark<T>(
    bucket: &Bucket,
    key: String,
    what: &'static str,
    parse: fn(&[u8]) -> Result<T, String>,
) -> Result<Option<T>, BucketError> {
    match bucket.get(&key).await? {
        None => Ok(None),
        Some(data) => parse(&data)
            .map(Some)
            .map_err(|message| BucketError::Corrupt { what, key, message }),
    }
}

impl BucketState {
    /// Lists the bucket: every ULID-named directory with a valid `meta.json`, and its marks.
    /// A directory whose `meta.json` is missing or unreadable is skipped (and reported), so
    /// one bad block never stops the compactor.
    pub async fn load(bucket: &Bucket) -> Result<BucketState, BucketError> {
        let mut state = BucketState::default();
        for dir in bucket.list_dirs().await? {
            let Ok(id) = dir.parse::<Ulid>() else {
                continue;
            };
            let meta = match bucket.get(&format!("{dir}/{META_FILENAME}")).await? {
                None => {
                    state
                        .skipped
                        .push((dir, "no meta.json (partial upload)".into()));
                    continue;
                }
                Some(data) => match ThanosMeta::from_json(&data) {
                    Ok(m) if m.ulid() == id => m,
                    Ok(m) => {
                        let why = format!("meta.json names block {}", m.ulid());
                        state.skipped.push((dir, why));
                        continue;
                    }
                    Err(e) => {
                        state.skipped.push((dir, format!("corrupt meta.json: {e}")));
                        continue;
                    }
                },
            };
            let deletion_mark = read_mark(
                bucket,
                format!("{dir}/{DELETION_MARK_FILENAME}"),
                "deletion mark",
                DeletionMark::from_json,
            )
            .await?;
            let no_compact = read_mark(
                bucket,
                format!("{dir}/{NO_COMPACT_MARK_FILENAME}"),
                "no-compact mark",
                NoCompactMark::from_json,
            )
            .await?;
            let no_downsample = read_mark(
                bucket,
                format!("{dir}/{NO_DOWNSAMPLE_MARK_FILENAME}"),
                "no-downsample mark",
                NoDownsampleMark::from_json,
            )
            .await?;
            state.blocks.push(BucketBlock {
                meta,
                deletion_mark,
                no_compact,
                no_downsample,
            });
        }
        state
            .blocks
            .sort_by_key(|b| (b.meta.block.min_time, b.ulid()));
        Ok(state)
    }

    /// Blocks not marked for deletion.
    pub fn live(&self) -> impl Iterator<Item = &BucketBlock> {
        self.blocks.iter().filter(|b| b.deletion_mark.is_none())
    }

    /// Live blocks whose every source block is also a source of another live block of the
    /// same resolution (what a compaction left behind when it stopped before marking its
    /// inputs): they hold no data of their own. Of two blocks with the same sources, the
    /// one with the smaller ULID is the duplicate.
    pub fn duplicates(&self) -> BTreeSet<Ulid> {
        let live: Vec<&BucketBlock> = self.live().collect();
        let sources: Vec<BTreeSet<Ulid>> = live
            .iter()
            .map(|b| b.meta.block.compaction.sources.iter().copied().collect())
            .collect();
        let mut out = BTreeSet::new();
        for (i, a) in live.iter().enumerate() {
            let covered = live.iter().enumerate().any(|(j, b)| {
                i != j
                    && a.meta.thanos.downsample.resolution == b.meta.thanos.downsample.resolution
                    && !sources[i].is_empty()
                    && sources[i].is_subset(&sources[j])
                    && (sources[i].len() < sources[j].len() || a.ulid() < b.ulid())
            });
            if covered {
                out.insert(a.ulid());
            }
        }
        out
    }

    /// The live blocks outside `exclude`, grouped; `replica_labels` are dropped from the
    /// external labels first, so that the replicas of one source share a group.
    pub fn groups(
        &self,
        replica_labels: &[String],
        exclude: &BTreeSet<Ulid>,
    ) -> BTreeMap<GroupKey, Vec<BucketBlock>> {
        let mut groups: BTreeMap<GroupKey, Vec<BucketBlock>> = BTreeMap::new();
        for b in self.live().filter(|b| !exclude.contains(&b.ulid())) {
            let mut labels = b.meta.thanos.labels.clone();
            for r in replica_labels {
                labels.remove(r);
            }
            let key = GroupKey {
                resolution: b.meta.thanos.downsample.resolution,
                labels,
            };
            groups.entry(key).or_default().push(b.clone());
        }
        groups
    }
}

/// The first pair of blocks (by min time) whose time ranges overlap, if any.
pub fn first_overlap(blocks: &[BucketBlock]) -> Option<(Ulid, Ulid)> {
    let mut sorted: Vec<&BucketBlock> = blocks.iter().collect();
    sorted.sort_by_key(|b| b.meta.block.min_time);
    let mut reach: Option<(i64, Ulid)> = None;
    for b in sorted {
        if let Some((max, id)) = reach {
            if b.meta.block.min_time < max {
                return Some((id, b.ulid()));
            }
        }
        if reach.is_none_or(|(max, _)| b.meta.block.max_time > max) {
            reach = Some((b.meta.block.max_time, b.ulid()));
        }
    }
    None
}
