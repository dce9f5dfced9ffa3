//! Transactions on the head: samples are checked when appended, then written to the WAL,
//! fsynced and applied on commit.

use std::sync::Arc;

use chunkenc::model::CUSTOM_BUCKETS_SCHEMA;
use chunkenc::{FloatHistogram, Histogram};
use tsdb_index::Labels;

use super::series::LastValueRef;
use super::{AppendError, Head, MemSeries};
use crate::record::{
    encode_custom_buckets_float_histogram_samples, encode_custom_buckets_histogram_samples,
    encode_float_histogram_samples, encode_histogram_samples,
};
use crate::record::{
    encode_exemplars, encode_samples, encode_series, RefExemplar, RefFloatHistogramSample,
    RefHistogramSample, RefSample, RefSeries,
};

/// A transaction of float samples on a [`Head`].
///
/// [`HeadAppender::append`] validates each sample against its series (out of order, out of
/// bounds, duplicate timestamp with a different value) and buffers it.
/// [`HeadAppender::commit`] logs new series and the samples to the WAL and fsyncs before
/// applying them, so a successful commit is durable. New series exist in the head from their
/// first append, even if the transaction is rolled back (as in Prometheus).
///
/// ```
/// use tsdb_core::head::{Head, HeadOptions};
/// use tsdb_index::Labels;
/// let head = Head::new(HeadOptions::default());
/// let mut app = head.appender();
/// let r = app.append(&Labels::from_pairs([("__name__", "up")]), 1000, 1.0).unwrap();
/// app.append_ref(r, 2000, 1.0).unwrap();
/// app.commit().unwrap();
/// assert_eq!(head.max_time(), 2000);
/// ```
pub struct HeadAppender<'h> {
    head: &'h Head,
    min_valid: Option<i64>,
    new_series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    sample_series: Vec<Arc<MemSeries>>,
    histograms: Vec<RefHistogramSample>,
    histogram_series: Vec<Arc<MemSeries>>,
    float_histograms: Vec<RefFloatHistogramSample>,
    float_histogram_series: Vec<Arc<MemSeries>>,
    /// Out-of-order float samples (logged to the WBL, kept apart in their series).
    ooo_samples: Vec<RefSample>,
    ooo_series: Vec<Arc<MemSeries>>,
    /// Exemplars, with their series.
    exemplars: Vec<RefExemplar>,
    exemplar_series: Vec<Arc<MemSeries>>,
    buf: Vec<u8>,
}

