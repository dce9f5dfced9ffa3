//! The storage traits every data source implements (blocks, head, remote stores) and the
//! PromQL engine queries.
//!
//! They mirror Prometheus' `storage` package: a [`Queryable`] opens a [`Querier`] over a time
//! range; a querier selects series by matchers; each [`Series`] yields its samples through a
//! [`SampleIterator`].

use chunkenc::{FloatHistogram, Histogram};
use tsdb_index::{Labels, Matcher};

/// Errors from a storage read.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O failure, with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Stored data failed to decode.
    #[error("corrupt data in {file}: {message}")]
    Corrupt {
        /// The file (or logical source) holding the data.
        file: String,
        /// What was wrong.
        message: String,
    },
    /// The query was cancelled or ran out of time.
    #[error("query cancelled: {0}")]
    Cancelled(String),
    /// Any other failure.
    #[error("{0}")]
    Other(String),
}

/// Result alias for storage reads.
pub type Result<T> = std::result::Result<T, StorageError>;

/// What the caller will do with the selected data, so that a source can read less.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelectHints {
    /// Start of the time range, in ms (inclusive).
    pub start: i64,
    /// End of the time range, in ms (inclusive).
    pub end: i64,
    /// Query step in ms (0 for instant queries).
    pub step: i64,
    /// Range of the surrounding range selector in ms (0 when none).
    pub range: i64,
    /// Name of the function applied to the selection, if any.
    pub func: Option<String>,
}

/// Something that can be queried over a time range.
pub trait Queryable: Send + Sync {
    /// Opens a querier over `[mint, maxt]` (ms, inclusive).
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>>;
}

/// Reads series and label metadata over a fixed time range.
pub trait Querier {
    /// Series matching all `matchers`, sorted by labels when `sorted` is true.
    fn select<'a>(
        &'a self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet + 'a>>;

    /// Sorted, distinct values of label `name` among series matching `matchers`.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>>;

    /// Sorted, distinct label names among series matching `matchers`.
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>>;

    /// Warnings gathered by the calls so far: what a partial answer left out (a remote
    /// store that failed while partial responses are allowed, a store's own warnings). A
    /// local querier has none.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A stream of series.
pub trait SeriesSet {
    /// The next series, `None` at the end.
    fn next_series(&mut self) -> Option<Result<Box<dyn Series + '_>>>;
}

/// One series: its labels and its samples in time order.
pub trait Series {
    /// The series' labels.
    fn labels(&self) -> &Labels;
    /// An iterator over the series' samples (within the querier's time range).
    fn iter(&self) -> Box<dyn SampleIterator + '_>;
}

/// The kind of value at the current position of a [`SampleIterator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// The iterator is exhausted (or failed: see [`SampleIterator::err`]).
    None,
    /// A float sample.
    Float,
    /// An integer native histogram.
    Histogram,
    /// A float native histogram.
    FloatHistogram,
}

/// Iterates the samples of one series in time order, without allocating per sample.
pub trait SampleIterator {
    /// Advances to the next sample.
    fn next(&mut self) -> ValueType;
    /// Advances to the first sample at or after `t` (never moves backwards).
    fn seek(&mut self, t: i64) -> ValueType;
    /// Timestamp and value of the current float sample.
    fn at(&self) -> (i64, f64);
    /// Timestamp and value of the current integer histogram sample.
    fn at_histogram(&self) -> (i64, &Histogram);
    /// Timestamp and value of the current sample as a float histogram, converting an integer
    /// one into a buffer the iterator reuses (hence `&mut self`: no allocation per sample).
    fn at_float_histogram(&mut self) -> (i64, &FloatHistogram);
    /// Timestamp of the current sample.
    fn at_t(&self) -> i64;
    /// Start timestamp of the current sample (the time its counter started counting, as
    /// OpenTelemetry reports it), 0 when unknown. Storage that keeps none returns 0.
    fn at_st(&self) -> i64 {
        0
    }
    /// The error that ended iteration, if any.
    fn err(&self) -> Option<&StorageError>;
}

/// A boxed iterator iterates as the iterator it holds (so that generic iterators over
/// iterators, such as [`crate::querier::series::MergeSampleIterator`], take boxed ones).
impl<I: SampleIterator + ?Sized> SampleIterator for Box<I> {
    fn next(&mut self) -> ValueType {
        (**self).next()
    }
    fn seek(&mut self, t: i64) -> ValueType {
        (**self).seek(t)
    }
    fn at(&self) -> (i64, f64) {
        (**self).at()
    }
    fn at_histogram(&self) -> (i64, &Histogram) {
        (**self).at_histogram()
    }
    fn at_float_histogram(&mut self) -> (i64, &FloatHistogram) {
        (**self).at_float_histogram()
    }
    fn at_t(&self) -> i64 {
        (**self).at_t()
    }
    fn err(&self) -> Option<&StorageError> {
        (**self).err()
    }
}
