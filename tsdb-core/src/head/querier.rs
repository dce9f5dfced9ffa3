//! Reading the head through the storage traits.

use chunkenc::{ChunkIter, FloatHistogram, Histogram, ValueKind};
use tsdb_index::{Labels, MatchType, Matcher};

use super::series::ClosedChunk;
use super::Head;
use crate::storage::{
    Querier, Queryable, Result, SampleIterator, SelectHints, Series, SeriesSet, StorageError,
    ValueType,
};

/// A querier over the head's samples in `[mint, maxt]`.
///
/// Series are found through the head's label-pair postings (the shortest list among the
/// equality matchers), then every matcher is checked against the series' labels, with
/// Prometheus' rule that a missing label matches like an empty value. Chunks are snapshotted
/// when a series is selected, so later appends do not show through.
pub struct HeadQuerier<'h> {
    head: &'h Head,
    mint: i64,
    maxt: i64,
}

impl<'h> HeadQuerier<'h> {
    pub(crate) fn new(head: &'h Head, mint: i64, maxt: i64) -> Self {
        HeadQuerier { head, mint, maxt }
    }

    /// The matching series with samples in range, snapshotted; in label order when `sorted`,
    /// else in reference (creation) order.
    pub(crate) fn select_series(
        &self,
        sorted: bool,
        matchers: &[Matcher],
    ) -> Result<Vec<HeadSeries>> {
        let mut refs = self.matching_refs(matchers);
        if sorted {
            refs.sort_by(|a, b| a.1.cmp(&b.1));
        }
        let mut series = Vec::with_capacity(refs.len());
        let tombstones = self
            .head
            .tombstones
            .read()
            .unwrap_or_else(|e| e.into_inner());
        for (r, labels) in refs {
            let Some(s) = self.head.series_by_ref(r) else {
                continue;
            };
            let (chunks, ooo) = {
                let d = s.lock();
                let chunks = d
                    .snapshot(self.mint, self.maxt, self.head.chunk_mapper())
                    .map_err(|e| StorageError::Corrupt {
                        file: "chunks_head".into(),
                        message: e.to_string(),
                    })?;
                (chunks, d.ooo_in(self.mint, self.maxt))
            };
            let chunks = if ooo.is_empty() {
                chunks
            } else {
                super::ooo::merge_ooo(&chunks, &ooo, self.mint, self.maxt)
            };
            if chunks.is_empty() {
                continue;
            }
            series.push(HeadSeries {
                labels,
                chunks,
                mint: self.mint,
                maxt: self.maxt,
                deleted: tombstones.get(&r).cloned().unwrap_or_default(),
            });
        }
        Ok(series)
    }

    /// References of the series matching every matcher, ascending.
    pub(crate) fn matching_refs(&self, matchers: &[Matcher]) -> Vec<(u64, Labels)> {
        let store = self.head.read_series();
        // Narrow the candidates with the shortest postings list of an equality matcher.
        let mut best: Option<&Vec<u64>> = None;
        for m in matchers {
            if m.kind == MatchType::Equal && !m.value.is_empty() {
                let list = store
                    .postings
                    .get(m.name.as_str())
                    .and_then(|vals| vals.get(m.value.as_str()));
                match list {
                    None => return Vec::new(),
                    Some(l) if best.is_none_or(|b| l.len() < b.len()) => best = Some(l),
                    _ => {}
                }
            }
        }
        let matches = |l: &Labels| {
            matchers
                .iter()
                .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
        };
        let mut out = Vec::new();
        match best {
            Some(list) => {
                for r in list {
                    if let Some(s) = store.by_ref.get(r) {
                        if matches(s.labels()) {
                            out.push((*r, s.labels().clone()));
                        }
                    }
                }
            }
            None => {
                for (r, s) in &store.by_ref {
                    if matches(s.labels()) {
                        out.push((*r, s.labels().clone()));
                    }
                }
                out.sort_unstable_by_key(|(r, _)| *r);
            }
        }
        out
    }
}

