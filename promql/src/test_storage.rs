//! An in-memory storage implementing the tsdb-core storage traits, for tests, benchmarks and
//! the promqltest runner.
//!
//! Series are kept sorted by labels; each holds its samples in time order. Like a TSDB without
//! an out-of-order window, an append at or before the series' last timestamp is rejected.

use std::collections::BTreeMap;
use std::sync::Arc;

use chunkenc::{CounterResetHint, FloatHistogram, Histogram};
use tsdb_core::storage::{
    Querier, Queryable, Result, SampleIterator, SelectHints, Series, SeriesSet, StorageError,
    ValueType,
};
use tsdb_index::{Labels, Matcher};

/// One stored sample.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredValue {
    /// A float.
    Float(f64),
    /// A float histogram.
    Histogram(Arc<FloatHistogram>),
}

/// A stored sample with its timestamp and optional start timestamp (0 = none).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSample {
    /// Timestamp in ms.
    pub t: i64,
    /// Start timestamp in ms (0 when unknown).
    pub st: i64,
    /// Value.
    pub v: StoredValue,
}

/// Why an append was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The sample is not after the series' last sample.
    #[error("out of order sample for series {series} at {t}")]
    OutOfOrder {
        /// The series.
        series: String,
        /// The rejected timestamp.
        t: i64,
    },
    /// A sample with the same timestamp but another value exists.
    #[error("duplicate sample for timestamp {t} in series {series}")]
    Duplicate {
        /// The series.
        series: String,
        /// The rejected timestamp.
        t: i64,
    },
}

/// In-memory series storage.
#[derive(Debug, Default, Clone)]
pub struct TestStorage {
    series: BTreeMap<Labels, Vec<StoredSample>>,
}

impl TestStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops all data.
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Appends a sample; it must be later than the series' last sample (an identical
    /// duplicate is ignored).
    pub fn append(
        &mut self,
        labels: Labels,
        sample: StoredSample,
    ) -> std::result::Result<(), AppendError> {
        let v = self.series.entry(labels.clone()).or_default();
        if let Some(last) = v.last() {
            if sample.t == last.t {
                let same = match (&last.v, &sample.v) {
                    (StoredValue::Float(a), StoredValue::Float(b)) => a.to_bits() == b.to_bits(),
                    (StoredValue::Histogram(a), StoredValue::Histogram(b)) => a == b,
                    _ => false,
                };
                if same {
                    return Ok(());
                }
                return Err(AppendError::Duplicate {
                    series: labels.to_string(),
                    t: sample.t,
                });
            }
            if sample.t < last.t {
                return Err(AppendError::OutOfOrder {
                    series: labels.to_string(),
                    t: sample.t,
                });
            }
        }
        let mut sample = sample;
        if let StoredValue::Histogram(h) = &mut sample.v {
            let prev = v
                .iter()
                .rev()
                .take(MAX_HISTOGRAMS_PER_CHUNK)
                .take_while(|s| matches!(s.v, StoredValue::Histogram(_)));
            let run = prev.count();
            let prev_h = match v.last() {
                Some(StoredSample {
                    v: StoredValue::Histogram(p),
                    ..
                }) => Some(p.clone()),
                _ => None,
            };
            let hint = tsdb_hint(h, prev_h.as_deref(), run);
            if hint != h.counter_reset_hint {
                std::sync::Arc::make_mut(h).counter_reset_hint = hint;
            }
        }
        v.push(sample);
        Ok(())
    }

    /// Appends a float sample.
    pub fn append_float(
        &mut self,
        labels: Labels,
        t: i64,
        v: f64,
    ) -> std::result::Result<(), AppendError> {
        self.append(
            labels,
            StoredSample {
                t,
                st: 0,
                v: StoredValue::Float(v),
            },
        )
    }

    /// Appends a float histogram sample.
    pub fn append_histogram(
        &mut self,
        labels: Labels,
        t: i64,
        h: FloatHistogram,
    ) -> std::result::Result<(), AppendError> {
        self.append(
            labels,
            StoredSample {
                t,
                st: 0,
                v: StoredValue::Histogram(Arc::new(h)),
            },
        )
    }

    /// All series with their samples.
    pub fn iter(&self) -> impl Iterator<Item = (&Labels, &[StoredSample])> {
        self.series.iter().map(|(l, s)| (l, s.as_slice()))
    }
}

