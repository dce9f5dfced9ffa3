//! Merging the chunks of one series coming from several blocks (vertical compaction).
//!
//! Chunks that do not overlap in time pass through untouched (their bytes are copied, never
//! re-encoded). Chunks that overlap (a chunk starting at or before the end of the previous
//! ones) are merged sample by sample: samples are taken in time order, a timestamp present in
//! several chunks is kept once, and the result is re-encoded into chunks of at most
//! [`MAX_SAMPLES_PER_MERGED_CHUNK`] samples, with a new chunk whenever the sample type
//! changes. Byte-identical duplicate chunks are dropped without decoding. This is what
//! Prometheus' compacting chunk-series merger does; ties between equal timestamps are broken
//! by the same heap discipline (see [`super::goheap`]).

use std::borrow::Cow;

use chunkenc::{
    AppendOutcome, ChunkIter, CounterResetHint, Encoding, FloatHistogram, FloatHistogramAppender,
    Histogram, HistogramAppender, ValueKind, XorAppender,
};

use super::goheap::GoHeap;
use super::CompactError;
use crate::block::tombstones::Interval;

/// At most this many samples go into a chunk produced by merging overlapping chunks.
pub const MAX_SAMPLES_PER_MERGED_CHUNK: usize = 120;

/// One encoded chunk of a series: borrowed from a block's chunk segment or freshly encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesChunk<'a> {
    /// Timestamp of the first sample.
    pub min_time: i64,
    /// Timestamp of the last sample.
    pub max_time: i64,
    /// The chunk encoding.
    pub encoding: Encoding,
    /// The encoded chunk (without the encoding byte).
    pub data: Cow<'a, [u8]>,
}

impl SeriesChunk<'_> {
    /// A decoder over the chunk.
    pub fn iter(&self) -> Result<ChunkIter<'_>, CompactError> {
        chunkenc::iter(self.encoding, &self.data).map_err(CompactError::chunk)
    }

    /// The number of samples the chunk header announces.
    pub fn num_samples(&self) -> Result<usize, CompactError> {
        Ok(self.iter()?.num_samples())
    }
}

/// Builds chunks from a stream of samples: a new chunk when the sample type changes, when the
/// current chunk holds `split` samples, or when a histogram cannot be appended to it.
pub(crate) struct ChunkEncoder {
    out: Vec<SeriesChunk<'static>>,
    cur: Current,
    split: usize,
    n: usize,
    mint: i64,
    maxt: i64,
    /// Refuse histogram samples that would need a new chunk or a recoding (used when a
    /// single chunk is re-encoded without some samples).
    append_only: bool,
}

enum Current {
    None,
    Float(XorAppender),
    Histogram(HistogramAppender),
    FloatHistogram(FloatHistogramAppender),
}

impl ChunkEncoder {
    pub(crate) fn new(split: usize, append_only: bool) -> Self {
        ChunkEncoder {
            out: Vec::new(),
            cur: Current::None,
            split,
            n: 0,
            mint: i64::MAX,
            maxt: i64::MIN,
            append_only,
        }
    }

    fn cut(&mut self) {
        let (encoding, data) = match std::mem::replace(&mut self.cur, Current::None) {
            Current::None => return,
            Current::Float(a) => (Encoding::Xor, a.into_chunk().into_bytes()),
            Current::Histogram(a) => (Encoding::Histogram, a.into_bytes()),
            Current::FloatHistogram(a) => (Encoding::FloatHistogram, a.into_bytes()),
        };
        self.out.push(SeriesChunk {
            min_time: self.mint,
            max_time: self.maxt,
            encoding,
            data: Cow::Owned(data),
        });
        self.n = 0;
        self.mint = i64::MAX;
    }

    fn needs_new(&self, kind: ValueKind) -> bool {
        let same = matches!(
            (&self.cur, kind),
            (Current::Float(_), ValueKind::Float)
                | (Current::Histogram(_), ValueKind::Histogram)
                | (Current::FloatHistogram(_), ValueKind::FloatHistogram)
        );
        !same || self.n >= self.split
    }

    fn sample_added(&mut self, t: i64) {
        self.maxt = t;
        if self.mint == i64::MAX {
            self.mint = t;
        }
        self.n += 1;
    }

    pub(crate) fn push_float(&mut self, t: i64, v: f64) -> Result<(), CompactError> {
        if self.needs_new(ValueKind::Float) {
            self.cut();
            self.cur = Current::Float(XorAppender::new());
        }
        if let Current::Float(a) = &mut self.cur {
            a.append(t, v).map_err(CompactError::chunk)?;
        }
        self.sample_added(t);
        Ok(())
    }