impl Querier for HeadQuerier<'_> {
    fn select<'a>(
        &'a self,
        sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet + 'a>> {
        Ok(Box::new(HeadSeriesSet {
            series: self.select_series(sorted, matchers)?.into_iter(),
        }))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut out: Vec<String> = if matchers.is_empty() {
            let store = self.head.read_series();
            store
                .postings
                .get(name)
                .map(|vals| {
                    vals.iter()
                        .filter(|(_, refs)| !refs.is_empty())
                        .map(|(v, _)| v.to_string())
                        .collect()
                })
                .unwrap_or_default()
        } else {
            self.matching_refs(matchers)
                .iter()
                .filter_map(|(_, l)| l.get(name).map(str::to_string))
                .collect()
        };
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut out: Vec<String> = if matchers.is_empty() {
            let store = self.head.read_series();
            store.postings.keys().map(|k| k.to_string()).collect()
        } else {
            self.matching_refs(matchers)
                .iter()
                .flat_map(|(_, l)| l.iter().map(|l| l.name.to_string()).collect::<Vec<_>>())
                .collect()
        };
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl Queryable for Head {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>> {
        Ok(Box::new(HeadQuerier::new(self, mint, maxt)))
    }
}

struct HeadSeriesSet {
    series: std::vec::IntoIter<HeadSeries>,
}

impl SeriesSet for HeadSeriesSet {
    fn next_series(&mut self) -> Option<Result<Box<dyn Series + '_>>> {
        self.series
            .next()
            .map(|s| Ok(Box::new(s) as Box<dyn Series>))
    }
}

/// A selected head series: its labels and a snapshot of its chunks.
pub(crate) struct HeadSeries {
    labels: Labels,
    chunks: Vec<ClosedChunk>,
    mint: i64,
    maxt: i64,
    deleted: Vec<(i64, i64)>,
}

impl Series for HeadSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(HeadSampleIterator {
            chunks: &self.chunks,
            next_chunk: 0,
            it: None,
            mint: self.mint,
            maxt: self.maxt,
            deleted: &self.deleted,
            t: i64::MIN,
            v: 0.0,
            kind: ValueType::None,
            done: false,
            err: None,
            empty_h: Histogram::default(),
            empty_fh: FloatHistogram::default(),
        })
    }
}

/// Re-encodes the samples of `it` within `[mint, maxt]` into chunks of at most
/// `samples_per_chunk` samples (floats as XOR, histograms in their own encodings), for
/// readers that must own a series' data (StoreAPI frames, relabelled series).
pub fn encode_samples(
    it: &mut dyn SampleIterator,
    mint: i64,
    maxt: i64,
    samples_per_chunk: usize,
) -> Result<Vec<chunkenc::builder::BuiltChunk>> {
    let mut b = chunkenc::builder::ChunkBuilder::new(samples_per_chunk);
    let bad = |e: chunkenc::ChunkError| StorageError::Other(e.to_string());
    let mut vt = it.seek(mint);
    while vt != ValueType::None && it.at_t() <= maxt {
        match vt {
            ValueType::Float => {
                let (t, v) = it.at();
                b.push_float(t, v).map_err(bad)?;
            }
            ValueType::Histogram => {
                let (t, h) = it.at_histogram();
                b.push_histogram(t, h).map_err(bad)?;
            }
            ValueType::FloatHistogram => {
                let (t, h) = it.at_float_histogram();
                let h = h.clone();
                b.push_float_histogram(t, &h).map_err(bad)?;
            }
            ValueType::None => break,
        }
        vt = it.next();
    }
    if let Some(e) = it.err() {
        return Err(StorageError::Other(e.to_string()));
    }
    Ok(b.finish())
}

