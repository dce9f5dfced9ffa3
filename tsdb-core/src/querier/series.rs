//! Series read from blocks and their sample iterators: a [`BlockSeries`] walks its chunks in
//! time order, skipping samples outside the query range or under a tombstone; a
//! [`MergedSeries`] chains the same series from several blocks, merging by timestamp.

use chunkenc::{ChunkIter, Encoding, FloatHistogram, Histogram, ValueKind};
use tsdb_index::{ChunkMeta, Labels};

use crate::block::reader::Block;
use crate::block::tombstones::Interval;
use crate::storage::{SampleIterator, Series, StorageError, ValueType};

/// One series of one block, restricted to a time range.
pub struct BlockSeries<'a> {
    block: &'a Block,
    labels: Labels,
    chunks: Vec<ChunkMeta>,
    deleted: Vec<Interval>,
    mint: i64,
    maxt: i64,
}

impl<'a> BlockSeries<'a> {
    pub(crate) fn new(
        block: &'a Block,
        labels: Labels,
        chunks: Vec<ChunkMeta>,
        deleted: Vec<Interval>,
        mint: i64,
        maxt: i64,
    ) -> Self {
        BlockSeries {
            block,
            labels,
            chunks,
            deleted,
            mint,
            maxt,
        }
    }

    /// The chunk metas overlapping the range (not wholly deleted).
    pub fn chunks(&self) -> &[ChunkMeta] {
        &self.chunks
    }

    /// The block the series was read from.
    pub fn block(&self) -> &'a Block {
        self.block
    }

    /// A concrete (unboxed) iterator over the series' samples.
    pub fn samples(&self) -> BlockSampleIterator<'_> {
        BlockSampleIterator {
            series: self,
            next_chunk: 0,
            cur: None,
            err: None,
            kind: ValueType::None,
            empty_h: Histogram::default(),
            empty_fh: FloatHistogram::default(),
        }
    }
}

impl Series for BlockSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(self.samples())
    }
}

fn value_type(k: ValueKind) -> ValueType {
    match k {
        ValueKind::Float => ValueType::Float,
        ValueKind::Histogram => ValueType::Histogram,
        ValueKind::FloatHistogram => ValueType::FloatHistogram,
    }
}

/// Iterates one block series' samples within the range, tombstones applied.
pub struct BlockSampleIterator<'a> {
    series: &'a BlockSeries<'a>,
    next_chunk: usize,
    cur: Option<ChunkIter<'a>>,
    err: Option<StorageError>,
    kind: ValueType,
    empty_h: Histogram,
    empty_fh: FloatHistogram,
}

impl<'a> BlockSampleIterator<'a> {
    fn fail(&mut self, e: StorageError) -> ValueType {
        self.err = Some(e);
        self.cur = None;
        self.kind = ValueType::None;
        ValueType::None
    }

    fn open_next_chunk(&mut self) -> Result<bool, StorageError> {
        let s = self.series;
        let Some(meta) = s.chunks.get(self.next_chunk) else {
            return Ok(false);
        };
        self.next_chunk += 1;
        let raw = s.block.chunks().chunk(meta.chunk_ref)?;
        let enc = Encoding::try_from(raw.encoding).map_err(|e| StorageError::Corrupt {
            file: s.block.dir().display().to_string(),
            message: format!("chunk {:#x}: {e}", meta.chunk_ref),
        })?;
        let it = chunkenc::iter(enc, raw.data).map_err(|e| StorageError::Corrupt {
            file: s.block.dir().display().to_string(),
            message: format!("chunk {:#x}: {e}", meta.chunk_ref),
        })?;
        self.cur = Some(it);
        Ok(true)
    }

    /// Whether `t` is kept: inside the range and not deleted.
    #[inline]
    fn keep(&self, t: i64) -> bool {
        t >= self.series.mint
            && t <= self.series.maxt
            && !self.series.deleted.iter().any(|d| d.contains(t))
    }

    fn advance(&mut self, mut seek_to: Option<i64>) -> ValueType {
        loop {
            if self.cur.is_none() {
                match self.open_next_chunk() {
                    Ok(true) => {}
                    Ok(false) => {
                        self.kind = ValueType::None;
                        return ValueType::None;
                    }
                    Err(e) => return self.fail(e),
                }
            }
            let it = self.cur.as_mut().expect("chunk opened above");
            let step = match seek_to {
                Some(t) => it.seek(t),
                None => it.next(),
            };
            match step {
                Ok(Some(k)) => {
                    let t = it.at_t();
                    if t > self.series.maxt {
                        self.cur = None;
                        self.next_chunk = self.series.chunks.len();
                        self.kind = ValueType::None;
                        return ValueType::None;
                    }
                    if self.keep(t) {
                        self.kind = value_type(k);
                        return self.kind;
                    }
                    // Skipped sample: keep walking with `next` (a seek target is satisfied).
                    seek_to = None;
                }
                Ok(None) => self.cur = None,
                Err(e) => {
                    let file = self.series.block.dir().display().to_string();
                    return self.fail(StorageError::Corrupt {
                        file,
                        message: e.to_string(),
                    });
                }
            }
        }
    }
}

