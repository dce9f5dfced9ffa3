//! Deduplication of HA replicas with Thanos' penalty algorithm: two replicas of a series are
//! merged by always taking the earliest next sample, and after taking one replica's sample the
//! other replica is only consulted again after a penalty of twice the last gap (5 s at the
//! start). So the merged series follows one replica while it has data and switches to the
//! other only across a gap, without doubling the sample rate.
//!
//! For counters (a select read for `rate`, `increase`, `irate` or `resets`, as Thanos decides
//! it), switching to a replica whose counter is lower than the last value taken would read as
//! a counter reset; with [`PenaltyDedupIterator::for_counters`] the replica switched to is
//! shifted up by the difference from then on, as Thanos' querier does.

use chunkenc::{FloatHistogram, Histogram};
use tsdb_core::storage::{SampleIterator, StorageError, ValueType};

/// Penalty for the replica not chosen before any gap is known (ms).
pub const INITIAL_PENALTY_MS: i64 = 5000;

/// Merges two replicas of a series (fold more replicas by nesting).
pub struct PenaltyDedupIterator<'a> {
    a: Box<dyn SampleIterator + 'a>,
    b: Box<dyn SampleIterator + 'a>,
    va: ValueType,
    vb: ValueType,
    started: bool,
    use_a: bool,
    last_t: i64,
    pen_a: i64,
    pen_b: i64,
    /// Whether values are counters (adjusted at replica switches).
    counter: bool,
    /// Offsets added to each replica's float values.
    adjust_a: f64,
    adjust_b: f64,
    /// The last float value returned (adjusted), if any.
    last_v: Option<f64>,
}

impl<'a> PenaltyDedupIterator<'a> {
    /// Dedups replicas `a` and `b`.
    pub fn new(a: Box<dyn SampleIterator + 'a>, b: Box<dyn SampleIterator + 'a>) -> Self {
        PenaltyDedupIterator {
            a,
            b,
            va: ValueType::None,
            vb: ValueType::None,
            started: false,
            use_a: true,
            last_t: i64::MIN,
            pen_a: 0,
            pen_b: 0,
            counter: false,
            adjust_a: 0.0,
            adjust_b: 0.0,
            last_v: None,
        }
    }

    /// Treats the values as counters: at a switch to a replica whose counter reads lower
    /// than the last value returned, that replica is shifted up by the difference.
    pub fn for_counters(mut self, counter: bool) -> Self {
        self.counter = counter;
        self
    }

    /// Records the value returned and, for counters, adjusts a replica switched to.
    fn settle(&mut self, was_a: bool, v: ValueType) -> ValueType {
        if !self.counter || v != ValueType::Float {
            return v;
        }
        let switched = self.last_v.is_some() && was_a != self.use_a;
        if switched {
            let last = self.last_v.unwrap_or_default();
            let (_, raw) = self.current().at();
            let adjust = if self.use_a {
                &mut self.adjust_a
            } else {
                &mut self.adjust_b
            };
            if last > raw + *adjust {
                *adjust = last - raw;
            }
        }
        self.last_v = Some(self.at().1);
        v
    }

    fn current(&self) -> &(dyn SampleIterator + 'a) {
        if self.use_a {
            self.a.as_ref()
        } else {
            self.b.as_ref()
        }
    }
}

