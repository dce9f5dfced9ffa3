//! Exemplars and metric metadata that remote write carries, kept per tenant and served as
//! Prometheus serves them: `/api/v1/query_exemplars` and `/api/v1/metadata`.
//!
//! Exemplars live in a bounded ring (Prometheus' circular exemplar storage, 100 000 by
//! default): the oldest is dropped when it is full; per series, an exemplar older than the
//! newest one is refused and an exact repeat of the newest is ignored, as Prometheus does.
//! Metadata keeps, per metric family, the distinct (type, help, unit) entries seen, the newest
//! last, at most [`MAX_METADATA_PER_METRIC`] per family. Both are held in memory only: they
//! are not logged to the WAL and do not survive a restart.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use storeapi::prompb::metric_metadata::MetricType;
use storeapi::{DecodedExemplar, Metadata};
use tsdb_index::{Labels, Matcher};

/// Exemplars kept per tenant by default (Prometheus' `--storage.exemplars.exemplars-limit`
/// default when enabled).
pub const DEFAULT_MAX_EXEMPLARS: usize = 100_000;
/// Distinct metadata entries kept per metric family.
pub const MAX_METADATA_PER_METRIC: usize = 10;
/// Metric families whose metadata is kept per tenant.
pub const MAX_METADATA_METRICS: usize = 100_000;

/// One stored exemplar.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExemplar {
    /// The series it belongs to.
    pub series: Labels,
    /// Its own labels (trace ID, ...).
    pub labels: Labels,
    /// Observed value.
    pub value: f64,
    /// Timestamp, ms.
    pub t: i64,
}

/// A tenant's exemplars and metadata.
pub struct SideData {
    max_exemplars: usize,
    exemplars: Mutex<Exemplars>,
    metadata: Mutex<BTreeMap<String, Vec<Metadata>>>,
}

#[derive(Default)]
struct Exemplars {
    ring: VecDeque<StoredExemplar>,
    /// Per series: the newest exemplar's timestamp, value and labels.
    newest: HashMap<Labels, (i64, u64, Labels)>,
}

/// Why an exemplar was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExemplarOutcome {
    /// Stored.
    Added,
    /// The same as the series' newest: ignored.
    Duplicate,
    /// Older than the series' newest: refused.
    OutOfOrder,
}