impl<'h> HeadAppender<'h> {
    pub(crate) fn new(head: &'h Head) -> Self {
        HeadAppender {
            head,
            min_valid: head.appendable_min_valid_time(),
            new_series: Vec::new(),
            samples: Vec::new(),
            sample_series: Vec::new(),
            histograms: Vec::new(),
            histogram_series: Vec::new(),
            float_histograms: Vec::new(),
            float_histogram_series: Vec::new(),
            ooo_samples: Vec::new(),
            ooo_series: Vec::new(),
            exemplars: Vec::new(),
            exemplar_series: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// The series with `labels` for a new sample at `t`, created (and remembered for the
    /// WAL) if new; checks the head's time bounds first.
    fn series_for(
        &mut self,
        labels: &Labels,
        t: i64,
    ) -> Result<(Arc<MemSeries>, i64), AppendError> {
        if labels.is_empty() {
            return Err(AppendError::EmptyLabels);
        }
        let min_valid = self.min_valid_for(t);
        if t < min_valid && self.head.options().ooo_window == 0 {
            return Err(AppendError::OutOfBounds { t, min_valid });
        }
        let (s, created) = self.head.get_or_create(labels);
        if created {
            self.new_series.push(RefSeries {
                series_ref: s.series_ref(),
                labels: labels.clone(),
            });
        }
        Ok((s, min_valid))
    }

    /// Appends an integer native histogram sample to the series with `labels` (created if
    /// new). The histogram must be valid (bucket counts matching its spans).
    pub fn append_histogram(
        &mut self,
        labels: &Labels,
        t: i64,
        h: &Histogram,
    ) -> Result<u64, AppendError> {
        chunkenc::histogram::validate(h)
            .map_err(|e| AppendError::InvalidHistogram(e.to_string()))?;
        let (s, min_valid) = self.series_for(labels, t)?;
        s.lock().appendable_histogram(
            t,
            min_valid,
            |last| matches!(last, LastValueRef::Histogram(prev) if *prev == h),
        )?;
        let r = s.series_ref();
        self.histograms.push(RefHistogramSample {
            series_ref: r,
            st: 0,
            t,
            h: h.clone(),
        });
        self.histogram_series.push(s);
        Ok(r)
    }

    /// Appends a float native histogram sample to the series with `labels` (created if new).
    pub fn append_float_histogram(
        &mut self,
        labels: &Labels,
        t: i64,
        h: &FloatHistogram,
    ) -> Result<u64, AppendError> {
        chunkenc::float_histogram::validate(h)
            .map_err(|e| AppendError::InvalidHistogram(e.to_string()))?;
        let (s, min_valid) = self.series_for(labels, t)?;
        s.lock().appendable_histogram(
            t,
            min_valid,
            |last| matches!(last, LastValueRef::FloatHistogram(prev) if *prev == h),
        )?;
        let r = s.series_ref();
        self.float_histograms.push(RefFloatHistogramSample {
            series_ref: r,
            st: 0,
            t,
            fh: h.clone(),
        });
        self.float_histogram_series.push(s);
        Ok(r)
    }

    /// Appends a float sample to the series with `labels` (created if new). Returns the
    /// series' reference, usable with [`HeadAppender::append_ref`].
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<u64, AppendError> {
        let (s, min_valid) = self.series_for(labels, t)?;
        self.push(s, t, v, min_valid)
    }

    /// Appends a float sample to the series with reference `series_ref`.
    pub fn append_ref(&mut self, series_ref: u64, t: i64, v: f64) -> Result<u64, AppendError> {
        let min_valid = self.min_valid_for(t);
        if t < min_valid && self.head.options().ooo_window == 0 {
            return Err(AppendError::OutOfBounds { t, min_valid });
        }
        let s = self
            .head
            .series_by_ref(series_ref)
            .ok_or(AppendError::UnknownRef(series_ref))?;
        self.push(s, t, v, min_valid)
    }

    /// The oldest accepted timestamp. On an empty head, the first sample fixes it to half a
    /// chunk range before itself (Prometheus' initial appender).
    fn min_valid_for(&mut self, t: i64) -> i64 {
        let floor = self.head.min_valid_time();
        *self
            .min_valid
            .get_or_insert_with(|| floor.max(t.saturating_sub(self.head.options().chunk_range / 2)))
    }

    fn push(
        &mut self,
        s: Arc<MemSeries>,
        t: i64,
        v: f64,
        min_valid: i64,
    ) -> Result<u64, AppendError> {
        let is_ooo = s.lock().appendable(t, v, min_valid, self.ooo_floor())?;
        let r = s.series_ref();
        let sample = RefSample {
            series_ref: r,
            st: 0,
            t,
            v,
        };
        if is_ooo {
            self.ooo_samples.push(sample);
            self.ooo_series.push(s);
        } else {
            self.samples.push(sample);
            self.sample_series.push(s);
        }
        Ok(r)
    }

    /// Adds an exemplar to the series with `labels` (created if new, as for a sample). An
    /// exemplar older than the series' newest fails with
    /// [`AppendError::OutOfOrderExemplar`]; an exact repeat of the newest is ignored.
    pub fn append_exemplar(
        &mut self,
        labels: &Labels,
        e: &super::exemplars::Exemplar,
    ) -> Result<u64, AppendError> {
        if labels.is_empty() {
            return Err(AppendError::EmptyLabels);
        }
        let (s, created) = self.head.get_or_create(labels);
        if created {
            self.new_series.push(RefSeries {
                series_ref: s.series_ref(),
                labels: labels.clone(),
            });
        }
        let r = s.series_ref();
        match self.head.exemplars.check(s.labels(), e) {
            super::exemplars::ExemplarOutcome::OutOfOrder => {
                return Err(AppendError::OutOfOrderExemplar { t: e.t })
            }
            super::exemplars::ExemplarOutcome::Duplicate => return Ok(r),
            super::exemplars::ExemplarOutcome::Added => {}
        }
        self.exemplars.push(RefExemplar {
            series_ref: r,
            t: e.t,
            v: e.value,
            labels: e.labels.clone(),
        });
        self.exemplar_series.push(s);
        Ok(r)
    }

    /// The oldest timestamp the out-of-order window accepts now, if the window is on and
    /// the head holds samples.
    fn ooo_floor(&self) -> Option<i64> {
        let window = self.head.options().ooo_window;
        let newest = self.head.max_time();
        (window > 0 && newest != i64::MIN).then(|| newest.saturating_sub(window))
    }

    /// Number of samples buffered (floats and histograms).
    pub fn len(&self) -> usize {
        self.samples.len()
            + self.histograms.len()
            + self.float_histograms.len()
            + self.ooo_samples.len()
            + self.exemplars.len()
    }

    /// Whether no sample is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the transaction to the WAL, applies it, and (with `sync_on_commit`) returns
    /// once the WAL is fsynced, sharing the fsync with concurrent commits (group commit). On
    /// a WAL write error nothing is applied; a failed fsync is [`AppendError::WalSync`].
    pub fn commit(mut self) -> Result<(), AppendError> {
        let mut wal = self.head.wal.lock().unwrap_or_else(|e| e.into_inner());
        // The head may have been truncated since the samples were appended: samples it no
        // longer accepts fail the transaction, and series it removed are re-created.
        let floor = self.head.min_valid_time();
        let oldest = self
            .samples
            .iter()
            .map(|s| s.t)
            .chain(self.histograms.iter().map(|s| s.t))
            .chain(self.float_histograms.iter().map(|s| s.t))
            .min();
        if let Some(t) = oldest.filter(|&t| t < floor) {
            return Err(AppendError::OutOfBounds {
                t,
                min_valid: floor,
            });
        }
        let head = self.head;
        let refresh = |s: &mut Arc<MemSeries>, series_ref: &mut u64| {
            if s.is_removed() {
                let (fresh, _) = head.get_or_create(s.labels());
                *series_ref = fresh.series_ref();
                *s = fresh;
            }
        };
        for (s, smp) in self.sample_series.iter_mut().zip(self.samples.iter_mut()) {
            refresh(s, &mut smp.series_ref);
        }
        for (s, smp) in self.ooo_series.iter_mut().zip(self.ooo_samples.iter_mut()) {
            refresh(s, &mut smp.series_ref);
        }
        for (s, e) in self
            .exemplar_series
            .iter_mut()
            .zip(self.exemplars.iter_mut())
        {
            refresh(s, &mut e.series_ref);
        }
        for (s, smp) in self
            .histogram_series
            .iter_mut()
            .zip(self.histograms.iter_mut())
        {
            refresh(s, &mut smp.series_ref);
        }
        for (s, smp) in self
            .float_histogram_series
            .iter_mut()
            .zip(self.float_histograms.iter_mut())
        {
            refresh(s, &mut smp.series_ref);
        }
        let mut write_number = None;
        if let Some(w) = wal.as_mut() {
            // Log every series of the batch not logged yet: also those created by an
            // appender that was dropped without commit or rollback. Flags are claimed under
            // the WAL lock and given back if the write fails.
            self.new_series.clear();
            let mut claimed = Vec::new();
            for s in self
                .sample_series
                .iter()
                .chain(&self.histogram_series)
                .chain(&self.float_histogram_series)
                .chain(&self.ooo_series)
                .chain(&self.exemplar_series)
            {
                if !s.is_logged() {
                    s.set_logged();
                    claimed.push(s.clone());
                    self.new_series.push(RefSeries {
                        series_ref: s.series_ref(),
                        labels: s.labels().clone(),
                    });
                }
            }
            let mut recs: Vec<Vec<u8>> = Vec::with_capacity(2);
            if !self.new_series.is_empty() {
                encode_series(&self.new_series, &mut self.buf);
                recs.push(std::mem::take(&mut self.buf));
            }
            if !self.samples.is_empty() {
                encode_samples(&self.samples, &mut self.buf);
                recs.push(std::mem::take(&mut self.buf));
            }
            // As Prometheus, histograms with custom buckets go to their own record types.
            let (custom, exponential): (Vec<_>, Vec<_>) = self
                .histograms
                .iter()
                .cloned()
                .partition(|s| s.h.schema == CUSTOM_BUCKETS_SCHEMA);
            if !exponential.is_empty() {
                encode_histogram_samples(&exponential, &mut self.buf);
                recs.push(std::mem::take(&mut self.buf));
            }
            if !custom.is_empty() {
                encode_custom_buckets_histogram_samples(&custom, &mut self.buf);
                recs.push(std::mem::take(&mut self.buf));
            }
            let (custom, exponential): (Vec<_>, Vec<_>) = self
                .float_histograms
                .iter()
                .cloned()
                .partition(|s| s.fh.schema == CUSTOM_BUCKETS_SCHEMA);
            if !exponential.is_empty() {
                encode_float_histogram_samples(&exponential, &mut self.buf);
                recs.push(std::mem::take(&mut self.buf));
            }
            if !custom.is_empty() {
                encode_custom_buckets_float_histogram_samples(&custom, &mut self.buf);
                recs.push(std::mem::take(&mut self.buf));
            }
            if !self.exemplars.is_empty() {
                encode_exemplars(&self.exemplars, &mut self.buf);
                recs.push(std::mem::take(&mut self.buf));
            }
            if !recs.is_empty() {
                let refs: Vec<&[u8]> = recs.iter().map(|r| r.as_slice()).collect();
                if let Err(e) = w.log(&refs) {
                    for s in &claimed {
                        s.unset_logged();
                    }
                    return Err(e.into());
                }
                if w.options().sync_on_commit {
                    write_number = Some(self.head.wal_sync.wrote(w.segment_file()));
                }
            }
            // Out-of-order samples go to the WBL, after the series records they refer to.
            if !self.ooo_samples.is_empty() {
                let mut wbl = self.head.wbl.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(wbl) = wbl.as_mut() {
                    encode_samples(&self.ooo_samples, &mut self.buf);
                    wbl.commit(&[&self.buf])?;
                }
            }
        }
        let opts = self.head.options();
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        for (s, smp) in self.sample_series.iter().zip(&self.samples) {
            // A sample made stale by an earlier one of the same batch (or a concurrent commit)
            // is dropped here, as Prometheus drops it at commit.
            let mut d = s.lock();
            if d.append(smp.t, smp.v, opts.chunk_range, opts.samples_per_chunk) {
                mint = mint.min(smp.t);
                maxt = maxt.max(smp.t);
                self.head.mmap_cut_chunks(s.series_ref(), &mut d);
            }
        }
        for (s, smp) in self.histogram_series.iter().zip(&self.histograms) {
            let mut d = s.lock();
            if d.append_histogram(smp.t, &smp.h, opts.chunk_range) {
                mint = mint.min(smp.t);
                maxt = maxt.max(smp.t);
                self.head.mmap_cut_chunks(s.series_ref(), &mut d);
            }
        }
        for (s, smp) in self
            .float_histogram_series
            .iter()
            .zip(&self.float_histograms)
        {
            let mut d = s.lock();
            if d.append_float_histogram(smp.t, &smp.fh, opts.chunk_range) {
                mint = mint.min(smp.t);
                maxt = maxt.max(smp.t);
                self.head.mmap_cut_chunks(s.series_ref(), &mut d);
            }
        }
        for (s, smp) in self.ooo_series.iter().zip(&self.ooo_samples) {
            s.lock().insert_ooo(smp.t, smp.v);
        }
        for (s, e) in self.exemplar_series.iter().zip(&self.exemplars) {
            self.head.exemplars.add(
                s.labels(),
                super::exemplars::Exemplar {
                    labels: e.labels.clone(),
                    value: e.v,
                    t: e.t,
                },
            );
        }
        if mint <= maxt {
            self.head.update_min_max(mint, maxt);
        }
        // The fsync runs outside the WAL lock, shared with the commits that wrote meanwhile.
        drop(wal);
        if let Some(n) = write_number {
            self.head
                .wal_sync
                .wait_durable(n)
                .map_err(AppendError::WalSync)?;
        }
        Ok(())
    }

    /// Drops the buffered samples. Series created by this transaction stay in the head and
    /// are logged, so that later references to them replay.
    pub fn rollback(mut self) -> Result<(), AppendError> {
        if self.new_series.is_empty() {
            return Ok(());
        }
        let mut wal = self.head.wal.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = wal.as_mut() {
            let head = self.head;
            self.new_series.retain(|n| {
                head.series_by_ref(n.series_ref)
                    .is_some_and(|s| !s.is_logged())
            });
            if !self.new_series.is_empty() {
                encode_series(&self.new_series, &mut self.buf);
                w.commit(&[&self.buf])?;
                for n in &self.new_series {
                    if let Some(s) = head.series_by_ref(n.series_ref) {
                        s.set_logged();
                    }
                }
            }
        }
        Ok(())
    }
}
