//! Building chunks from a stream of samples of any kind: floats go into XOR chunks, integer and
//! float histograms into their chunk types; a chunk is closed when the kind changes, when it
//! holds the target number of samples, or when a histogram cannot join it (counter reset,
//! schema change). Used to re-encode samples (compaction of head ranges, StoreAPI responses).

use crate::histogram::AppendOutcome;
use crate::{
    ChunkError, Encoding, FloatHistogram, FloatHistogramAppender, Histogram, HistogramAppender,
    XorAppender,
};

/// A finished chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltChunk {
    /// Its encoding.
    pub encoding: Encoding,
    /// Its bytes (header included).
    pub bytes: Vec<u8>,
    /// First sample's timestamp.
    pub min_t: i64,
    /// Last sample's timestamp.
    pub max_t: i64,
    /// Number of samples.
    pub num_samples: usize,
}

enum Open {
    Xor(XorAppender),
    Histogram(HistogramAppender),
    FloatHistogram(FloatHistogramAppender),
}

impl Open {
    fn num_samples(&self) -> usize {
        match self {
            Open::Xor(a) => a.num_samples(),
            Open::Histogram(a) => a.num_samples(),
            Open::FloatHistogram(a) => a.num_samples(),
        }
    }
}

/// Accumulates samples (in time order) into chunks.
///
/// ```
/// use chunkenc::builder::ChunkBuilder;
/// let mut b = ChunkBuilder::new(120);
/// for i in 0..300 {
///     b.push_float(i * 15_000, i as f64).unwrap();
/// }
/// let chunks = b.finish();
/// assert_eq!(chunks.iter().map(|c| c.num_samples).collect::<Vec<_>>(), [120, 120, 60]);
/// ```
pub struct ChunkBuilder {
    max_samples: usize,
    open: Option<Open>,
    min_t: i64,
    max_t: i64,
    done: Vec<BuiltChunk>,
}

impl ChunkBuilder {
    /// A builder closing chunks at `max_samples` samples (Prometheus uses 120).
    pub fn new(max_samples: usize) -> Self {
        ChunkBuilder {
            max_samples: max_samples.max(1),
            open: None,
            min_t: 0,
            max_t: 0,
            done: Vec::new(),
        }
    }

    fn close(&mut self) {
        let Some(open) = self.open.take() else { return };
        let n = open.num_samples();
        let (encoding, bytes) = match open {
            Open::Xor(a) => (Encoding::Xor, a.into_chunk().into_bytes()),
            Open::Histogram(a) => (Encoding::Histogram, a.into_bytes()),
            Open::FloatHistogram(a) => (Encoding::FloatHistogram, a.into_bytes()),
        };
        if n > 0 {
            self.done.push(BuiltChunk {
                encoding,
                bytes,
                min_t: self.min_t,
                max_t: self.max_t,
                num_samples: n,
            });
        }
    }

    /// Closes the open chunk unless it is of the kind `same` accepts and has room.
    fn ready(&mut self, t: i64, same: fn(&Open) -> bool, fresh: fn() -> Open) {
        let fits = self
            .open
            .as_ref()
            .is_some_and(|o| same(o) && o.num_samples() < self.max_samples);
        if !fits {
            self.close();
            self.open = Some(fresh());
            self.min_t = t;
        }
        self.max_t = t;
    }

    /// Appends a float sample.
    pub fn push_float(&mut self, t: i64, v: f64) -> Result<(), ChunkError> {
        self.ready(
            t,
            |o| matches!(o, Open::Xor(_)),
            || Open::Xor(XorAppender::new()),
        );
        match &mut self.open {
            Some(Open::Xor(a)) => a.append(t, v),
            _ => Ok(()),
        }
    }

    /// Appends an integer histogram sample.
    pub fn push_histogram(&mut self, t: i64, h: &Histogram) -> Result<(), ChunkError> {
        self.ready(
            t,
            |o| matches!(o, Open::Histogram(_)),
            || Open::Histogram(HistogramAppender::new()),
        );
        let next = match &mut self.open {
            Some(Open::Histogram(a)) => match a.append_histogram(None, t, h, false)? {
                AppendOutcome::NewChunk(next) => Some(Open::Histogram(*next)),
                _ => None,
            },
            _ => None,
        };
        self.start_next(t, next);
        Ok(())
    }

    /// Appends a float histogram sample.
    pub fn push_float_histogram(&mut self, t: i64, h: &FloatHistogram) -> Result<(), ChunkError> {
        self.ready(
            t,
            |o| matches!(o, Open::FloatHistogram(_)),
            || Open::FloatHistogram(FloatHistogramAppender::new()),
        );
        let next = match &mut self.open {
            Some(Open::FloatHistogram(a)) => match a.append_float_histogram(None, t, h, false)? {
                AppendOutcome::NewChunk(next) => Some(Open::FloatHistogram(*next)),
                _ => None,
            },
            _ => None,
        };
        self.start_next(t, next);
        Ok(())
    }

    /// The appender cut a new chunk (already holding the sample at `t`).
    fn start_next(&mut self, t: i64, next: Option<Open>) {
        if let Some(next) = next {
            // The previous chunk ended at the sample before this one.
            let prev_max = self.done_max_before(t);
            self.max_t = prev_max;
            self.close();
            self.open = Some(next);
            self.min_t = t;
            self.max_t = t;
        }
    }

    /// The newest timestamp of the open chunk before `t` was offered to it.
    fn done_max_before(&self, t: i64) -> i64 {
        match &self.open {
            Some(Open::Histogram(a)) => a.last_timestamp(),
            Some(Open::FloatHistogram(a)) => a.last_timestamp(),
            _ => t,
        }
    }

    /// Moves the finished chunks out, leaving the open one open.
    pub fn take_finished(&mut self) -> Vec<BuiltChunk> {
        std::mem::take(&mut self.done)
    }

    /// Closes the open chunk and returns every chunk built.
    pub fn finish(mut self) -> Vec<BuiltChunk> {
        self.close();
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Span;

    fn hist(count: u64) -> Histogram {
        Histogram {
            count,
            sum: count as f64,
            positive_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            positive_buckets: vec![count as i64],
            ..Default::default()
        }
    }

    #[test]
    fn kinds_and_counter_resets_close_chunks() {
        let mut b = ChunkBuilder::new(120);
        b.push_float(1, 1.0).unwrap();
        b.push_float(2, 2.0).unwrap();
        b.push_histogram(3, &hist(5)).unwrap();
        b.push_histogram(4, &hist(7)).unwrap();
        b.push_histogram(5, &hist(1)).unwrap(); // counter reset
        b.push_float(6, 3.0).unwrap();
        let c = b.finish();
        let shape: Vec<_> = c
            .iter()
            .map(|c| (c.encoding, c.min_t, c.max_t, c.num_samples))
            .collect();
        assert_eq!(
            shape,
            [
                (Encoding::Xor, 1, 2, 2),
                (Encoding::Histogram, 3, 4, 2),
                (Encoding::Histogram, 5, 5, 1),
                (Encoding::Xor, 6, 6, 1),
            ]
        );
    }
}
