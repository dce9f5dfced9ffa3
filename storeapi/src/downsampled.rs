//! Reading downsampled series as Thanos' querier does.
//!
//! A downsampled store answers with per-window aggregates (count, sum, min, max, counter)
//! instead of raw samples. Which aggregates a query wants follows from the function around
//! the selector ([`aggrs_from_func`]); [`series_samples`] then turns a series' chunks into
//! the samples PromQL sees: the chosen aggregate's values, `sum / count` for an average, or
//! the counter aggregate with its resets applied again ([`CounterResets`]) so that `rate`
//! and `increase` see a monotonic counter.

use chunkenc::{Encoding, XorAppender};
use tsdb_core::head::series::ClosedChunk;

use crate::grpc::convert::chunk_encoding;
use crate::grpc::proto::{Aggr, AggrChunk, Chunk};

/// The aggregates a selection needs, from the function applied to it (Thanos'
/// `aggrsFromFunc`): `min`/`min_*` → min, `max`/`max_*` → max, `count`/`count_*` → count,
/// `sum_*` → sum, `rate`/`increase`/`irate`/`resets`/`xrate`/`xincrease` → counter, anything
/// else (plain `sum` included) → count and sum, for an average.
pub fn aggrs_from_func(func: Option<&str>) -> Vec<Aggr> {
    let f = func.unwrap_or("");
    if f == "min" || f.starts_with("min_") {
        return vec![Aggr::Min];
    }
    if f == "max" || f.starts_with("max_") {
        return vec![Aggr::Max];
    }
    if f == "count" || f.starts_with("count_") {
        return vec![Aggr::Count];
    }
    if f.starts_with("sum_") {
        return vec![Aggr::Sum];
    }
    if matches!(
        f,
        "increase" | "rate" | "irate" | "resets" | "xincrease" | "xrate"
    ) {
        return vec![Aggr::Counter];
    }
    vec![Aggr::Count, Aggr::Sum]
}

/// Re-applies counter resets to a stream of counter samples (Thanos'
/// `ApplyCounterResetsSeriesIterator`): the output starts at the first value and grows by
/// every increase; a drop counts as a reset, adding the new value. NaN samples are skipped;
/// a sample at the timestamp of the previous one only replaces the value the next increase
/// is measured from (that is how the last raw value of a downsampled chunk is carried).
#[derive(Debug, Clone, Default)]
pub struct CounterResets {
    seen: bool,
    last_t: i64,
    last_v: f64,
    total: f64,
}

impl CounterResets {
    /// A fresh state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one sample; returns the adjusted sample when it is emitted.
    pub fn push(&mut self, t: i64, v: f64) -> Option<(i64, f64)> {
        if v.is_nan() {
            return None;
        }
        if !self.seen {
            self.seen = true;
            (self.last_t, self.last_v, self.total) = (t, v, v);
            return Some((t, v));
        }
        if t > self.last_t {
            if v >= self.last_v {
                self.total += v - self.last_v;
            } else {
                self.total += v;
            }
            (self.last_t, self.last_v) = (t, v);
            return Some((t, self.total));
        }
        if t == self.last_t {
            self.last_v = v;
        }
        None
    }

    /// The last raw value fed (after NaNs were skipped), if any.
    pub fn last_raw(&self) -> Option<f64> {
        self.seen.then_some(self.last_v)
    }
}

/// Why a downsampled series could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownsampledError {
    /// A chunk holds neither the aggregate asked for nor raw data.
    #[error("chunk [{min_time}, {max_time}] has neither the {aggr} aggregate nor raw data")]
    Missing {
        /// The aggregate.
        aggr: &'static str,
        /// The chunk's range.
        min_time: i64,
        /// The chunk's range.
        max_time: i64,
    },
    /// A chunk failed to decode or is not a float chunk.
    #[error("chunk [{min_time}, {max_time}]: {message}")]
    Chunk {
        /// The chunk's range.
        min_time: i64,
        /// The chunk's range.
        max_time: i64,
        /// What was wrong.
        message: String,
    },
    /// The sum and count aggregates of a chunk do not pair up.
    #[error("chunk [{min_time}, {max_time}]: sum and count aggregates are not aligned")]
    Unaligned {
        /// The chunk's range.
        min_time: i64,
        /// The chunk's range.
        max_time: i64,
    },
}