/// Iterates the samples of time-ordered, non-overlapping chunks of any encoding within
/// `[mint, maxt]` (for chunks that came from elsewhere, e.g. a remote store).
pub fn iter_chunks(chunks: &[ClosedChunk], mint: i64, maxt: i64) -> Box<dyn SampleIterator + '_> {
    Box::new(HeadSampleIterator {
        chunks,
        next_chunk: 0,
        it: None,
        mint,
        maxt,
        deleted: &[],
        t: i64::MIN,
        v: 0.0,
        kind: ValueType::None,
        done: false,
        err: None,
        empty_h: Histogram::default(),
        empty_fh: FloatHistogram::default(),
    })
}

/// Walks the samples of a series' chunks within the querier's range, skipping deleted ones.
struct HeadSampleIterator<'a> {
    chunks: &'a [ClosedChunk],
    next_chunk: usize,
    it: Option<ChunkIter<'a>>,
    mint: i64,
    maxt: i64,
    deleted: &'a [(i64, i64)],
    t: i64,
    v: f64,
    /// Kind of the current sample.
    kind: ValueType,
    done: bool,
    err: Option<StorageError>,
    // Returned by the histogram accessors when the current sample is not a histogram.
    empty_h: Histogram,
    empty_fh: FloatHistogram,
}

impl HeadSampleIterator<'_> {
    fn fail(&mut self, e: impl std::fmt::Display) -> ValueType {
        self.err = Some(StorageError::Corrupt {
            file: "head chunk".into(),
            message: e.to_string(),
        });
        self.done = true;
        ValueType::None
    }
}

impl SampleIterator for HeadSampleIterator<'_> {
    fn next(&mut self) -> ValueType {
        while !self.done {
            let Some(it) = self.it.as_mut() else {
                let Some(c) = self.chunks.get(self.next_chunk) else {
                    self.done = true;
                    break;
                };
                self.next_chunk += 1;
                if c.max_t < self.mint {
                    continue;
                }
                match chunkenc::iter(c.encoding, &c.bytes) {
                    Ok(it) => self.it = Some(it),
                    Err(e) => return self.fail(e),
                }
                continue;
            };
            match it.next() {
                Ok(Some(kind)) => {
                    let (t, v) = it.at();
                    if t < self.mint {
                        continue;
                    }
                    if t > self.maxt {
                        self.done = true;
                        break;
                    }
                    if self.deleted.iter().any(|&(a, b)| a <= t && t <= b) {
                        continue;
                    }
                    self.t = t;
                    self.v = v;
                    self.kind = match kind {
                        ValueKind::Float => ValueType::Float,
                        ValueKind::Histogram => ValueType::Histogram,
                        ValueKind::FloatHistogram => ValueType::FloatHistogram,
                    };
                    return self.kind;
                }
                Ok(None) => self.it = None,
                Err(e) => return self.fail(e),
            }
        }
        self.kind = ValueType::None;
        ValueType::None
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if self.done {
            return ValueType::None;
        }
        if self.t != i64::MIN && self.t >= t && self.kind != ValueType::None {
            return self.kind;
        }
        // Skip whole chunks that end before `t`.
        if self.it.is_none() {
            while self
                .chunks
                .get(self.next_chunk)
                .is_some_and(|c| c.max_t < t)
            {
                self.next_chunk += 1;
            }
        }
        loop {
            match self.next() {
                ValueType::None => return ValueType::None,
                vt if self.t >= t => return vt,
                _ => {}
            }
        }
    }

    fn at(&self) -> (i64, f64) {
        (self.t, self.v)
    }

    fn at_histogram(&self) -> (i64, &Histogram) {
        match self.it.as_ref().and_then(|it| it.at_histogram()) {
            Some(x) => x,
            None => (self.t, &self.empty_h),
        }
    }

    fn at_float_histogram(&mut self) -> (i64, &FloatHistogram) {
        if let Some(it) = self.it.as_mut() {
            if let Some(x) = it.at_float_histogram() {
                return x;
            }
        }
        (self.t, &self.empty_fh)
    }

    fn at_t(&self) -> i64 {
        self.t
    }

    fn err(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }
}