impl SampleIterator for BlockSampleIterator<'_> {
    fn next(&mut self) -> ValueType {
        if self.err.is_some() {
            return ValueType::None;
        }
        self.advance(None)
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if self.err.is_some() {
            return ValueType::None;
        }
        if self.kind != ValueType::None && self.at_t() >= t {
            return self.kind;
        }
        // Skip whole chunks that end before `t`.
        while self.cur.is_none()
            && self
                .series
                .chunks
                .get(self.next_chunk)
                .is_some_and(|c| c.max_time < t)
        {
            self.next_chunk += 1;
        }
        self.advance(Some(t))
    }

    fn at(&self) -> (i64, f64) {
        self.cur.as_ref().map(|c| c.at()).unwrap_or((0, 0.0))
    }

    fn at_histogram(&self) -> (i64, &Histogram) {
        match self.cur.as_ref().and_then(|c| c.at_histogram()) {
            Some(x) => x,
            None => (self.at_t(), &self.empty_h),
        }
    }

    fn at_float_histogram(&mut self) -> (i64, &FloatHistogram) {
        let t = self.at_t();
        match self.cur.as_mut().and_then(|c| c.at_float_histogram()) {
            Some(x) => x,
            None => (t, &self.empty_fh),
        }
    }

    fn at_t(&self) -> i64 {
        self.cur.as_ref().map(|c| c.at_t()).unwrap_or(0)
    }

    fn err(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }
}

/// One label set's data from one or more blocks.
pub struct MergedSeries<'a> {
    labels: Labels,
    parts: Vec<BlockSeries<'a>>,
}

impl<'a> MergedSeries<'a> {
    pub(crate) fn new(labels: Labels, parts: Vec<BlockSeries<'a>>) -> Self {
        MergedSeries { labels, parts }
    }

    /// The per-block parts, in block order.
    pub fn parts(&self) -> &[BlockSeries<'a>] {
        &self.parts
    }
}

impl Series for MergedSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        if self.parts.len() == 1 {
            return Box::new(self.parts[0].samples());
        }
        Box::new(MergeSampleIterator::new(
            self.parts.iter().map(|p| p.samples()).collect(),
        ))
    }
}

/// Merges sample iterators of one series (from several blocks, or several stores) by
/// timestamp; when several have the same timestamp the first iterator's sample wins and the
/// others are skipped.
pub struct MergeSampleIterator<I> {
    its: Vec<(I, ValueType)>,
    started: bool,
    cur: Option<usize>,
    kind: ValueType,
    empty_h: Histogram,
    empty_fh: FloatHistogram,
    err: Option<StorageError>,
}

impl<I: SampleIterator> MergeSampleIterator<I> {
    /// Merges `its`, earlier ones winning ties.
    pub fn new(its: Vec<I>) -> Self {
        MergeSampleIterator {
            its: its.into_iter().map(|it| (it, ValueType::None)).collect(),
            started: false,
            cur: None,
            kind: ValueType::None,
            empty_h: Histogram::default(),
            empty_fh: FloatHistogram::default(),
            err: None,
        }
    }

    fn pick(&mut self) -> ValueType {
        for (it, k) in &self.its {
            if *k == ValueType::None {
                if let Some(e) = it.err() {
                    self.err = Some(StorageError::Other(e.to_string()));
                    self.cur = None;
                    self.kind = ValueType::None;
                    return ValueType::None;
                }
            }
        }
        let mut best: Option<(usize, i64)> = None;
        for (i, (it, k)) in self.its.iter().enumerate() {
            if *k != ValueType::None {
                let t = it.at_t();
                if best.is_none_or(|(_, bt)| t < bt) {
                    best = Some((i, t));
                }
            }
        }
        match best {
            Some((i, _)) => {
                self.cur = Some(i);
                self.kind = self.its[i].1;
            }
            None => {
                self.cur = None;
                self.kind = ValueType::None;
            }
        }
        self.kind
    }
}

impl<I: SampleIterator> SampleIterator for MergeSampleIterator<I> {
    fn next(&mut self) -> ValueType {
        if self.err.is_some() {
            return ValueType::None;
        }
        if !self.started {
            self.started = true;
            for (it, k) in &mut self.its {
                *k = it.next();
            }
            return self.pick();
        }
        let Some(c) = self.cur else {
            return ValueType::None;
        };
        let t = self.its[c].0.at_t();
        // Advance every iterator standing on the current timestamp (dedup).
        for (it, k) in &mut self.its {
            if *k != ValueType::None && it.at_t() == t {
                *k = it.next();
            }
        }
        self.pick()
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if self.err.is_some() {
            return ValueType::None;
        }
        if self.started && self.kind != ValueType::None && self.at_t() >= t {
            return self.kind;
        }
        self.started = true;
        for (it, k) in &mut self.its {
            *k = it.seek(t);
        }
        self.pick()
    }

    fn at(&self) -> (i64, f64) {
        self.cur.map(|c| self.its[c].0.at()).unwrap_or((0, 0.0))
    }

    fn at_histogram(&self) -> (i64, &Histogram) {
        match self.cur {
            Some(c) => self.its[c].0.at_histogram(),
            None => (0, &self.empty_h),
        }
    }

    fn at_float_histogram(&mut self) -> (i64, &FloatHistogram) {
        match self.cur {
            Some(c) => self.its[c].0.at_float_histogram(),
            None => (0, &self.empty_fh),
        }
    }

    fn at_t(&self) -> i64 {
        self.cur.map(|c| self.its[c].0.at_t()).unwrap_or(0)
    }

    fn err(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }
}