impl SideData {
    /// Empty stores keeping at most `max_exemplars` exemplars.
    pub fn new(max_exemplars: usize) -> Self {
        SideData {
            max_exemplars,
            exemplars: Mutex::new(Exemplars::default()),
            metadata: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds an exemplar of `series`.
    pub fn add_exemplar(&self, series: &Labels, e: &DecodedExemplar) -> ExemplarOutcome {
        if self.max_exemplars == 0 {
            return ExemplarOutcome::Duplicate;
        }
        let mut ex = self.exemplars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((t, v, l)) = ex.newest.get(series) {
            if e.timestamp < *t {
                return ExemplarOutcome::OutOfOrder;
            }
            if e.timestamp == *t && e.value.to_bits() == *v && e.labels == *l {
                return ExemplarOutcome::Duplicate;
            }
        }
        if ex.ring.len() == self.max_exemplars {
            ex.ring.pop_front();
        }
        ex.ring.push_back(StoredExemplar {
            series: series.clone(),
            labels: e.labels.clone(),
            value: e.value,
            t: e.timestamp,
        });
        ex.newest.insert(
            series.clone(),
            (e.timestamp, e.value.to_bits(), e.labels.clone()),
        );
        ExemplarOutcome::Added
    }

    /// Exemplars in `[start, end]` of series matching any of `selectors`, grouped by series
    /// (series in label order, exemplars by time).
    pub fn query_exemplars(
        &self,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Vec<(Labels, Vec<StoredExemplar>)> {
        let ex = self.exemplars.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_series: BTreeMap<Labels, Vec<StoredExemplar>> = BTreeMap::new();
        for e in ex.ring.iter().filter(|e| e.t >= start && e.t <= end) {
            let selected = selectors.iter().any(|ms| {
                ms.iter()
                    .all(|m| m.matches(e.series.get(&m.name).unwrap_or("")))
            });
            if selected {
                by_series
                    .entry(e.series.clone())
                    .or_default()
                    .push(e.clone());
            }
        }
        for v in by_series.values_mut() {
            v.sort_by_key(|e| e.t);
        }
        by_series.into_iter().collect()
    }

    /// Records the metadata of a metric family.
    pub fn add_metadata(&self, metric: &str, md: &Metadata) {
        if metric.is_empty() {
            return;
        }
        let mut all = self.metadata.lock().unwrap_or_else(|e| e.into_inner());
        if !all.contains_key(metric) && all.len() >= MAX_METADATA_METRICS {
            return;
        }
        let entries = all.entry(metric.to_string()).or_default();
        entries.retain(|m| m != md);
        entries.push(md.clone());
        if entries.len() > MAX_METADATA_PER_METRIC {
            entries.remove(0);
        }
    }

    /// Metadata by metric family (only `metric` when given), at most `limit` families
    /// (0: all) and `per_metric` entries each (0: all).
    pub fn metadata(
        &self,
        metric: Option<&str>,
        limit: usize,
        per_metric: usize,
    ) -> Vec<(String, Vec<Metadata>)> {
        let all = self.metadata.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, Vec<Metadata>)> = all
            .iter()
            .filter(|(name, _)| metric.is_none_or(|m| m == name.as_str()))
            .map(|(name, v)| {
                let mut v = v.clone();
                if per_metric > 0 {
                    v.truncate(per_metric);
                }
                (name.clone(), v)
            })
            .collect();
        if limit > 0 {
            out.truncate(limit);
        }
        out
    }
}

/// Prometheus' name of a metric type in the metadata API.
pub fn type_name(t: MetricType) -> &'static str {
    match t {
        MetricType::Unknown => "unknown",
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::Gaugehistogram => "gaugehistogram",
        MetricType::Summary => "summary",
        MetricType::Info => "info",
        MetricType::Stateset => "stateset",
    }
}

/// Every tenant's side data, created on first use.
#[derive(Default)]
pub struct TenantSideData {
    by_tenant: Mutex<HashMap<String, Arc<SideData>>>,
}

impl TenantSideData {
    /// The side data of `tenant`.
    pub fn get(&self, tenant: &str) -> Arc<SideData> {
        self.by_tenant
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(tenant.to_string())
            .or_insert_with(|| Arc::new(SideData::new(DEFAULT_MAX_EXEMPLARS)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb_index::MatchType;

    fn ex(t: i64, v: f64, trace: &str) -> DecodedExemplar {
        DecodedExemplar {
            labels: Labels::from_pairs([("trace_id", trace)]),
            value: v,
            timestamp: t,
        }
    }

    #[test]
    fn exemplars_are_bounded_ordered_and_deduplicated() {
        let s = SideData::new(3);
        let a = Labels::from_pairs([("__name__", "req"), ("job", "a")]);
        let b = Labels::from_pairs([("__name__", "req"), ("job", "b")]);
        assert_eq!(
            s.add_exemplar(&a, &ex(10, 1.0, "x")),
            ExemplarOutcome::Added
        );
        assert_eq!(
            s.add_exemplar(&a, &ex(10, 1.0, "x")),
            ExemplarOutcome::Duplicate
        );
        assert_eq!(
            s.add_exemplar(&a, &ex(5, 1.0, "y")),
            ExemplarOutcome::OutOfOrder
        );
        assert_eq!(s.add_exemplar(&b, &ex(7, 2.0, "z")), ExemplarOutcome::Added);
        assert_eq!(
            s.add_exemplar(&a, &ex(20, 3.0, "w")),
            ExemplarOutcome::Added
        );
        // Full: the oldest goes.
        assert_eq!(
            s.add_exemplar(&b, &ex(30, 4.0, "v")),
            ExemplarOutcome::Added
        );
        let sel = vec![vec![
            Matcher::new(MatchType::Equal, "__name__", "req").unwrap()
        ]];
        let got = s.query_exemplars(&sel, 0, 100);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1.iter().map(|e| e.t).collect::<Vec<_>>(), [20]);
        assert_eq!(got[1].1.iter().map(|e| e.t).collect::<Vec<_>>(), [7, 30]);
        let only_b = vec![vec![Matcher::new(MatchType::Equal, "job", "b").unwrap()]];
        assert_eq!(s.query_exemplars(&only_b, 8, 100)[0].1.len(), 1);
    }

    #[test]
    fn metadata_keeps_distinct_entries_newest_last() {
        let s = SideData::new(0);
        let md = |help: &str| Metadata {
            metric_type: MetricType::Counter,
            help: help.into(),
            unit: String::new(),
        };
        s.add_metadata("req_total", &md("a"));
        s.add_metadata("req_total", &md("b"));
        s.add_metadata("req_total", &md("a"));
        s.add_metadata("up", &md("up"));
        let all = s.metadata(None, 0, 0);
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0].1.iter().map(|m| m.help.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(s.metadata(Some("up"), 0, 0).len(), 1);
        assert_eq!(s.metadata(None, 1, 1)[0].1.len(), 1);
    }
}
