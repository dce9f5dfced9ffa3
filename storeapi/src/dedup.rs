//! Deduplication of HA replicas with Thanos' penalty algorithm: two replicas of a series are
//! merged by always taking the earliest next sample, and after taking one replica's sample the
//! other replica is only consulted again after a penalty of twice the last gap (5 s at the
//! start). So the merged series follows one replica while it has data and switches to the
//! other only across a gap, without doubling the sample rate.

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
        }
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
        self.current().at()
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
}