/// Samples after which a TSDB head cuts a new histogram chunk (approximation: Prometheus cuts
/// by size; the promqltest corpus never reaches either limit).
const MAX_HISTOGRAMS_PER_CHUNK: usize = 120;

/// The counter-reset hint a TSDB would return for `h` appended after `prev`: histograms
/// inside a chunk read back as "not a counter reset", the first of a chunk as "unknown"
/// (or "counter reset" when the chunk was cut because of one); gauges stay gauges.
fn tsdb_hint(h: &FloatHistogram, prev: Option<&FloatHistogram>, run: usize) -> CounterResetHint {
    if h.counter_reset_hint == CounterResetHint::Gauge {
        return CounterResetHint::Gauge;
    }
    let Some(prev) = prev else {
        return CounterResetHint::Unknown;
    };
    if prev.counter_reset_hint == CounterResetHint::Gauge {
        return CounterResetHint::Unknown;
    }
    let mut probe = h.clone();
    if probe.counter_reset_hint != CounterResetHint::CounterReset {
        probe.counter_reset_hint = CounterResetHint::Unknown;
    }
    if crate::functions::hist::detect_reset(&probe, prev) {
        // A reset cuts a new chunk; Prometheus' querier reads its first sample back as
        // "unknown" (prometheus/prometheus#15346).
        return CounterResetHint::Unknown;
    }
    if run >= MAX_HISTOGRAMS_PER_CHUNK
        || crate::functions::hist::uses_custom(h) != crate::functions::hist::uses_custom(prev)
        || (crate::functions::hist::uses_custom(h) && h.custom_values != prev.custom_values)
        || h.schema != prev.schema
    {
        return CounterResetHint::Unknown;
    }
    CounterResetHint::NotCounterReset
}

impl Queryable for TestStorage {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>> {
        Ok(Box::new(TestQuerier {
            storage: self,
            mint,
            maxt,
        }))
    }
}

struct TestQuerier<'s> {
    storage: &'s TestStorage,
    mint: i64,
    maxt: i64,
}

fn matches_all(l: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
}

impl Querier for TestQuerier<'_> {
    fn select<'a>(
        &'a self,
        _sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet + 'a>> {
        let (mint, maxt) = match hints {
            Some(h) => (h.start.max(self.mint), h.end.min(self.maxt)),
            None => (self.mint, self.maxt),
        };
        let mut out = Vec::new();
        for (l, samples) in &self.storage.series {
            if !matches_all(l, matchers) {
                continue;
            }
            let lo = samples.partition_point(|s| s.t < mint);
            let hi = samples.partition_point(|s| s.t <= maxt);
            if lo < hi {
                out.push((l, &samples[lo..hi]));
            }
        }
        Ok(Box::new(TestSeriesSet { items: out, pos: 0 }))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut v: Vec<String> = self
            .storage
            .series
            .keys()
            .filter(|l| matches_all(l, matchers))
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut v: Vec<String> = self
            .storage
            .series
            .keys()
            .filter(|l| matches_all(l, matchers))
            .flat_map(|l| l.iter().map(|x| x.name.to_string()).collect::<Vec<_>>())
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }
}

struct TestSeriesSet<'a> {
    items: Vec<(&'a Labels, &'a [StoredSample])>,
    pos: usize,
}

impl SeriesSet for TestSeriesSet<'_> {
    fn next_series(&mut self) -> Option<Result<Box<dyn Series + '_>>> {
        let (l, s) = *self.items.get(self.pos)?;
        self.pos += 1;
        Some(Ok(Box::new(TestSeries {
            labels: l,
            samples: s,
        })))
    }
}

