//! Downsampling float series: raw samples to per-window aggregates, and aggregates to
//! coarser aggregates, exactly as Thanos' `pkg/compact/downsample` does.
//!
//! - Windows: a sample at `t` belongs to the window ending at `t - t % r + r - 1` (Go's
//!   truncating `%`); the aggregate sample of a window is stamped with the window end, or
//!   with the last sample's timestamp of the batch when that comes first.
//! - Per window: count, sum, min, max; the counter aggregate is the counter since the start
//!   of the series with resets removed (a drop adds the new value, otherwise the increase),
//!   and each chunk's counter additionally starts with the chunk's first raw sample and ends
//!   with a copy of its last raw value at its last timestamp, so that a reader can detect a
//!   reset across chunk boundaries ([`storeapi::downsampled::CounterResets`]).
//! - Samples are cut into batches of about `len / n + 1` samples (extended to the end of
//!   the window of the batch's last sample), `n` chosen so that chunks hold about 140
//!   aggregate samples; NaN samples (stale markers included) are skipped.

use chunkenc::{ChunkError, Encoding, XorAppender};
use storeapi::downsampled::CounterResets;

use super::aggr_chunk::{AggrChunk, AggrChunkError, AggrPart, AggrType};

/// Staleness marker bits (a NaN Prometheus writes when a series disappears).
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Resolution assumed for raw data when sizing chunks (Thanos: one minute).
const RAW_RESOLUTION_GUESS: i64 = 60_000;

/// Why downsampling failed.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// An inner chunk could not be decoded or written.
    #[error("{what}: {source}")]
    Chunk {
        /// Which chunk.
        what: String,
        /// The failure.
        #[source]
        source: ChunkError,
    },
    /// An aggregate chunk could not be decoded.
    #[error(transparent)]
    Aggr(#[from] AggrChunkError),
}

/// One downsampled chunk: its time range, its aggregate chunk bytes (without the `0xFF`
/// encoding byte) and the number of windows it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct DownsampledChunk {
    /// Timestamp of the first aggregate sample (the counter's first raw sample for raw input).
    pub min_time: i64,
    /// Timestamp of the last aggregate sample.
    pub max_time: i64,
    /// The encoded aggregate chunk.
    pub data: Vec<u8>,
    /// Windows in the chunk (samples of the count aggregate).
    pub num_samples: u64,
}

impl DownsampledChunk {
    /// The samples of one aggregate, `None` when absent.
    pub fn samples(&self, aggr: AggrType) -> Result<Option<Vec<(i64, f64)>>, AggregateError> {
        let chunk = AggrChunk::decode(&self.data)?;
        match chunk.get(aggr) {
            None => Ok(None),
            Some(p) => {
                let mut out = Vec::new();
                expand(p, false, &mut out)?;
                Ok(Some(out))
            }
        }
    }
}

/// The window end a sample at `t` falls into, for resolution `r` (Thanos' `currentWindow`).
pub fn window_end(t: i64, r: i64) -> i64 {
    t.wrapping_sub(t % r).saturating_add(r - 1)
}

/// How many chunks to cut so that each holds at most about 140 aggregate samples (Thanos'
/// `targetChunkCount`).
fn target_chunk_count(mint: i64, maxt: i64, in_res: i64, out_res: i64, count: usize) -> usize {
    let span = maxt.saturating_sub(mint);
    let max_samples = (span / out_res) as f64;
    let fullness = (count as f64 / (span as f64 / in_res as f64)).min(1.0);
    let expected = (max_samples * fullness) as usize + 1;
    let mut x = 1;
    while expected / x > 140 {
        x += 1;
    }
    x
}

/// The running aggregates of one window, and the counter since the series (or batch) start.
#[derive(Debug, Clone, Default)]
struct FloatAggregator {
    total: u64,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    counter: f64,
    last: f64,
}

impl FloatAggregator {
    fn reset(&mut self) {
        self.count = 0;
        self.sum = 0.0;
        self.min = f64::MAX;
        self.max = -f64::MAX;
    }

