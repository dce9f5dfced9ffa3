//! Metric metadata that remote write carries, kept per tenant and served by
//! `/api/v1/metadata`: per metric family, the distinct (type, help, unit) entries seen, the
//! newest last, at most [`MAX_METADATA_PER_METRIC`] per family and
//! [`MAX_METADATA_METRICS`] families. Held in memory only: not logged to the WAL, lost on
//! restart. (Exemplars are kept by the database itself, see
//! `tsdb_core::head::exemplars`.)

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use storeapi::prompb::metric_metadata::MetricType;
use storeapi::Metadata;

/// Distinct metadata entries kept per metric family.
pub const MAX_METADATA_PER_METRIC: usize = 10;
/// Metric families whose metadata is kept per tenant.
pub const MAX_METADATA_METRICS: usize = 100_000;

/// A tenant's metric metadata.
#[derive(Default)]
pub struct MetadataStore {
    by_metric: Mutex<BTreeMap<String, Vec<Metadata>>>,
}

impl MetadataStore {
    /// Records the metadata of a metric family.
    pub fn add(&self, metric: &str, md: &Metadata) {
        if metric.is_empty() {
            return;
        }
        let mut all = self.by_metric.lock().unwrap_or_else(|e| e.into_inner());
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
    pub fn get(
        &self,
        metric: Option<&str>,
        limit: usize,
        per_metric: usize,
    ) -> Vec<(String, Vec<Metadata>)> {
        let all = self.by_metric.lock().unwrap_or_else(|e| e.into_inner());
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

/// Every tenant's metadata, created on first use.
#[derive(Default)]
pub struct TenantMetadata {
    by_tenant: Mutex<HashMap<String, Arc<MetadataStore>>>,
}

impl TenantMetadata {
    /// The metadata of `tenant`.
    pub fn get(&self, tenant: &str) -> Arc<MetadataStore> {
        self.by_tenant
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(tenant.to_string())
            .or_default()
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_keeps_distinct_entries_newest_last() {
        let s = MetadataStore::default();
        let md = |help: &str| Metadata {
            metric_type: MetricType::Counter,
            help: help.into(),
            unit: String::new(),
        };
        s.add("req_total", &md("a"));
        s.add("req_total", &md("b"));
        s.add("req_total", &md("a"));
        s.add("up", &md("up"));
        let all = s.get(None, 0, 0);
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0].1.iter().map(|m| m.help.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(s.get(Some("up"), 0, 0).len(), 1);
        assert_eq!(s.get(None, 1, 1)[0].1.len(), 1);
    }
}
