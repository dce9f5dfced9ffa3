//! The samples of one series as the evaluator holds them after reading storage (or after
//! evaluating a subquery): floats and histograms apart, in time order, with staleness
//! markers kept aside. Every step reads them in place: an instant selector picks one sample,
//! a range window is a pair of sub-slices, so no step copies samples.

use std::sync::Arc;

use chunkenc::{CounterResetHint, FloatHistogram};
use tsdb_index::Labels;

use crate::functions::Window;
use crate::value::{is_stale_nan, FPoint, HPoint, Series};

/// A sample picked by an instant selector, borrowed from its series.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PointRef<'a> {
    /// A float.
    F(f64),
    /// A native histogram.
    H(&'a Arc<FloatHistogram>),
}

/// One series read from storage (or produced by a subquery).
#[derive(Debug, Clone, Default)]
pub(crate) struct FetchedSeries {
    pub labels: Labels,
    /// Float samples in time order, staleness markers excluded.
    pub floats: Vec<FPoint>,
    /// Histogram samples in time order, staleness markers excluded.
    pub histograms: Vec<HPoint>,
    /// Times of the staleness markers, in order.
    pub stale: Vec<i64>,
    /// Start timestamps aligned with `floats` (0 = unknown); empty when no sample has one,
    /// which is the common case and costs nothing.
    pub float_starts: Vec<i64>,
    /// Start timestamps aligned with `histograms`, likewise.
    pub histogram_starts: Vec<i64>,
    pub drop_name: bool,
}

/// Appends `st` to `starts`, which stays empty until a start timestamp other than 0 arrives
/// for the `len`-th sample (then the earlier ones are back-filled with 0).
fn push_start(starts: &mut Vec<i64>, len: usize, st: i64) {
    if st == 0 && starts.is_empty() {
        return;
    }
    // A no-op once started: the list then always has `len` entries.
    starts.resize(len, 0);
    starts.push(st);
}

impl FetchedSeries {
    /// An empty series with these labels.
    pub(crate) fn new(labels: Labels) -> Self {
        FetchedSeries {
            labels,
            ..Default::default()
        }
    }

    /// Appends a float sample (later than every sample so far).
    pub(crate) fn push_float(&mut self, t: i64, f: f64, st: i64) {
        if is_stale_nan(f) {
            self.stale.push(t);
            return;
        }
        push_start(&mut self.float_starts, self.floats.len(), st);
        self.floats.push(FPoint { t, f });
    }

    /// Appends a histogram sample (later than every sample so far).
    pub(crate) fn push_histogram(&mut self, t: i64, h: Arc<FloatHistogram>, st: i64) {
        if is_stale_nan(h.sum) {
            self.stale.push(t);
            return;
        }
        push_start(&mut self.histogram_starts, self.histograms.len(), st);
        self.histograms.push(HPoint { t, h });
    }

    /// Whether the series holds no sample and no staleness marker.
    pub(crate) fn is_empty(&self) -> bool {
        self.floats.is_empty() && self.histograms.is_empty() && self.stale.is_empty()
    }