    fn add(&mut self, v: f64) {
        if self.total > 0 {
            if v < self.last {
                self.counter += v;
            } else {
                self.counter += v - self.last;
            }
        } else {
            self.counter = v;
        }
        self.last = v;
        self.sum += v;
        self.count += 1;
        self.total += 1;
        if v < self.min {
            self.min = v;
        }
        if v > self.max {
            self.max = v;
        }
    }
}

/// Aggregates `data` window by window, calling `emit` with each window's timestamp; returns
/// the last timestamp emitted (Thanos' `downsampleBatch`). `data` must not be empty.
fn downsample_batch(
    data: &[(i64, f64)],
    resolution: i64,
    mut emit: impl FnMut(i64, &FloatAggregator) -> Result<(), AggregateError>,
) -> Result<i64, AggregateError> {
    let last_t = data.last().map_or(i64::MIN, |s| s.0);
    let mut next_t = -1i64;
    let mut aggr = FloatAggregator::default();
    for &(t, v) in data {
        if t > next_t {
            if next_t != -1 {
                emit(next_t, &aggr)?;
            }
            aggr.reset();
            next_t = window_end(t, resolution).min(last_t);
        }
        aggr.add(v);
    }
    if aggr.total > 0 {
        emit(next_t, &aggr)?;
    }
    Ok(next_t)
}

/// Five optional XOR appenders and the time range of what they hold.
struct Builder {
    apps: [Option<XorAppender>; 5],
    mint: i64,
    maxt: i64,
}

impl Builder {
    fn new(with: &[AggrType]) -> Self {
        let mut apps: [Option<XorAppender>; 5] = Default::default();
        for a in with {
            apps[*a as usize] = Some(XorAppender::new());
        }
        Builder {
            apps,
            mint: i64::MAX,
            maxt: i64::MIN,
        }
    }

    fn append(&mut self, aggr: AggrType, t: i64, v: f64) -> Result<(), AggregateError> {
        let app = self.apps[aggr as usize].get_or_insert_with(XorAppender::new);
        app.append(t, v).map_err(|source| AggregateError::Chunk {
            what: format!("{aggr} aggregate"),
            source,
        })
    }

    fn note_time(&mut self, t: i64) {
        self.mint = self.mint.min(t);
        self.maxt = self.maxt.max(t);
    }

