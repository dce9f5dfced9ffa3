//! Exemplar storage of the head, as Prometheus' circular exemplar storage: a bounded ring of
//! the newest exemplars of all series (the oldest dropped when full), per series in time
//! order. An exemplar older than its series' newest is refused, an exact repeat of the newest
//! ignored. Exemplars are logged to the WAL with their transaction and replayed on open.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use tsdb_index::{Labels, Matcher};

/// Exemplars kept by default (Prometheus' `--storage.exemplars.exemplars-limit` default
/// once exemplar storage is on).
pub const DEFAULT_MAX_EXEMPLARS: usize = 100_000;

/// An exemplar: a labelled observation (a trace ID, say) at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Its own labels.
    pub labels: Labels,
    /// Observed value.
    pub value: f64,
    /// Timestamp, ms.
    pub t: i64,
}

/// What adding an exemplar did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExemplarOutcome {
    /// Stored.
    Added,
    /// The same as its series' newest: ignored.
    Duplicate,
    /// Older than its series' newest: refused.
    OutOfOrder,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<(Labels, Exemplar)>,
    /// Per series: its newest exemplar.
    newest: HashMap<Labels, Exemplar>,
}

/// The bounded exemplar ring; see the module docs.
pub struct ExemplarStorage {
    max: usize,
    ring: Mutex<Ring>,
}

impl ExemplarStorage {
    /// Storage for at most `max` exemplars (0 keeps none).
    pub fn new(max: usize) -> Self {
        ExemplarStorage {
            max,
            ring: Mutex::new(Ring::default()),
        }
    }

    /// Whether `e` would be stored for `series`, without storing it.
    pub fn check(&self, series: &Labels, e: &Exemplar) -> ExemplarOutcome {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        Self::outcome(&ring, series, e)
    }

    fn outcome(ring: &Ring, series: &Labels, e: &Exemplar) -> ExemplarOutcome {
        match ring.newest.get(series) {
            Some(n) if e.t < n.t => ExemplarOutcome::OutOfOrder,
            Some(n)
                if e.t == n.t && e.value.to_bits() == n.value.to_bits() && e.labels == n.labels =>
            {
                ExemplarOutcome::Duplicate
            }
            _ => ExemplarOutcome::Added,
        }
    }

    /// Adds an exemplar of `series`.
    pub fn add(&self, series: &Labels, e: Exemplar) -> ExemplarOutcome {
        if self.max == 0 {
            return ExemplarOutcome::Duplicate;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = Self::outcome(&ring, series, &e);
        if outcome != ExemplarOutcome::Added {
            return outcome;
        }
        if ring.entries.len() == self.max {
            if let Some((old_series, old)) = ring.entries.pop_front() {
                if ring.newest.get(&old_series) == Some(&old) {
                    ring.newest.remove(&old_series);
                }
            }
        }
        ring.newest.insert(series.clone(), e.clone());
        ring.entries.push_back((series.clone(), e));
        outcome
    }

    /// Exemplars in `[start, end]` of the series matching any of `selectors`: series in
    /// label order, each series' exemplars by time.
    pub fn select(
        &self,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Vec<(Labels, Vec<Exemplar>)> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: BTreeMap<Labels, Vec<Exemplar>> = BTreeMap::new();
        for (series, e) in ring
            .entries
            .iter()
            .filter(|(_, e)| e.t >= start && e.t <= end)
        {
            let selected = selectors.iter().any(|ms| {
                ms.iter()
                    .all(|m| m.matches(series.get(&m.name).unwrap_or("")))
            });
            if selected {
                out.entry(series.clone()).or_default().push(e.clone());
            }
        }
        for v in out.values_mut() {
            v.sort_by_key(|e| e.t);
        }
        out.into_iter().collect()
    }

    /// Number of exemplars held.
    pub fn len(&self) -> usize {
        self.ring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb_index::MatchType;

    fn ex(t: i64, v: f64, trace: &str) -> Exemplar {
        Exemplar {
            labels: Labels::from_pairs([("trace_id", trace)]),
            value: v,
            t,
        }
    }

    #[test]
    fn the_ring_is_bounded_ordered_and_deduplicated() {
        let s = ExemplarStorage::new(3);
        let a = Labels::from_pairs([("__name__", "req"), ("job", "a")]);
        let b = Labels::from_pairs([("__name__", "req"), ("job", "b")]);
        assert_eq!(s.add(&a, ex(10, 1.0, "x")), ExemplarOutcome::Added);
        assert_eq!(s.add(&a, ex(10, 1.0, "x")), ExemplarOutcome::Duplicate);
        assert_eq!(s.add(&a, ex(5, 1.0, "y")), ExemplarOutcome::OutOfOrder);
        assert_eq!(s.add(&b, ex(7, 2.0, "z")), ExemplarOutcome::Added);
        assert_eq!(s.add(&a, ex(20, 3.0, "w")), ExemplarOutcome::Added);
        assert_eq!(s.add(&b, ex(30, 4.0, "v")), ExemplarOutcome::Added);
        assert_eq!(s.len(), 3);
        let sel = vec![vec![
            Matcher::new(MatchType::Equal, "__name__", "req").unwrap()
        ]];
        let got = s.select(&sel, 0, 100);
        assert_eq!(got[0].1.iter().map(|e| e.t).collect::<Vec<_>>(), [20]);
        assert_eq!(got[1].1.iter().map(|e| e.t).collect::<Vec<_>>(), [7, 30]);
        let only_b = vec![vec![Matcher::new(MatchType::Equal, "job", "b").unwrap()]];
        assert_eq!(s.select(&only_b, 8, 100)[0].1.len(), 1);
    }
}