    pub(crate) fn push_histogram(&mut self, t: i64, h: &Histogram) -> Result<(), CompactError> {
        if self.needs_new(ValueKind::Histogram) {
            self.cut();
            self.cur = Current::Histogram(HistogramAppender::new());
        }
        let outcome = match &mut self.cur {
            Current::Histogram(a) => a
                .append_histogram(None, t, h, self.append_only)
                .map_err(CompactError::chunk)?,
            _ => AppendOutcome::Appended,
        };
        if let AppendOutcome::NewChunk(app) = outcome {
            self.cut();
            self.cur = Current::Histogram(*app);
        }
        self.sample_added(t);
        Ok(())
    }

    pub(crate) fn push_float_histogram(
        &mut self,
        t: i64,
        h: &FloatHistogram,
    ) -> Result<(), CompactError> {
        if self.needs_new(ValueKind::FloatHistogram) {
            self.cut();
            self.cur = Current::FloatHistogram(FloatHistogramAppender::new());
        }
        let outcome = match &mut self.cur {
            Current::FloatHistogram(a) => a
                .append_float_histogram(None, t, h, self.append_only)
                .map_err(CompactError::chunk)?,
            _ => AppendOutcome::Appended,
        };
        if let AppendOutcome::NewChunk(app) = outcome {
            self.cut();
            self.cur = Current::FloatHistogram(*app);
        }
        self.sample_added(t);
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Vec<SeriesChunk<'static>> {
        self.cut();
        self.out
    }
}

/// Re-encodes `chunk` without the samples inside `deleted` (sorted closed intervals), as one
/// chunk of the same kind; `None` when no sample remains.
pub fn remove_deleted(
    chunk: &SeriesChunk<'_>,
    deleted: &[Interval],
) -> Result<Option<SeriesChunk<'static>>, CompactError> {
    let mut it = chunk.iter()?;
    // A single chunk stays a single chunk: no sample-count split.
    let mut enc = ChunkEncoder::new(usize::MAX, true);
    while let Some(kind) = it.next().map_err(CompactError::chunk)? {
        let t = it.at_t();
        if deleted.iter().any(|d| d.contains(t)) {
            continue;
        }
        match kind {
            ValueKind::Float => enc.push_float(t, it.at().1)?,
            ValueKind::Histogram => {
                if let Some((_, h)) = it.at_histogram() {
                    enc.push_histogram(t, h)?;
                }
            }
            ValueKind::FloatHistogram => {
                if let Some((_, h)) = it.at_float_histogram() {
                    enc.push_float_histogram(t, h)?;
                }
            }
        }
    }
    let mut out = enc.finish();
    if out.len() > 1 {
        return Err(CompactError::Invalid(
            "re-encoding a chunk without deleted samples produced several chunks".into(),
        ));
    }
    Ok(out.pop())
}

/// Merges the sample streams of `chunks` (of one series) by time, keeping one sample per
/// timestamp, and re-encodes them into chunks of at most `split` samples. Which chunk's sample
/// wins on equal timestamps follows Prometheus' chained sample iterator: the first iterator
/// in `chunks` is consulted first, the others through a Go-ordered heap.
pub(crate) fn merge_samples(
    chunks: &[SeriesChunk<'_>],
    split: usize,
) -> Result<Vec<SeriesChunk<'static>>, CompactError> {
    let mut its = chunks
        .iter()
        .map(|c| c.iter())
        .collect::<Result<Vec<_>, _>>()?;
    let mut enc = ChunkEncoder::new(split, false);
    if its.is_empty() {
        return Ok(Vec::new());
    }
    let mut kinds: Vec<Option<ValueKind>> = vec![None; its.len()];
    // Heap entries are (current timestamp, iterator): an iterator does not move while queued.
    let less = |a: &(i64, usize), b: &(i64, usize)| a.0 < b.0;
    let mut heap: GoHeap<(i64, usize)> = GoHeap::new();
    for i in 1..its.len() {
        kinds[i] = its[i].next().map_err(CompactError::chunk)?;
        if kinds[i].is_some() {
            heap.push((its[i].at_t(), i), less);
        }
    }
    let mut curr = Some(0usize);
    let mut last_t = i64::MIN;
    let mut first = true;
    let mut hbuf = Histogram::default();
    let mut fhbuf = FloatHistogram::default();
    while let Some(mut c) = curr {
        let mut changed = first;
        first = false;
        let mut t;
        loop {
            kinds[c] = its[c].next().map_err(CompactError::chunk)?;
            if kinds[c].is_none() {
                if heap.is_empty() {
                    curr = None;
                    break;
                }
            } else {
                t = its[c].at_t();
                if t == last_t {
                    continue;
                }
                if heap.is_empty() {
                    break;
                }
                let next_t = heap.peek().expect("non-empty").0;
                if t < next_t {
                    break;
                }
                heap.push((t, c), less);
            }
            c = heap.pop(less).expect("non-empty").1;
            changed = true;
            t = its[c].at_t();
            if t != last_t {
                break;
            }
        }
        if curr.is_none() {
            break;
        }
        curr = Some(c);
        let t = its[c].at_t();
        last_t = t;
        let consecutive = !changed;
        match kinds[c] {
            Some(ValueKind::Float) => enc.push_float(t, its[c].at().1)?,
            Some(ValueKind::Histogram) => {
                if let Some((_, h)) = its[c].at_histogram() {
                    if !consecutive && h.counter_reset_hint != CounterResetHint::Gauge {
                        hbuf.clone_from(h);
                        hbuf.counter_reset_hint = CounterResetHint::Unknown;
                        enc.push_histogram(t, &hbuf)?;
                    } else {
                        enc.push_histogram(t, h)?;
                    }
                }
            }
            Some(ValueKind::FloatHistogram) => {
                if let Some((_, h)) = its[c].at_float_histogram() {
                    if !consecutive && h.counter_reset_hint != CounterResetHint::Gauge {
                        fhbuf.clone_from(h);
                        fhbuf.counter_reset_hint = CounterResetHint::Unknown;
                        enc.push_float_histogram(t, &fhbuf)?;
                    } else {
                        enc.push_float_histogram(t, h)?;
                    }
                }
            }
            None => {}
        }
    }
    Ok(enc.finish())
}