    fn finish(self) -> DownsampledChunk {
        let datas: Vec<Option<Vec<u8>>> = self
            .apps
            .into_iter()
            .map(|a| a.map(|a| a.into_chunk().into_bytes()))
            .collect();
        let mut parts: [Option<AggrPart<'_>>; 5] = [None; 5];
        for (p, d) in parts.iter_mut().zip(&datas) {
            *p = d.as_deref().map(|data| AggrPart {
                encoding: Encoding::Xor,
                data,
            });
        }
        let chunk = AggrChunk::from_parts(parts);
        DownsampledChunk {
            min_time: self.mint,
            max_time: self.maxt,
            num_samples: chunk.num_samples() as u64,
            data: chunk.encode(),
        }
    }
}

/// One batch of raw samples (no NaN) as one aggregate chunk (Thanos' `downsampleFloatBatch`).
fn downsample_float_batch(
    batch: &[(i64, f64)],
    resolution: i64,
) -> Result<DownsampledChunk, AggregateError> {
    let mut b = Builder::new(&AggrType::ALL);
    let (first, last) = (batch[0], batch[batch.len() - 1]);
    b.append(AggrType::Counter, first.0, first.1)?;
    let last_t = downsample_batch(batch, resolution, |t, a| {
        b.note_time(t);
        b.append(AggrType::Sum, t, a.sum)?;
        b.append(AggrType::Min, t, a.min)?;
        b.append(AggrType::Max, t, a.max)?;
        b.append(AggrType::Count, t, a.count as f64)?;
        b.append(AggrType::Counter, t, a.counter)
    })?;
    b.append(AggrType::Counter, last_t, last.1)?;
    // Thanos records the window range only; the counter's first raw sample may be older.
    Ok(b.finish())
}

/// Downsamples the raw float samples of one series (time-ordered) to `resolution` (Thanos'
/// `DownsampleRaw` for float data).
pub fn downsample_raw(
    data: &[(i64, f64)],
    resolution: i64,
) -> Result<Vec<DownsampledChunk>, AggregateError> {
    let (Some(first), Some(last)) = (data.first(), data.last()) else {
        return Ok(Vec::new());
    };
    let n = target_chunk_count(
        first.0,
        last.0,
        RAW_RESOLUTION_GUESS,
        resolution,
        data.len(),
    );
    downsample_raw_in(data, resolution, n)
}

/// [`downsample_raw`] with the number of chunks given (Thanos' `downsampleRawLoop`).
pub fn downsample_raw_in(
    mut data: &[(i64, f64)],
    resolution: i64,
    num_chunks: usize,
) -> Result<Vec<DownsampledChunk>, AggregateError> {
    let batch_size = data.len() / num_chunks.max(1) + 1;
    let mut out = Vec::new();
    let mut batch = Vec::new();
    while !data.is_empty() {
        let mut j = batch_size.min(data.len());
        let window = window_end(data[j - 1].0, resolution);
        while j < data.len() && data[j].0 <= window {
            j += 1;
        }
        batch.clear();
        batch.extend(data[..j].iter().filter(|s| !s.1.is_nan()));
        data = &data[j..];
        if !batch.is_empty() {
            out.push(downsample_float_batch(&batch, resolution)?);
        }
    }
    Ok(out)
}

/// Appends the samples of an inner chunk, as Thanos expands chunks: staleness markers
/// dropped (when `drop_stale`), and samples older than the previous one (or than 0) skipped.
fn expand(
    part: AggrPart<'_>,
    drop_stale: bool,
    out: &mut Vec<(i64, f64)>,
) -> Result<(), AggregateError> {
    let err = |source| AggregateError::Chunk {
        what: format!("{} chunk", part.encoding.name()),
        source,
    };
    let mut it = chunkenc::iter(part.encoding, part.data).map_err(err)?;
    let mut last_t = 0i64;
    while it.next().map_err(err)?.is_some() {
        let (t, v) = it.at();
        if drop_stale && v.to_bits() == STALE_NAN_BITS {
            continue;
        }
        if t >= last_t {
            out.push((t, v));
            last_t = t;
        }
    }
    Ok(())
}

/// Appends the float samples of a raw chunk as Thanos expands them for downsampling
/// (staleness markers and out-of-order samples dropped).
pub fn expand_raw(
    encoding: Encoding,
    data: &[u8],
    out: &mut Vec<(i64, f64)>,
) -> Result<(), AggregateError> {
    expand(AggrPart { encoding, data }, true, out)
}

/// Re-aggregates one aggregate of a batch of aggregate chunks into `b` (Thanos'
/// `genericAggregate`); returns whether any sample was there.
fn reaggregate(
    aggr: AggrType,
    chunks: &[AggrChunk<'_>],
    resolution: i64,
    buf: &mut Vec<(i64, f64)>,
    b: &mut Builder,
    pick: fn(&FloatAggregator) -> f64,
) -> Result<(), AggregateError> {
    buf.clear();
    for c in chunks {
        if let Some(p) = c.get(aggr) {
            expand(p, true, buf)?;
        }
    }
    if buf.is_empty() {
        return Ok(());
    }
    b.apps[aggr as usize] = Some(XorAppender::new());
    downsample_batch(buf, resolution, |t, a| {
        b.note_time(t);
        b.append(aggr, t, pick(a))
    })?;
    Ok(())
}

/// A batch of float aggregate chunks as one coarser chunk (Thanos'
/// `downsampleFloatAggrBatch`): counts are summed, sums summed, min of mins, max of maxes;
/// the counter is read with its resets applied and aggregated again, keeping the batch's
/// first counter sample and its last raw value.
fn downsample_aggr_batch(
    chunks: &[AggrChunk<'_>],
    resolution: i64,
    buf: &mut Vec<(i64, f64)>,
) -> Result<DownsampledChunk, AggregateError> {
    let mut b = Builder::new(&[]);
    reaggregate(AggrType::Count, chunks, resolution, buf, &mut b, |a| a.sum)?;
    reaggregate(AggrType::Sum, chunks, resolution, buf, &mut b, |a| a.sum)?;
    reaggregate(AggrType::Min, chunks, resolution, buf, &mut b, |a| a.min)?;
    reaggregate(AggrType::Max, chunks, resolution, buf, &mut b, |a| a.max)?;

    let mut raw = Vec::new();
    for c in chunks {
        if let Some(p) = c.get(AggrType::Counter) {
            expand(p, false, &mut raw)?;
        }
    }
    let mut resets = CounterResets::new();
    buf.clear();
    let mut last_t = 0i64;
    for &(t, v) in &raw {
        if let Some((t, v)) = resets.push(t, v) {
            if v.to_bits() != STALE_NAN_BITS && t >= last_t {
                buf.push((t, v));
                last_t = t;
            }
        }
    }
    if let (Some(&first), Some(last_raw)) = (buf.first(), resets.last_raw()) {
        b.append(AggrType::Counter, first.0, first.1)?;
        let last_t = downsample_batch(buf, resolution, |t, a| {
            b.note_time(t);
            b.append(AggrType::Counter, t, a.counter)
        })?;
        b.append(AggrType::Counter, last_t, last_raw)?;
    }
    Ok(b.finish())
}

/// Downsamples the float aggregate chunks of one series (time-ordered, not overlapping,
/// covering `[mint, maxt]`) from `in_res` to `out_res` (Thanos' `downsampleAggr` and
/// `downsampleAggrLoop`; batches hold at least one chunk, where Thanos fails on an empty
/// batch).
pub fn downsample_aggr(
    chunks: &[AggrChunk<'_>],
    mint: i64,
    maxt: i64,
    in_res: i64,
    out_res: i64,
) -> Result<Vec<DownsampledChunk>, AggregateError> {
    let samples: usize = chunks.iter().map(|c| c.num_samples()).sum();
    let n = target_chunk_count(mint, maxt, in_res, out_res, samples);
    downsample_aggr_in(chunks, out_res, n)
}

/// [`downsample_aggr`] with the number of chunks given.
pub fn downsample_aggr_in(
    mut chunks: &[AggrChunk<'_>],
    out_res: i64,
    num_chunks: usize,
) -> Result<Vec<DownsampledChunk>, AggregateError> {
    let batch = (chunks.len() / num_chunks.max(1)).max(1);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while !chunks.is_empty() {
        let j = batch.min(chunks.len());
        let c = downsample_aggr_batch(&chunks[..j], out_res, &mut buf)?;
        chunks = &chunks[j..];
        if c.min_time <= c.max_time {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! Expectations from Thanos' `downsample_test.go` (TestDownsample,
    //! TestDownsampleCounterBoundaryReset), re-expressed.

    use super::*;

    const STALE: f64 = f64::from_bits(STALE_NAN_BITS);

    type Expected<'a> = [(AggrType, &'a [(i64, f64)]); 5];

    fn xor(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut app = XorAppender::new();
        for &(t, v) in samples {
            app.append(t, v).unwrap();
        }
        app.into_chunk().into_bytes()
    }

    /// Raw chunks expanded as the downsampler reads them.
    fn expand_chunks(chunks: &[&[(i64, f64)]]) -> Vec<(i64, f64)> {
        let mut all = Vec::new();
        for c in chunks {
            expand_raw(Encoding::Xor, &xor(c), &mut all).unwrap();
        }
        all
    }

    fn check(got: &DownsampledChunk, want: &[(AggrType, &[(i64, f64)])]) {
        for (aggr, samples) in want {
            assert_eq!(
                got.samples(*aggr).unwrap().unwrap_or_default(),
                samples.to_vec(),
                "{aggr}"
            );
        }
    }

    #[test]
    fn window_ends() {
        assert_eq!(window_end(20, 100), 99);
        assert_eq!(window_end(100, 100), 199);
        assert_eq!(window_end(300_000, 300_000), 599_999);
        // Go's truncating remainder for times before 1970.
        assert_eq!(window_end(-10, 100), 99);
    }

    #[test]
    fn single_raw_chunk() {
        let all = expand_chunks(&[&[
            (20, 1.0),
            (40, 2.0),
            (60, 3.0),
            (80, 1.0),
            (100, 2.0),
            (101, STALE),
            (120, 5.0),
            (180, 10.0),
            (250, 1.0),
        ]]);
        let out = downsample_raw(&all, 100).unwrap();
        assert_eq!(out.len(), 1);
        let want: Expected = [
            (AggrType::Count, &[(99, 4.0), (199, 3.0), (250, 1.0)]),
            (AggrType::Sum, &[(99, 7.0), (199, 17.0), (250, 1.0)]),
            (AggrType::Min, &[(99, 1.0), (199, 2.0), (250, 1.0)]),
            (AggrType::Max, &[(99, 3.0), (199, 10.0), (250, 1.0)]),
            (
                AggrType::Counter,
                &[(20, 1.0), (99, 4.0), (199, 13.0), (250, 14.0), (250, 1.0)],
            ),
        ];
        check(&out[0], &want);
        assert_eq!((out[0].min_time, out[0].max_time), (99, 250));
        assert_eq!(out[0].num_samples, 3);
    }

    #[test]
    fn three_raw_chunks() {
        let all = expand_chunks(&[
            &[
                (20, 1.0),
                (40, 2.0),
                (60, 3.0),
                (80, 1.0),
                (100, 2.0),
                (101, STALE),
                (120, 5.0),
                (180, 10.0),
                (250, 2.0),
            ],
            &[
                (260, 1.0),
                (300, 10.0),
                (340, 15.0),
                (380, 25.0),
                (420, 35.0),
            ],
            &[(460, STALE), (500, 10.0), (540, 3.0)],
        ]);
        let out = downsample_raw(&all, 100).unwrap();
        assert_eq!(out.len(), 1);
        let want: Expected = [
            (
                AggrType::Count,
                &[
                    (99, 4.0),
                    (199, 3.0),
                    (299, 2.0),
                    (399, 3.0),
                    (499, 1.0),
                    (540, 2.0),
                ],
            ),
            (
                AggrType::Sum,
                &[
                    (99, 7.0),
                    (199, 17.0),
                    (299, 3.0),
                    (399, 50.0),
                    (499, 35.0),
                    (540, 13.0),
                ],
            ),
            (
                AggrType::Min,
                &[
                    (99, 1.0),
                    (199, 2.0),
                    (299, 1.0),
                    (399, 10.0),
                    (499, 35.0),
                    (540, 3.0),
                ],
            ),
            (
                AggrType::Max,
                &[
                    (99, 3.0),
                    (199, 10.0),
                    (299, 2.0),
                    (399, 25.0),
                    (499, 35.0),
                    (540, 10.0),
                ],
            ),
            (
                AggrType::Counter,
                &[
                    (20, 1.0),
                    (99, 4.0),
                    (199, 13.0),
                    (299, 16.0),
                    (399, 40.0),
                    (499, 50.0),
                    (540, 63.0),
                    (540, 3.0),
                ],
            ),
        ];
        check(&out[0], &want);
    }

    #[test]
    fn nan_only_chunk_is_skipped() {
        let nan = f64::NAN;
        let all = expand_chunks(&[
            &[
                (20, nan),
                (40, nan),
                (60, nan),
                (80, nan),
                (100, nan),
                (101, STALE),
                (120, nan),
                (180, nan),
                (250, nan),
            ],
            &[
                (260, 1.0),
                (300, 10.0),
                (340, 15.0),
                (380, 25.0),
                (420, 35.0),
            ],
            &[(460, STALE), (500, 10.0), (540, 3.0)],
        ]);
        let out = downsample_raw(&all, 100).unwrap();
        assert_eq!(out.len(), 1);
        let want: Expected = [
            (
                AggrType::Count,
                &[(299, 1.0), (399, 3.0), (499, 1.0), (540, 2.0)],
            ),
            (
                AggrType::Sum,
                &[(299, 1.0), (399, 50.0), (499, 35.0), (540, 13.0)],
            ),
            (
                AggrType::Min,
                &[(299, 1.0), (399, 10.0), (499, 35.0), (540, 3.0)],
            ),
            (
                AggrType::Max,
                &[(299, 1.0), (399, 25.0), (499, 35.0), (540, 10.0)],
            ),
            (
                AggrType::Counter,
                &[
                    (260, 1.0),
                    (299, 1.0),
                    (399, 25.0),
                    (499, 35.0),
                    (540, 48.0),
                    (540, 3.0),
                ],
            ),
        ];
        check(&out[0], &want);
    }

    /// An aggregate chunk built from per-aggregate samples.
    fn aggr_bytes(parts: &[(AggrType, &[(i64, f64)])]) -> Vec<u8> {
        let datas: Vec<(AggrType, Vec<u8>)> = parts.iter().map(|(a, s)| (*a, xor(s))).collect();
        let mut p: [Option<AggrPart<'_>>; 5] = [None; 5];
        for (a, d) in &datas {
            p[*a as usize] = Some(AggrPart {
                encoding: Encoding::Xor,
                data: d,
            });
        }
        AggrChunk::from_parts(p).encode()
    }

    const IN_COUNT: &[(i64, f64)] = &[
        (199, 5.0),
        (299, 1.0),
        (399, 10.0),
        (400, 3.0),
        (499, 10.0),
        (699, 0.0),
        (999, 100.0),
    ];
    const IN_MIN: &[(i64, f64)] = &[
        (199, 5.0),
        (299, 1.0),
        (399, 10.0),
        (400, -3.0),
        (499, 10.0),
        (699, 0.0),
        (999, 100.0),
    ];
    const IN_COUNTER: &[(i64, f64)] = &[
        (99, 100.0),
        (299, 150.0),
        (499, 210.0),
        (499, 10.0),
        (599, 20.0),
        (799, 50.0),
        (999, 120.0),
        (999, 50.0),
        (1099, 40.0),
        (1199, 80.0),
        (1299, 110.0),
    ];

    #[test]
    fn one_aggregate_chunk_to_coarser() {
        let bytes = aggr_bytes(&[
            (AggrType::Count, IN_COUNT),
            (AggrType::Sum, IN_COUNT),
            (AggrType::Min, IN_MIN),
            (AggrType::Max, IN_MIN),
            (AggrType::Counter, IN_COUNTER),
        ]);
        let chunk = AggrChunk::decode(&bytes).unwrap();
        let out = downsample_aggr(&[chunk], 99, 1299, 499, 500).unwrap();
        assert_eq!(out.len(), 1);
        let want: Expected = [
            (AggrType::Count, &[(499, 29.0), (999, 100.0)]),
            (AggrType::Sum, &[(499, 29.0), (999, 100.0)]),
            (AggrType::Min, &[(499, -3.0), (999, 0.0)]),
            (AggrType::Max, &[(499, 10.0), (999, 100.0)]),
            (
                AggrType::Counter,
                &[
                    (99, 100.0),
                    (499, 210.0),
                    (999, 320.0),
                    (1299, 430.0),
                    (1299, 110.0),
                ],
            ),
        ];
        check(&out[0], &want);
        // Downsampling the result to the same resolution again changes nothing.
        let again = AggrChunk::decode(&out[0].data).unwrap();
        let twice = downsample_aggr(&[again], out[0].min_time, out[0].max_time, 499, 500).unwrap();
        check(&twice[0], &want);
    }

    #[test]
    fn two_aggregate_chunks_to_coarser() {
        let second_count: &[(i64, f64)] = &[
            (1399, 10.0),
            (1400, 3.0),
            (1499, 10.0),
            (1699, 0.0),
            (1999, 100.0),
        ];
        let second_min: &[(i64, f64)] = &[
            (1399, 10.0),
            (1400, -3.0),
            (1499, 10.0),
            (1699, 0.0),
            (1999, 100.0),
        ];
        let second_counter: &[(i64, f64)] = &[
            (1499, 210.0),
            (1499, 10.0),
            (1599, 20.0),
            (1799, 50.0),
            (1999, 120.0),
            (1999, 50.0),
            (2099, 40.0),
            (2199, 80.0),
            (2299, 110.0),
        ];
        let a = aggr_bytes(&[
            (AggrType::Count, IN_COUNT),
            (AggrType::Sum, IN_COUNT),
            (AggrType::Min, IN_MIN),
            (AggrType::Max, IN_MIN),
            (AggrType::Counter, IN_COUNTER),
        ]);
        let b = aggr_bytes(&[
            (AggrType::Count, second_count),
            (AggrType::Sum, second_count),
            (AggrType::Min, second_min),
            (AggrType::Max, second_min),
            (AggrType::Counter, second_counter),
        ]);
        let chunks = [
            AggrChunk::decode(&a).unwrap(),
            AggrChunk::decode(&b).unwrap(),
        ];
        let out = downsample_aggr(&chunks, 99, 2299, 499, 500).unwrap();
        assert_eq!(out.len(), 1);
        let want: Expected = [
            (
                AggrType::Count,
                &[(499, 29.0), (999, 100.0), (1499, 23.0), (1999, 100.0)],
            ),
            (
                AggrType::Sum,
                &[(499, 29.0), (999, 100.0), (1499, 23.0), (1999, 100.0)],
            ),
            (
                AggrType::Min,
                &[(499, -3.0), (999, 0.0), (1499, -3.0), (1999, 0.0)],
            ),
            (
                AggrType::Max,
                &[(499, 10.0), (999, 100.0), (1499, 10.0), (1999, 100.0)],
            ),
            (
                AggrType::Counter,
                &[
                    (99, 100.0),
                    (499, 210.0),
                    (999, 320.0),
                    (1499, 530.0),
                    (1999, 640.0),
                    (2299, 750.0),
                    (2299, 110.0),
                ],
            ),
        ];
        check(&out[0], &want);
    }

    #[test]
    fn counter_only_chunks_become_one() {
        let datas: Vec<Vec<u8>> = (0..4)
            .map(|k| {
                let s: Vec<(i64, f64)> = (0..120)
                    .map(|i| (k * 120 + i, (k * 120 + i) as f64))
                    .collect();
                aggr_bytes(&[(AggrType::Counter, &s)])
            })
            .collect();
        let chunks: Vec<AggrChunk<'_>> = datas
            .iter()
            .map(|d| AggrChunk::decode(d).unwrap())
            .collect();
        let out = downsample_aggr(&chunks, 0, 479, 1, 2).unwrap();
        assert_eq!(out.len(), 1);
        let mut want = vec![(0, 0.0)];
        want.extend((0..480).step_by(2).map(|i| (i + 1, (i + 1) as f64)));
        want.push((479, 479.0));
        assert_eq!(out[0].samples(AggrType::Counter).unwrap().unwrap(), want);
        assert_eq!(out[0].samples(AggrType::Count).unwrap(), None);
    }

    /// Counter resets right at window boundaries survive both levels (Thanos #1568).
    #[test]
    fn counter_resets_at_window_boundaries() {
        let raw = [
            (10, 1.0),
            (20, 3.0),
            (30, 5.0),
            (50, 1.0),
            (60, 8.0),
            (70, 10.0),
            (120, 1.0),
            (130, 18.0),
            (140, 20.0),
            (160, 21.0),
            (170, 38.0),
            (180, 40.0),
        ];
        let level1 = downsample_raw_in(&raw, 50, raw.len() + 1).unwrap();
        assert_eq!(level1.len(), 4);
        let counters: Vec<(i64, f64)> = level1
            .iter()
            .flat_map(|c| c.samples(AggrType::Counter).unwrap().unwrap())
            .collect();
        assert_eq!(
            counters,
            vec![
                (10, 1.0),
                (30, 5.0),
                (30, 5.0),
                (50, 1.0),
                (70, 10.0),
                (70, 10.0),
                (120, 1.0),
                (140, 20.0),
                (140, 20.0),
                (160, 21.0),
                (180, 40.0),
                (180, 40.0)
            ]
        );
        let chunks: Vec<AggrChunk<'_>> = level1
            .iter()
            .map(|c| AggrChunk::decode(&c.data).unwrap())
            .collect();
        let level2 = downsample_aggr_in(&chunks, 100, 2).unwrap();
        assert_eq!(level2.len(), 2);
        let counters: Vec<(i64, f64)> = level2
            .iter()
            .flat_map(|c| c.samples(AggrType::Counter).unwrap().unwrap())
            .collect();
        assert_eq!(
            counters,
            vec![
                (10, 1.0),
                (70, 15.0),
                (70, 10.0),
                (120, 1.0),
                (180, 40.0),
                (180, 40.0)
            ]
        );
    }
}