impl SampleIterator for PenaltyDedupIterator<'_> {
    fn next(&mut self) -> ValueType {
        let was_a = self.use_a;
        let v = self.step();
        self.settle(was_a, v)
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if !self.started || self.last_t == i64::MIN {
            let v = self.next();
            if v == ValueType::None || self.at_t() >= t {
                return v;
            }
        } else if self.at_t() >= t {
            return if self.use_a { self.va } else { self.vb };
        }
        loop {
            let v = self.next();
            if v == ValueType::None || self.at_t() >= t {
                return v;
            }
        }
    }

    fn at(&self) -> (i64, f64) {
        let (t, v) = self.current().at();
        let adjust = if self.use_a {
            self.adjust_a
        } else {
            self.adjust_b
        };
        (t, v + adjust)
    }

    fn at_histogram(&self) -> (i64, &Histogram) {
        self.current().at_histogram()
    }

    fn at_float_histogram(&mut self) -> (i64, &FloatHistogram) {
        if self.use_a {
            self.a.at_float_histogram()
        } else {
            self.b.at_float_histogram()
        }
    }

    fn at_t(&self) -> i64 {
        self.current().at_t()
    }

    fn err(&self) -> Option<&StorageError> {
        self.a.err().or(self.b.err())
    }
}

impl PenaltyDedupIterator<'_> {
    /// Moves to the next sample of the merged series (see the module docs).
    fn step(&mut self) -> ValueType {
        if !self.started {
            self.started = true;
            self.va = self.a.next();
            self.vb = self.b.next();
        }
        // Move both replicas past the last emitted sample plus their penalty.
        let floor = |pen: i64| self_floor(self.last_t, pen);
        if self.va != ValueType::None {
            let t = floor(self.pen_a);
            if self.a.at_t() < t {
                self.va = self.a.seek(t);
            }
        }
        if self.vb != ValueType::None {
            let t = floor(self.pen_b);
            if self.b.at_t() < t {
                self.vb = self.b.seek(t);
            }
        }
        if self.va == ValueType::None {
            self.use_a = false;
            if self.vb != ValueType::None {
                self.last_t = self.b.at_t();
                self.pen_b = 0;
            }
            return self.vb;
        }
        if self.vb == ValueType::None {
            self.use_a = true;
            self.last_t = self.a.at_t();
            self.pen_a = 0;
            return self.va;
        }
        let (ta, tb) = (self.a.at_t(), self.b.at_t());
        self.use_a = ta <= tb;
        let (chosen, penalty_other) = if self.use_a {
            (ta, &mut self.pen_b)
        } else {
            (tb, &mut self.pen_a)
        };
        *penalty_other = if self.last_t == i64::MIN {
            INITIAL_PENALTY_MS
        } else {
            2 * (chosen - self.last_t)
        };
        if self.use_a {
            self.pen_a = 0;
        } else {
            self.pen_b = 0;
        }
        self.last_t = chosen;
        if self.use_a {
            self.va
        } else {
            self.vb
        }
    }
}