/// Merges the chunk lists of one series (each list sorted by time, from one block) into one
/// time-ordered list without overlaps; see the module docs.
pub fn compact_chunk_lists<'a>(
    lists: Vec<Vec<SeriesChunk<'a>>>,
) -> Result<Vec<SeriesChunk<'a>>, CompactError> {
    if lists.len() == 1 {
        return Ok(lists.into_iter().next().unwrap_or_default());
    }
    // Each source is a list with a cursor; merged output is pushed back as a new source.
    struct Source<'a> {
        chunks: Vec<SeriesChunk<'a>>,
        pos: usize,
    }
    let mut sources: Vec<Source<'a>> = lists
        .into_iter()
        .map(|chunks| Source { chunks, pos: 0 })
        .collect();
    // Heap entries are ((min time, max time) of the source's current chunk, source).
    type Entry = ((i64, i64), usize);
    let less = |a: &Entry, b: &Entry| a.0 < b.0;
    fn entry(sources: &[Source<'_>], i: usize) -> Option<Entry> {
        let c = sources[i].chunks.get(sources[i].pos)?;
        Some(((c.min_time, c.max_time), i))
    }
    let mut heap: GoHeap<Entry> = GoHeap::new();
    for i in 0..sources.len() {
        if let Some(e) = entry(&sources, i) {
            heap.push(e, less);
        }
    }
    let mut out = Vec::new();
    while let Some((_, i)) = heap.pop(less) {
        let curr = sources[i].chunks[sources[i].pos].clone();
        sources[i].pos += 1;
        if let Some(e) = entry(&sources, i) {
            heap.push(e, less);
        }
        let mut overlapping: Vec<SeriesChunk<'a>> = Vec::new();
        let mut o_max = curr.max_time;
        let mut prev = curr.clone();
        while let Some(&(_, j)) = heap.peek() {
            let next = &sources[j].chunks[sources[j].pos];
            if next.min_time > o_max {
                break;
            }
            if next.min_time != prev.min_time
                || next.max_time != prev.max_time
                || next.data != prev.data
            {
                overlapping.push(next.clone());
                o_max = o_max.max(next.max_time);
                prev = next.clone();
            }
            heap.pop(less);
            sources[j].pos += 1;
            if let Some(e) = entry(&sources, j) {
                heap.push(e, less);
            }
        }
        if overlapping.is_empty() {
            out.push(curr);
            continue;
        }
        overlapping.push(curr);
        let merged = merge_samples(&overlapping, MAX_SAMPLES_PER_MERGED_CHUNK)?;
        let mut merged = merged.into_iter();
        let Some(first) = merged.next() else { continue };
        out.push(first);
        let rest: Vec<SeriesChunk<'a>> = merged.collect();
        if !rest.is_empty() {
            sources.push(Source {
                chunks: rest,
                pos: 0,
            });
            if let Some(e) = entry(&sources, sources.len() - 1) {
                heap.push(e, less);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xor(samples: &[(i64, f64)]) -> SeriesChunk<'static> {
        let mut a = XorAppender::new();
        for (t, v) in samples {
            a.append(*t, *v).unwrap();
        }
        SeriesChunk {
            min_time: samples[0].0,
            max_time: samples[samples.len() - 1].0,
            encoding: Encoding::Xor,
            data: Cow::Owned(a.into_chunk().into_bytes()),
        }
    }

    fn samples(chunks: &[SeriesChunk<'_>]) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        for c in chunks {
            let mut it = c.iter().unwrap();
            while it.next().unwrap().is_some() {
                out.push(it.at());
            }
        }
        out
    }

    #[test]
    fn non_overlapping_chunks_pass_through_untouched() {
        let a = vec![xor(&[(0, 1.0), (10, 2.0)]), xor(&[(20, 3.0)])];
        let b = vec![xor(&[(30, 4.0), (40, 5.0)])];
        let out = compact_chunk_lists(vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(out, [a[0].clone(), a[1].clone(), b[0].clone()]);
    }

    #[test]
    fn identical_chunks_are_dropped_without_decoding() {
        let a = vec![xor(&[(0, 1.0), (10, 2.0)])];
        let out = compact_chunk_lists(vec![a.clone(), a.clone(), a.clone()]).unwrap();
        assert_eq!(out, a);
    }

    #[test]
    fn overlaps_merge_by_time_dedup_and_recut_at_120() {
        let a: Vec<(i64, f64)> = (0..300).map(|t| (t * 2, t as f64)).collect();
        let b: Vec<(i64, f64)> = (0..300).map(|t| (t * 3, t as f64 * 1.5)).collect();
        // Chunk `a` ends where `b` starts: touching chunks count as overlapping.
        let out = compact_chunk_lists(vec![vec![xor(&a)], vec![xor(&b[..1])], vec![xor(&b[1..])]])
            .unwrap();
        let got = samples(&out);
        let mut want: std::collections::BTreeMap<i64, f64> = b.iter().copied().collect();
        want.extend(a.iter().copied());
        let ts: Vec<i64> = got.iter().map(|s| s.0).collect();
        assert_eq!(ts, want.keys().copied().collect::<Vec<_>>());
        for c in &out {
            assert!(c.num_samples().unwrap() <= MAX_SAMPLES_PER_MERGED_CHUNK);
        }
        for w in out.windows(2) {
            assert!(w[0].max_time < w[1].min_time);
        }
        // On a shared timestamp one of the inputs' values is kept, never a mix.
        for (t, v) in got {
            assert!(a.contains(&(t, v)) || b.contains(&(t, v)), "{t} {v}");
        }
    }

    #[test]
    fn deleted_samples_are_removed_in_one_chunk() {
        let c = xor(&(0..200).map(|t| (t, t as f64)).collect::<Vec<_>>());
        let out = remove_deleted(&c, &[Interval::new(10, 19), Interval::new(150, 1000)])
            .unwrap()
            .unwrap();
        assert_eq!((out.min_time, out.max_time), (0, 149));
        assert_eq!(out.num_samples().unwrap(), 140);
        assert!(remove_deleted(&c, &[Interval::new(i64::MIN, i64::MAX)])
            .unwrap()
            .is_none());
    }

    #[test]
    fn histograms_merge_across_overlapping_chunks() {
        let h = |count: u64| Histogram {
            count,
            sum: count as f64,
            schema: 0,
            zero_threshold: 0.001,
            zero_count: count,
            ..Default::default()
        };
        let mk = |ts: &[i64]| {
            let mut a = HistogramAppender::new();
            for &t in ts {
                assert!(matches!(
                    a.append_histogram(None, t, &h(t as u64), false).unwrap(),
                    AppendOutcome::Appended
                ));
            }
            SeriesChunk {
                min_time: ts[0],
                max_time: ts[ts.len() - 1],
                encoding: Encoding::Histogram,
                data: Cow::Owned(a.into_bytes()),
            }
        };
        let out =
            compact_chunk_lists(vec![vec![mk(&[1, 3, 5, 7])], vec![mk(&[2, 3, 4, 8])]]).unwrap();
        let mut ts = Vec::new();
        for c in &out {
            assert_eq!(c.encoding, Encoding::Histogram);
            let mut it = c.iter().unwrap();
            while it.next().unwrap().is_some() {
                let (t, got) = it.at_histogram().unwrap();
                assert_eq!(got.count, t as u64);
                ts.push(t);
            }
        }
        assert_eq!(ts, [1, 2, 3, 4, 5, 7, 8]);
    }
}
