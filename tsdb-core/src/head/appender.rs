//! Transactions on the head: samples are checked when appended, then written to the WAL,
//! fsynced and applied on commit.

use std::sync::Arc;

use tsdb_index::Labels;

use super::{AppendError, Head, MemSeries};
use crate::record::{encode_samples, encode_series, RefSample, RefSeries};

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
            buf: Vec::new(),
        }
    }

    /// Appends a float sample to the series with `labels` (created if new). Returns the
    /// series' reference, usable with [`HeadAppender::append_ref`].
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<u64, AppendError> {
        if labels.is_empty() {
            return Err(AppendError::EmptyLabels);
        }
        let min_valid = self.min_valid_for(t);
        if t < min_valid {
            return Err(AppendError::OutOfBounds { t, min_valid });
        }
        let (s, created) = self.head.get_or_create(labels);
        if created {
            self.new_series.push(RefSeries {
                series_ref: s.series_ref(),
                labels: labels.clone(),
            });
        }
        self.push(s, t, v, min_valid)
    }

    /// Appends a float sample to the series with reference `series_ref`.
    pub fn append_ref(&mut self, series_ref: u64, t: i64, v: f64) -> Result<u64, AppendError> {
        let min_valid = self.min_valid_for(t);
        if t < min_valid {
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
        s.lock().appendable(t, v, min_valid)?;
        let r = s.series_ref();
        self.samples.push(RefSample {
            series_ref: r,
            st: 0,
            t,
            v,
        });
        self.sample_series.push(s);
        Ok(r)
    }

    /// Number of samples buffered.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample is buffered.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Writes the transaction to the WAL (fsynced) and applies it. On a WAL error nothing is
    /// applied and the error is returned.
    pub fn commit(mut self) -> Result<(), AppendError> {
        let mut wal = self.head.wal.lock().unwrap_or_else(|e| e.into_inner());
        // The head may have been truncated since the samples were appended: samples it no
        // longer accepts fail the transaction, and series it removed are re-created.
        let floor = self.head.min_valid_time();
        if let Some(smp) = self.samples.iter().find(|s| s.t < floor) {
            return Err(AppendError::OutOfBounds {
                t: smp.t,
                min_valid: floor,
            });
        }
        for (s, smp) in self.sample_series.iter_mut().zip(self.samples.iter_mut()) {
            if s.is_removed() {
                let (fresh, _) = self.head.get_or_create(s.labels());
                smp.series_ref = fresh.series_ref();
                *s = fresh;
            }
        }
        if let Some(w) = wal.as_mut() {
            // Log every series of the batch not logged yet: also those created by an
            // appender that was dropped without commit or rollback. Flags are claimed under
            // the WAL lock and given back if the write fails.
            self.new_series.clear();
            let mut claimed = Vec::new();
            for s in &self.sample_series {
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
            if !recs.is_empty() {
                let refs: Vec<&[u8]> = recs.iter().map(|r| r.as_slice()).collect();
                if let Err(e) = w.commit(&refs) {
                    for s in &claimed {
                        s.unset_logged();
                    }
                    return Err(e.into());
                }
            }
        }
        let opts = self.head.options();
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        for (s, smp) in self.sample_series.iter().zip(&self.samples) {
            // A sample made stale by an earlier one of the same batch (or a concurrent commit)
            // is dropped here, as Prometheus drops it at commit.
            if s.lock()
                .append(smp.t, smp.v, opts.chunk_range, opts.samples_per_chunk)
            {
                mint = mint.min(smp.t);
                maxt = maxt.max(smp.t);
            }
        }
        if mint <= maxt {
            self.head.update_min_max(mint, maxt);
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