fn aggr_field(c: &AggrChunk, aggr: Aggr) -> Option<&Chunk> {
    match aggr {
        Aggr::Raw => c.raw.as_ref(),
        Aggr::Count => c.count.as_ref(),
        Aggr::Sum => c.sum.as_ref(),
        Aggr::Min => c.min.as_ref(),
        Aggr::Max => c.max.as_ref(),
        Aggr::Counter => c.counter.as_ref(),
    }
}

/// The chunk of aggregate `a`, else the raw chunk.
fn pick(c: &AggrChunk, a: Aggr) -> Result<&Chunk, DownsampledError> {
    aggr_field(c, a)
        .or(c.raw.as_ref())
        .ok_or(DownsampledError::Missing {
            aggr: a.as_str_name(),
            min_time: c.min_time,
            max_time: c.max_time,
        })
}

/// Appends the float samples of a wire chunk to `out`.
fn decode_floats(
    owner: &AggrChunk,
    c: &Chunk,
    out: &mut Vec<(i64, f64)>,
) -> Result<(), DownsampledError> {
    let fail = |message: String| DownsampledError::Chunk {
        min_time: owner.min_time,
        max_time: owner.max_time,
        message,
    };
    let encoding = chunk_encoding(c).ok_or_else(|| fail(format!("encoding {}", c.r#type)))?;
    if encoding != Encoding::Xor {
        return Err(fail(format!(
            "{} chunks are not supported in downsampled series (native histograms are not \
             downsampled)",
            encoding.name()
        )));
    }
    let mut it = chunkenc::iter(encoding, &c.data).map_err(|e| fail(e.to_string()))?;
    while it.next().map_err(|e| fail(e.to_string()))?.is_some() {
        out.push(it.at());
    }
    Ok(())
}

/// The samples a query sees of a series whose chunks (sorted by time, not overlapping) may
/// hold aggregates, for the aggregates `aggrs` asked for (see [`aggrs_from_func`]): per chunk
/// the aggregate if present, else the raw samples; for count and sum together, `sum / count`
/// per window (raw samples where a chunk is raw); for the counter, resets re-applied across
/// the whole series.
pub fn series_samples(
    chunks: &[AggrChunk],
    aggrs: &[Aggr],
) -> Result<Vec<(i64, f64)>, DownsampledError> {
    let mut out = Vec::new();
    let single = match aggrs {
        [a] => Some(*a),
        [] => Some(Aggr::Raw),
        _ => None,
    };
    match single {
        Some(Aggr::Counter) => {
            let mut buf = Vec::new();
            let mut resets = CounterResets::new();
            for c in chunks {
                buf.clear();
                decode_floats(c, pick(c, Aggr::Counter)?, &mut buf)?;
                out.extend(buf.iter().filter_map(|&(t, v)| resets.push(t, v)));
            }
        }
        Some(a) => {
            for c in chunks {
                decode_floats(c, pick(c, a)?, &mut out)?;
            }
        }
        None => {
            let (mut sums, mut counts) = (Vec::new(), Vec::new());
            for c in chunks {
                if let Some(raw) = &c.raw {
                    decode_floats(c, raw, &mut out)?;
                    continue;
                }
                sums.clear();
                counts.clear();
                decode_floats(c, pick(c, Aggr::Sum)?, &mut sums)?;
                decode_floats(c, pick(c, Aggr::Count)?, &mut counts)?;
                if sums.len() != counts.len() {
                    return Err(DownsampledError::Unaligned {
                        min_time: c.min_time,
                        max_time: c.max_time,
                    });
                }
                for (&(ts, s), &(tc, n)) in sums.iter().zip(&counts) {
                    if ts != tc {
                        return Err(DownsampledError::Unaligned {
                            min_time: c.min_time,
                            max_time: c.max_time,
                        });
                    }
                    out.push((ts, s / n));
                }
            }
        }
    }
    Ok(out)
}

/// Float samples as XOR chunks of at most `per_chunk` samples (for the sample iterators that
/// read chunks).
pub fn float_chunks(samples: &[(i64, f64)], per_chunk: usize) -> Vec<ClosedChunk> {
    samples
        .chunks(per_chunk.clamp(1, u16::MAX as usize))
        .map(|part| {
            let mut app = XorAppender::new();
            for &(t, v) in part {
                // At most u16::MAX samples per chunk, the appender's only failure.
                let _ = app.append(t, v);
            }
            ClosedChunk {
                encoding: Encoding::Xor,
                bytes: app.into_chunk().into_bytes().into(),
                min_t: part[0].0,
                max_t: part[part.len() - 1].0,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xor(samples: &[(i64, f64)]) -> Chunk {
        let mut app = XorAppender::new();
        for &(t, v) in samples {
            app.append(t, v).unwrap();
        }
        Chunk {
            r#type: crate::grpc::proto::chunk::Encoding::Xor as i32,
            data: app.into_chunk().into_bytes(),
            hash: 0,
        }
    }

    #[test]
    fn aggregates_follow_the_function() {
        assert_eq!(aggrs_from_func(Some("max_over_time")), vec![Aggr::Max]);
        assert_eq!(aggrs_from_func(Some("min")), vec![Aggr::Min]);
        assert_eq!(aggrs_from_func(Some("count_over_time")), vec![Aggr::Count]);
        assert_eq!(aggrs_from_func(Some("sum_over_time")), vec![Aggr::Sum]);
        assert_eq!(aggrs_from_func(Some("rate")), vec![Aggr::Counter]);
        assert_eq!(aggrs_from_func(Some("xincrease")), vec![Aggr::Counter]);
        assert_eq!(aggrs_from_func(Some("sum")), vec![Aggr::Count, Aggr::Sum]);
        assert_eq!(aggrs_from_func(None), vec![Aggr::Count, Aggr::Sum]);
    }

    /// Thanos' TestDownsampleCounterBoundaryReset: the counter samples of four raw-to-50ms
    /// chunks, iterated with resets applied.
    #[test]
    fn counter_resets_across_chunk_boundaries() {
        let chunks: Vec<AggrChunk> = [
            [(10, 1.0), (30, 5.0), (30, 5.0)],
            [(50, 1.0), (70, 10.0), (70, 10.0)],
            [(120, 1.0), (140, 20.0), (140, 20.0)],
            [(160, 21.0), (180, 40.0), (180, 40.0)],
        ]
        .iter()
        .map(|s| AggrChunk {
            min_time: s[0].0,
            max_time: s[2].0,
            counter: Some(xor(s)),
            ..Default::default()
        })
        .collect();
        let got = series_samples(&chunks, &[Aggr::Counter]).unwrap();
        assert_eq!(
            got,
            vec![
                (10, 1.0),
                (30, 5.0),
                (50, 6.0),
                (70, 15.0),
                (120, 16.0),
                (140, 35.0),
                (160, 36.0),
                (180, 55.0)
            ]
        );
    }

    /// Thanos' TestAverageChunkIterator, and raw chunks taking precedence.
    #[test]
    fn average_of_sum_and_count_and_raw_fallback() {
        let agg = AggrChunk {
            min_time: 1,
            max_time: 3,
            sum: Some(xor(&[(1, 10.0), (2, 40.0), (3, 30.0)])),
            count: Some(xor(&[(1, 2.0), (2, 10.0), (3, 2.0)])),
            ..Default::default()
        };
        let raw = AggrChunk {
            min_time: 4,
            max_time: 5,
            raw: Some(xor(&[(4, 7.0), (5, 8.0)])),
            ..Default::default()
        };
        let got = series_samples(&[agg.clone(), raw], &[Aggr::Count, Aggr::Sum]).unwrap();
        assert_eq!(got, vec![(1, 5.0), (2, 4.0), (3, 15.0), (4, 7.0), (5, 8.0)]);
        let bad = AggrChunk {
            count: Some(xor(&[(1, 2.0), (3, 10.0), (4, 2.0)])),
            ..agg
        };
        assert!(matches!(
            series_samples(std::slice::from_ref(&bad), &[Aggr::Count, Aggr::Sum]),
            Err(DownsampledError::Unaligned { .. })
        ));
        assert!(matches!(
            series_samples(&[bad], &[Aggr::Max]),
            Err(DownsampledError::Missing { aggr: "MAX", .. })
        ));
    }

    #[test]
    fn float_chunks_round_trip() {
        let s: Vec<(i64, f64)> = (0..250).map(|i| (i * 10, i as f64)).collect();
        let chunks = float_chunks(&s, 120);
        assert_eq!(chunks.len(), 3);
        assert_eq!((chunks[2].min_t, chunks[2].max_t), (2400, 2490));
    }
}