struct TestSeries<'a> {
    labels: &'a Labels,
    samples: &'a [StoredSample],
}

impl Series for TestSeries<'_> {
    fn labels(&self) -> &Labels {
        self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(TestIterator {
            samples: self.samples,
            pos: None,
            int_hist: Histogram::default(),
        })
    }
}

/// Iterates stored samples; `pos` is `None` before the first `next`.
struct TestIterator<'a> {
    samples: &'a [StoredSample],
    pos: Option<usize>,
    int_hist: Histogram,
}

impl TestIterator<'_> {
    fn current(&self) -> Option<&StoredSample> {
        self.pos.and_then(|p| self.samples.get(p))
    }

    fn kind(&self) -> ValueType {
        match self.current() {
            None => ValueType::None,
            Some(s) => match s.v {
                StoredValue::Float(_) => ValueType::Float,
                StoredValue::Histogram(_) => ValueType::FloatHistogram,
            },
        }
    }
}

impl SampleIterator for TestIterator<'_> {
    fn next(&mut self) -> ValueType {
        let p = self.pos.map_or(0, |p| p + 1).min(self.samples.len());
        self.pos = Some(p);
        self.kind()
    }

    fn seek(&mut self, t: i64) -> ValueType {
        let from = self.pos.unwrap_or(0).min(self.samples.len());
        if let Some(cur) = self.current() {
            if cur.t >= t {
                return self.kind();
            }
        }
        let rel = self.samples[from..].partition_point(|s| s.t < t);
        self.pos = Some(from + rel);
        self.kind()
    }

    fn at(&self) -> (i64, f64) {
        match self.current() {
            Some(StoredSample {
                t,
                v: StoredValue::Float(f),
                ..
            }) => (*t, *f),
            Some(s) => (s.t, f64::NAN),
            None => (0, f64::NAN),
        }
    }

    fn at_histogram(&self) -> (i64, &Histogram) {
        // Only float histograms are stored; integer access yields an empty histogram.
        (self.at_t(), &self.int_hist)
    }

    fn at_float_histogram(&mut self) -> (i64, &FloatHistogram) {
        static EMPTY: std::sync::OnceLock<FloatHistogram> = std::sync::OnceLock::new();
        match self.pos.and_then(|p| self.samples.get(p)) {
            Some(StoredSample {
                t,
                v: StoredValue::Histogram(h),
                ..
            }) => (*t, h),
            _ => (self.at_t(), EMPTY.get_or_init(FloatHistogram::default)),
        }
    }

    fn at_t(&self) -> i64 {
        self.current().map_or(0, |s| s.t)
    }

    fn at_st(&self) -> i64 {
        self.current().map_or(0, |s| s.st)
    }

    fn err(&self) -> Option<&StorageError> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb_index::MatchType;

    #[test]
    fn select_filters_by_matchers_and_time() {
        let mut s = TestStorage::new();
        let a = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let b = Labels::from_pairs([("__name__", "up"), ("job", "b")]);
        for t in 0..10 {
            s.append_float(a.clone(), t * 10, t as f64).unwrap();
            s.append_float(b.clone(), t * 10, -(t as f64)).unwrap();
        }
        assert!(s.append_float(a.clone(), 5, 0.0).is_err());
        let q = s.querier(20, 50).unwrap();
        let m = [Matcher::new(MatchType::Regexp, "job", "a").unwrap()];
        let mut set = q.select(true, None, &m).unwrap();
        {
            let series = set.next_series().unwrap().unwrap();
            assert_eq!(series.labels(), &a);
            let mut it = series.iter();
            let mut ts = vec![];
            while it.next() == ValueType::Float {
                ts.push(it.at().0);
            }
            assert_eq!(ts, vec![20, 30, 40, 50]);
            let mut it = series.iter();
            assert_eq!(it.seek(35), ValueType::Float);
            assert_eq!(it.at(), (40, 4.0));
        }
        assert!(set.next_series().is_none());
    }
}
