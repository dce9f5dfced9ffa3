//! Querying the bucket store's blocks: one group of blocks per external label set, whose
//! series get those labels added; matchers on external labels pick groups without reading
//! them; blocks outside the query's time range are not loaded; every request is held to the
//! store's [`RequestLimits`].

use std::sync::Arc;

use tsdb_core::block::reader::Block;
use tsdb_core::head::querier::{encode_samples, iter_chunks};
use tsdb_core::head::series::ClosedChunk;
use tsdb_core::querier::MultiBlockQuerier;
use tsdb_core::storage::{
    Querier, Result, SampleIterator, SelectHints, Series, SeriesSet, StorageError,
};
use tsdb_index::{Labels, MatchType, Matcher};

use super::block::StoreBlock;
use super::limits::{Limiter, RequestLimits};
use super::metrics::StoreMetrics;

/// The blocks of one external label set.
pub struct LabeledBlocks {
    /// The external labels (`thanos.labels`).
    pub labels: Labels,
    /// Oldest sample time of the group.
    pub min_time: i64,
    /// End of the newest block of the group.
    pub max_time: i64,
    /// The raw blocks (what the sample path queries).
    pub(crate) blocks: Vec<Arc<StoreBlock>>,
    /// Downsampled blocks (served through the StoreAPI's chunk path only).
    pub(crate) downsampled: Vec<Arc<StoreBlock>>,
}

self_cell::self_cell!(
    /// A merging querier over loaded blocks that keeps them loaded while it lives.
    struct LoadedQuerier {
        owner: Vec<Arc<Block>>,
        #[covariant]
        dependent: MultiBlockQuerier,
    }
);

/// One group as a query sees it.
struct GroupQuerier {
    labels: Labels,
    querier: LoadedQuerier,
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
    limits: RequestLimits,
    metrics: Arc<StoreMetrics>,
}

impl BucketQuerier {
    /// A querier over the blocks of `groups` overlapping `[mint, maxt]`, loading them if
    /// they are not.
    pub(crate) fn new(
        groups: &[LabeledBlocks],
        mint: i64,
        maxt: i64,
        limits: RequestLimits,
        metrics: Arc<StoreMetrics>,
    ) -> Result<Self> {
        let mut out = Vec::new();
        for g in groups
            .iter()
            .filter(|g| g.min_time <= maxt && g.max_time > mint)
        {
            let loaded = g
                .blocks
                .iter()
                .filter(|b| b.meta.block.min_time <= maxt && b.meta.block.max_time > mint)
                .map(|b| b.get().map_err(|e| StorageError::Other(e.to_string())))
                .collect::<Result<Vec<_>>>()?;
            out.push(GroupQuerier {
                labels: g.labels.clone(),
                querier: LoadedQuerier::new(loaded, |blocks| {
                    MultiBlockQuerier::new(blocks.iter().map(|b| &**b), mint, maxt)
                }),
            });
        }
        Ok(BucketQuerier {
            groups: out,
            mint,
            maxt,
            limits,
            metrics,
        })
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
        let limiter = Limiter::new(self.limits);
        for g in &self.groups {
            let Some(ms) = g.block_matchers(matchers) else {
                continue;
            };
            let mut set = g.querier.borrow_dependent().select(true, hints, &ms)?;
            while let Some(s) = set.next_series() {
                let s = s?;
                // Adding labels can change the order, so the series are gathered (as
                // compressed chunks) and sorted again.
                let chunks = encode_samples(&mut *s.iter(), self.mint, self.maxt, 120)?
                    .into_iter()
                    .map(ClosedChunk::from)
                    .collect::<Vec<_>>();
                if let Err(e) = limiter.reserve_series(chunks.len() as u64) {
                    self.metrics.count_limit(&e);
                    return Err(StorageError::Other(e.to_string()));
                }
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
                None => out.extend(g.querier.borrow_dependent().label_values(name, &ms)?),
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
            out.extend(g.querier.borrow_dependent().label_names(&ms)?);
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