/// The first timestamp a replica may contribute after `last_t` with penalty `pen`.
fn self_floor(last_t: i64, pen: i64) -> i64 {
    last_t.saturating_add(1).saturating_add(pen)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A float series from `(t, v)` pairs.
    struct Vec2 {
        pts: Vec<(i64, f64)>,
        i: Option<usize>,
        h: Histogram,
        fh: FloatHistogram,
    }

    impl Vec2 {
        fn boxed(pts: Vec<(i64, f64)>) -> Box<dyn SampleIterator> {
            Box::new(Vec2 {
                pts,
                i: None,
                h: Histogram::default(),
                fh: FloatHistogram::default(),
            })
        }
    }

    impl SampleIterator for Vec2 {
        fn next(&mut self) -> ValueType {
            let i = self.i.map_or(0, |i| i + 1);
            self.i = Some(i);
            if i < self.pts.len() {
                ValueType::Float
            } else {
                ValueType::None
            }
        }
        fn seek(&mut self, t: i64) -> ValueType {
            loop {
                if let Some(i) = self.i {
                    if i >= self.pts.len() {
                        return ValueType::None;
                    }
                    if self.pts[i].0 >= t {
                        return ValueType::Float;
                    }
                }
                if self.next() == ValueType::None {
                    return ValueType::None;
                }
            }
        }
        fn at(&self) -> (i64, f64) {
            self.pts[self.i.unwrap_or(0).min(self.pts.len().saturating_sub(1))]
        }
        fn at_histogram(&self) -> (i64, &Histogram) {
            (self.at_t(), &self.h)
        }
        fn at_float_histogram(&mut self) -> (i64, &FloatHistogram) {
            (self.at_t(), &self.fh)
        }
        fn at_t(&self) -> i64 {
            self.at().0
        }
        fn err(&self) -> Option<&StorageError> {
            None
        }
    }

    fn drain(mut it: impl SampleIterator) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        while it.next() != ValueType::None {
            out.push(it.at());
        }
        out
    }

    #[test]
    fn fills_each_replicas_gaps_from_the_other_without_doubling() {
        // Scrapes every 10 s; replica b's scrapes are 2 s later; a misses 40-80 s, b 120-160 s.
        let a: Vec<_> = (0..20)
            .map(|i| i * 10_000)
            .filter(|t| !(40_000..=80_000).contains(t))
            .map(|t| (t, 1.0))
            .collect();
        let b: Vec<_> = (0..20)
            .map(|i| i * 10_000 + 2_000)
            .filter(|t| !(120_000..=160_000).contains(t))
            .map(|t| (t, 2.0))
            .collect();
        let got = drain(PenaltyDedupIterator::new(Vec2::boxed(a), Vec2::boxed(b)));
        // A replica not followed is consulted again only after its penalty (twice the last
        // interval), so a switch can leave a hole of up to three intervals (well inside
        // PromQL's lookback), never the 50 s of either replica's own outage.
        for w in got.windows(2) {
            assert!(w[1].0 - w[0].0 <= 30_000, "gap {:?}", w);
        }
        // One sample per scrape, not two.
        assert!(got.len() <= 21, "{} samples", got.len());
        // A is followed until its gap, B fills it, and B is kept afterwards (switching back
        // only across B's own gap).
        assert_eq!(got[0], (0, 1.0));
        assert!(got
            .iter()
            .any(|&(t, v)| (40_000..=80_000).contains(&t) && v == 2.0));
        assert!(got
            .iter()
            .any(|&(t, v)| (120_000..=160_000).contains(&t) && v == 1.0));
    }

    #[test]
    fn one_empty_replica_yields_the_other() {
        let b = vec![(1, 1.0), (2, 2.0)];
        assert_eq!(
            drain(PenaltyDedupIterator::new(
                Vec2::boxed(vec![]),
                Vec2::boxed(b.clone())
            )),
            b
        );
        assert_eq!(
            drain(PenaltyDedupIterator::new(
                Vec2::boxed(b.clone()),
                Vec2::boxed(vec![])
            )),
            b
        );
    }

    #[test]
    fn counters_are_adjusted_at_a_replica_switch() {
        // Replica b's counter lags a's by 25; a stops after 30 s, b goes on (after the
        // penalty, from 60 s).
        let a: Vec<(i64, f64)> = (0..3)
            .map(|i| (i * 15_000, 10.0 + i as f64 * 10.0))
            .collect();
        let b: Vec<(i64, f64)> = (0..6)
            .map(|i| (i * 15_000 + 1, -15.0 + i as f64 * 10.0))
            .collect();
        let read = |counter: bool| {
            let mut it = PenaltyDedupIterator::new(Vec2::boxed(a.clone()), Vec2::boxed(b.clone()))
                .for_counters(counter);
            let mut out = Vec::new();
            while it.next() == ValueType::Float {
                out.push(it.at().1);
            }
            out
        };
        // Without adjustment the switch reads as a counter reset (30 -> 25).
        assert_eq!(read(false), [10.0, 20.0, 30.0, 25.0, 35.0]);
        // With it, b continues from 30.
        let adjusted = read(true);
        assert_eq!(adjusted, [10.0, 20.0, 30.0, 30.0, 40.0]);
        assert!(adjusted.windows(2).all(|w| w[1] >= w[0]));
    }
}
