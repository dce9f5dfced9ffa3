//! Querying the bucket store's blocks: one group of blocks per external label set, whose
//! series get those labels added; matchers on external labels pick groups without reading
//! them.

use std::sync::Arc;

use tsdb_core::head::querier::{encode_samples, iter_chunks};
use tsdb_core::head::series::ClosedChunk;
use tsdb_core::querier::{Blocks, SnapshotQuerier};
use tsdb_core::storage::{Querier, Result, SampleIterator, SelectHints, Series, SeriesSet};
use tsdb_index::{Labels, MatchType, Matcher};

/// The blocks of one external label set.
pub struct LabeledBlocks {
    /// The external labels (`thanos.labels`).
    pub labels: Labels,
    /// Oldest sample time of the group.
    pub min_time: i64,
    /// End of the newest block of the group.
    pub max_time: i64,
    /// The raw blocks (what the sample path queries).
    pub blocks: Arc<Blocks>,
    /// Downsampled blocks by resolution (served through the StoreAPI's chunk path only).
    pub downsampled: Vec<(i64, Arc<Blocks>)>,
}

/// One group as a query sees it.
struct GroupQuerier {
    labels: Labels,
    querier: SnapshotQuerier,
}

impl GroupQuerier {
    /// The matchers to pass to the blocks, or `None` when a matcher on an external label
    /// rules the whole group out.
    fn block_matchers(&self, matchers: &[Matcher]) -> Option<Vec<Matcher>> {
        let mut rest = Vec::new();
        for m in matchers {
            match self.labels.get(&m.name) {
                Some(v) if !m.matches(v) => return None,
                Some(_) => {}
                None => rest.push(m.clone()),
            }
        }
        if rest.is_empty() {
            // Only external labels were named: every series of the group.
            rest.push(Matcher::new(MatchType::Regexp, "__name__", ".*").ok()?);
        }
        Some(rest)
    }
}

/// A querier over a snapshot of the store's groups.
pub struct BucketQuerier {
    groups: Vec<GroupQuerier>,
    mint: i64,
    maxt: i64,
}

impl BucketQuerier {
    pub(crate) fn new(groups: Arc<Vec<LabeledBlocks>>, mint: i64, maxt: i64) -> Self {
        let groups = groups
            .iter()
            .filter(|g| g.min_time <= maxt && g.max_time > mint)
            .map(|g| GroupQuerier {
                labels: g.labels.clone(),
                querier: SnapshotQuerier::over(g.blocks.clone(), mint, maxt),
            })
            .collect();
        BucketQuerier { groups, mint, maxt }
    }
}

/// `labels` with the external labels `ext` added (an external label wins over a series label
/// of the same name, as in Thanos).
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

impl Querier for BucketQuerier {
    fn select<'a>(
        &'a self,
        _sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet + 'a>> {
        let mut all: Vec<LabeledSeries> = Vec::new();
        for g in &self.groups {
            let Some(ms) = g.block_matchers(matchers) else {
                continue;
            };
            let mut set = g.querier.select(true, hints, &ms)?;
            while let Some(s) = set.next_series() {
                let s = s?;
                // Adding labels can change the order, so the series are gathered (as
                // compressed chunks) and sorted again.
                let chunks = encode_samples(&mut *s.iter(), self.mint, self.maxt, 120)?
                    .into_iter()
                    .map(ClosedChunk::from)
                    .collect();
                all.push(LabeledSeries {
                    labels: with_external(s.labels(), &g.labels),
                    chunks,
                    mint: self.mint,
                    maxt: self.maxt,
                });
            }
        }
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Box::new(LabeledSeriesSet {
            series: all.into_iter(),
        }))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for g in &self.groups {
            let Some(ms) = g.block_matchers(matchers) else {
                continue;
            };
            match g.labels.get(name) {
                Some(v) => out.push(v.to_string()),
                None => out.extend(g.querier.label_values(name, &ms)?),
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for g in &self.groups {
            let Some(ms) = g.block_matchers(matchers) else {
                continue;
            };
            out.extend(g.querier.label_names(&ms)?);
            out.extend(g.labels.iter().map(|l| l.name.to_string()));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// A block series with its external labels added, and its samples in `[mint, maxt]`.
struct LabeledSeries {
    labels: Labels,
    chunks: Vec<ClosedChunk>,
    mint: i64,
    maxt: i64,
}

impl Series for LabeledSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        iter_chunks(&self.chunks, self.mint, self.maxt)
    }
}

struct LabeledSeriesSet {
    series: std::vec::IntoIter<LabeledSeries>,
}

impl SeriesSet for LabeledSeriesSet {
    fn next_series(&mut self) -> Option<Result<Box<dyn Series + '_>>> {
        self.series
            .next()
            .map(|s| Ok(Box::new(s) as Box<dyn Series + '_>))
    }
}
