//! Per-request limits of the bucket store, as Thanos' `--store.limits.request-series` and
//! `--store.limits.request-samples`: a request that would return more series, or more chunks
//! (samples are counted as whole chunks of at most 120), fails with the error Thanos gives.

use std::sync::atomic::{AtomicU64, Ordering};

/// Samples a chunk counts for against the samples limit (Thanos' `MaxSamplesPerChunk`).
pub const MAX_SAMPLES_PER_CHUNK: u64 = 120;

/// The limits of one request; 0 means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestLimits {
    /// Series one request may return.
    pub max_series: u64,
    /// Chunks one request may return.
    pub max_chunks: u64,
}

impl RequestLimits {
    /// Limits from Thanos' flags: series, and samples (turned into chunks of 120 samples,
    /// rounded down; a positive samples limit below 120 still allows nothing past 0 chunks).
    pub fn from_series_and_samples(series: u64, samples: u64) -> Self {
        RequestLimits {
            max_series: series,
            max_chunks: if samples == 0 {
                0
            } else {
                (samples / MAX_SAMPLES_PER_CHUNK).max(1)
            },
        }
    }
}

/// A limit that a request went past.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Too many series.
    #[error("exceeded series limit: limit {limit} violated (got {got})")]
    Series {
        /// The limit.
        limit: u64,
        /// What the request reached.
        got: u64,
    },
    /// Too many chunks.
    #[error("exceeded chunks limit: limit {limit} violated (got {got})")]
    Chunks {
        /// The limit.
        limit: u64,
        /// What the request reached.
        got: u64,
    },
}

/// Counts what one request returns against its [`RequestLimits`].
#[derive(Debug, Default)]
pub struct Limiter {
    limits: RequestLimits,
    series: AtomicU64,
    chunks: AtomicU64,
}

impl Limiter {
    /// A limiter with nothing counted yet.
    pub fn new(limits: RequestLimits) -> Self {
        Limiter {
            limits,
            ..Default::default()
        }
    }

    fn reserve(counter: &AtomicU64, n: u64, limit: u64) -> Result<(), u64> {
        let got = counter.fetch_add(n, Ordering::Relaxed) + n;
        if limit > 0 && got > limit {
            Err(got)
        } else {
            Ok(())
        }
    }

    /// Counts one series with `chunks` chunks.
    pub fn reserve_series(&self, chunks: u64) -> Result<(), LimitError> {
        let l = self.limits;
        Self::reserve(&self.series, 1, l.max_series).map_err(|got| LimitError::Series {
            limit: l.max_series,
            got,
        })?;
        Self::reserve(&self.chunks, chunks, l.max_chunks).map_err(|got| LimitError::Chunks {
            limit: l.max_chunks,
            got,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_trip_past_their_value_with_thanos_messages() {
        let l = Limiter::new(RequestLimits {
            max_series: 2,
            max_chunks: 0,
        });
        l.reserve_series(5).unwrap();
        l.reserve_series(5).unwrap();
        let e = l.reserve_series(1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "exceeded series limit: limit 2 violated (got 3)"
        );

        let l = Limiter::new(RequestLimits::from_series_and_samples(0, 250));
        l.reserve_series(2).unwrap();
        let e = l.reserve_series(1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "exceeded chunks limit: limit 2 violated (got 3)"
        );
    }
}