    /// The latest sample at or before `ref_t` within the lookback window, with its time and
    /// start timestamp; `None` if there is none or a staleness marker came after it.
    pub(crate) fn at(&self, ref_t: i64, lookback: i64) -> Option<(i64, PointRef<'_>, i64)> {
        let fi = self.floats.partition_point(|p| p.t <= ref_t);
        let hi = self.histograms.partition_point(|p| p.t <= ref_t);
        let float = fi.checked_sub(1);
        let hist = hi.checked_sub(1);
        let use_float = match (float, hist) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(f), Some(h)) => self.floats[f].t > self.histograms[h].t,
        };
        let (t, v, st) = match (use_float, float, hist) {
            (true, Some(i), _) => (
                self.floats[i].t,
                PointRef::F(self.floats[i].f),
                start_of(&self.float_starts, i),
            ),
            (_, _, Some(i)) => (
                self.histograms[i].t,
                PointRef::H(&self.histograms[i].h),
                start_of(&self.histogram_starts, i),
            ),
            _ => return None,
        };
        if t <= ref_t - lookback {
            return None;
        }
        let si = self.stale.partition_point(|&s| s <= ref_t);
        if si > 0 && self.stale[si - 1] > t {
            return None;
        }
        Some((t, v, st))
    }

    /// The samples in `(mint, maxt]` as a window borrowed from this series, with their
    /// start timestamps when `with_starts` is set.
    pub(crate) fn window(&self, mint: i64, maxt: i64, with_starts: bool) -> Window<'_> {
        if mint >= maxt {
            return Window::empty(&self.labels);
        }
        let flo = self.floats.partition_point(|p| p.t <= mint);
        let fhi = self.floats.partition_point(|p| p.t <= maxt);
        let hlo = self.histograms.partition_point(|p| p.t <= mint);
        let hhi = self.histograms.partition_point(|p| p.t <= maxt);
        fn starts(s: &[i64], lo: usize, hi: usize, wanted: bool) -> &[i64] {
            if wanted && !s.is_empty() {
                &s[lo..hi]
            } else {
                &[]
            }
        }
        Window {
            metric: &self.labels,
            floats: &self.floats[flo..fhi],
            histograms: &self.histograms[hlo..hhi],
            float_starts: starts(&self.float_starts, flo, fhi, with_starts),
            histogram_starts: starts(&self.histogram_starts, hlo, hhi, with_starts),
        }
    }

    /// Takes over a subquery's output series without copying its samples. Subquery results
    /// carry no start timestamps (Prometheus' subqueries cut them off) and no explicit
    /// counter-reset hints.
    pub(crate) fn from_series(mut s: Series) -> Self {
        let mut stale = Vec::new();
        if s.floats.iter().any(|p| is_stale_nan(p.f)) {
            stale.extend(s.floats.iter().filter(|p| is_stale_nan(p.f)).map(|p| p.t));
            s.floats.retain(|p| !is_stale_nan(p.f));
        }
        if s.histograms.iter().any(|p| is_stale_nan(p.h.sum)) {
            stale.extend(
                s.histograms
                    .iter()
                    .filter(|p| is_stale_nan(p.h.sum))
                    .map(|p| p.t),
            );
            s.histograms.retain(|p| !is_stale_nan(p.h.sum));
            stale.sort_unstable();
        }
        for p in s.histograms.iter_mut() {
            if matches!(
                p.h.counter_reset_hint,
                CounterResetHint::CounterReset | CounterResetHint::NotCounterReset
            ) {
                Arc::make_mut(&mut p.h).counter_reset_hint = CounterResetHint::Unknown;
            }
        }
        FetchedSeries {
            labels: s.metric,
            floats: s.floats,
            histograms: s.histograms,
            stale,
            float_starts: Vec::new(),
            histogram_starts: Vec::new(),
            drop_name: s.drop_name,
        }
    }
}

/// The start timestamp of sample `i` (0 when the series has none).
fn start_of(starts: &[i64], i: usize) -> i64 {
    starts.get(i).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::stale_nan;

    fn series() -> FetchedSeries {
        let mut s = FetchedSeries::new(Labels::empty());
        s.push_float(10, 1.0, 0);
        assert!(s.float_starts.is_empty(), "no start timestamp yet");
        s.push_float(20, 2.0, 15);
        s.push_float(30, stale_nan(), 0);
        s.push_histogram(40, Arc::new(FloatHistogram::default()), 0);
        s.push_float(50, 5.0, 0);
        s
    }

    #[test]
    fn instant_lookups_respect_lookback_and_staleness() {
        let s = series();
        assert!(s.at(5, 100).is_none());
        assert!(matches!(s.at(25, 100), Some((20, PointRef::F(f), 15)) if f == 2.0));
        assert!(s.at(25, 5).is_none(), "outside the lookback");
        assert!(
            s.at(35, 100).is_none(),
            "a staleness marker follows the sample"
        );
        assert!(matches!(s.at(45, 100), Some((40, PointRef::H(_), 0))));
        assert!(matches!(s.at(55, 100), Some((50, PointRef::F(_), 0))));
    }

    #[test]
    fn windows_borrow_samples_and_start_times() {
        let s = series();
        let w = s.window(10, 50, true);
        assert_eq!(w.floats.iter().map(|p| p.t).collect::<Vec<_>>(), [20, 50]);
        assert_eq!(w.float_starts, [15, 0]);
        assert_eq!(w.histograms.len(), 1);
        assert!(w.histogram_starts.is_empty());
        assert!(s.window(10, 50, false).float_starts.is_empty());
        assert_eq!(s.window(50, 50, true).floats.len(), 0);
    }
}
