//! Chunk encodings by number, and one iterator type over every encoding.
//!
//! The encoding byte is what Prometheus stores in front of each chunk in block and head chunk
//! files; [`iter`] picks the decoder for it, so callers that read chunk files need no per-encoding
//! code.

use crate::error::ChunkError;
use crate::float_histogram::FloatHistogramIterator;
use crate::histogram::HistogramIterator;
use crate::model::{FloatHistogram, Histogram};
use crate::xor::{XorAppender, XorIterator};
use crate::xor2::{Xor2Appender, Xor2Iterator};

/// The encoding of a chunk, as stored in the byte before its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Encoding {
    /// No encoding (never stored in a valid chunk).
    None = 0,
    /// XOR (Gorilla) float samples.
    Xor = 1,
    /// Integer native histograms.
    Histogram = 2,
    /// Float native histograms.
    FloatHistogram = 3,
    /// XOR2 float samples with optional start timestamps (Prometheus 3.14, opt-in).
    Xor2 = 4,
    /// Integer native histograms with start timestamps.
    HistogramSt = 5,
    /// Float native histograms with start timestamps.
    FloatHistogramSt = 6,
}

impl Encoding {
    /// The name Prometheus prints for the encoding.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::None => "none",
            Encoding::Xor => "XOR",
            Encoding::Histogram => "histogram",
            Encoding::FloatHistogram => "floathistogram",
            Encoding::Xor2 => "XOR2",
            Encoding::HistogramSt => "histogramST",
            Encoding::FloatHistogramSt => "floathistogramST",
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<u8> for Encoding {
    type Error = ChunkError;

    fn try_from(b: u8) -> Result<Self, ChunkError> {
        Ok(match b {
            0 => Encoding::None,
            1 => Encoding::Xor,
            2 => Encoding::Histogram,
            3 => Encoding::FloatHistogram,
            4 => Encoding::Xor2,
            5 => Encoding::HistogramSt,
            6 => Encoding::FloatHistogramSt,
            other => return Err(ChunkError::UnknownEncoding(other)),
        })
    }
}

impl From<Encoding> for u8 {
    fn from(e: Encoding) -> u8 {
        e as u8
    }
}

/// Which encoding new float chunks are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FloatEncoding {
    /// XOR (encoding 1), what Prometheus writes by default.
    #[default]
    Xor,
    /// XOR2 (encoding 4), Prometheus' opt-in encoding with start timestamps.
    Xor2,
}

impl From<FloatEncoding> for Encoding {
    fn from(e: FloatEncoding) -> Encoding {
        match e {
            FloatEncoding::Xor => Encoding::Xor,
            FloatEncoding::Xor2 => Encoding::Xor2,
        }
    }
}

/// The kind of the sample an iterator stands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// A float sample: read it with `at`.
    Float,
    /// An integer native histogram: read it with `at_histogram`.
    Histogram,
    /// A float native histogram: read it with `at_float_histogram`.
    FloatHistogram,
}

/// An iterator over a chunk of any supported encoding, decoding borrowed bytes.
#[derive(Debug, Clone)]
pub enum ChunkIter<'a> {
    /// Over an XOR chunk.
    Xor(XorIterator<'a>),
    /// Over an XOR2 chunk.
    Xor2(Xor2Iterator<'a>),
    /// Over an integer native-histogram chunk.
    Histogram(HistogramIterator<'a>),
    /// Over a float native-histogram chunk.
    FloatHistogram(FloatHistogramIterator<'a>),
}

/// An iterator over the chunk data `data` (without the encoding byte) of encoding `encoding`.
///
/// ```
/// use chunkenc::{Encoding, ValueKind, xor::XorAppender};
/// let mut app = XorAppender::new();
/// app.append(5, 1.0).unwrap();
/// let mut it = chunkenc::iter(Encoding::Xor, app.bytes()).unwrap();
/// assert_eq!(it.next().unwrap(), Some(ValueKind::Float));
/// assert_eq!(it.at(), (5, 1.0));
/// assert_eq!(it.next().unwrap(), None);
/// ```
pub fn iter(encoding: Encoding, data: &[u8]) -> Result<ChunkIter<'_>, ChunkError> {
    match encoding {
        Encoding::Xor => Ok(ChunkIter::Xor(XorIterator::new(data)?)),
        Encoding::Xor2 => Ok(ChunkIter::Xor2(Xor2Iterator::new(data)?)),
        Encoding::Histogram => Ok(ChunkIter::Histogram(HistogramIterator::new(data)?)),
        Encoding::FloatHistogram => Ok(ChunkIter::FloatHistogram(FloatHistogramIterator::new(
            data,
        )?)),
        other => Err(ChunkError::UnknownEncoding(other as u8)),
    }
}

impl ChunkIter<'_> {
    /// Advances to the next sample and says what kind it is; `None` at the end.
    // A cursor, not an `Iterator`: the sample is read with `at` and errors are typed.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> Result<Option<ValueKind>, ChunkError> {
        match self {
            ChunkIter::Xor(it) => Ok(it.next()?.then_some(ValueKind::Float)),
            ChunkIter::Xor2(it) => Ok(it.next()?.then_some(ValueKind::Float)),
            ChunkIter::Histogram(it) => Ok(it.next()?.then_some(ValueKind::Histogram)),
            ChunkIter::FloatHistogram(it) => Ok(it.next()?.then_some(ValueKind::FloatHistogram)),
        }
    }

    /// Advances to the first sample at or after `t`; `None` if there is none.
    pub fn seek(&mut self, t: i64) -> Result<Option<ValueKind>, ChunkError> {
        match self {
            ChunkIter::Xor(it) => Ok(it.seek(t)?.then_some(ValueKind::Float)),
            ChunkIter::Xor2(it) => Ok(it.seek(t)?.then_some(ValueKind::Float)),
            ChunkIter::Histogram(it) => Ok(it.seek(t)?.then_some(ValueKind::Histogram)),
            ChunkIter::FloatHistogram(it) => Ok(it.seek(t)?.then_some(ValueKind::FloatHistogram)),
        }
    }

    /// Timestamp and value of the current float sample (for a histogram sample, its timestamp
    /// and 0.0).
    #[inline]
    pub fn at(&self) -> (i64, f64) {
        match self {
            ChunkIter::Xor(it) => it.at(),
            ChunkIter::Xor2(it) => it.at(),
            ChunkIter::Histogram(it) => (it.at_t(), 0.0),
            ChunkIter::FloatHistogram(it) => (it.at_t(), 0.0),
        }
    }

    /// Timestamp of the current sample.
    #[inline]
    pub fn at_t(&self) -> i64 {
        match self {
            ChunkIter::Xor(it) => it.at_t(),
            ChunkIter::Xor2(it) => it.at_t(),
            ChunkIter::Histogram(it) => it.at_t(),
            ChunkIter::FloatHistogram(it) => it.at_t(),
        }
    }

    /// The current integer histogram sample, if the chunk holds integer histograms.
    pub fn at_histogram(&self) -> Option<(i64, &Histogram)> {
        match self {
            ChunkIter::Histogram(it) => Some(it.at_histogram()),
            ChunkIter::Xor(_) | ChunkIter::Xor2(_) | ChunkIter::FloatHistogram(_) => None,
        }
    }

    /// The current sample as a float histogram, if the chunk holds histograms: an integer
    /// histogram is converted into a buffer the iterator reuses (hence `&mut self`).
    pub fn at_float_histogram(&mut self) -> Option<(i64, &FloatHistogram)> {
        match self {
            ChunkIter::Histogram(it) => Some(it.at_float_histogram()),
            ChunkIter::FloatHistogram(it) => Some(it.at_float_histogram()),
            ChunkIter::Xor(_) | ChunkIter::Xor2(_) => None,
        }
    }

    /// Number of samples the chunk header announces.
    pub fn num_samples(&self) -> usize {
        match self {
            ChunkIter::Xor(it) => it.num_samples(),
            ChunkIter::Xor2(it) => it.num_samples(),
            ChunkIter::Histogram(it) => it.num_samples(),
            ChunkIter::FloatHistogram(it) => it.num_samples(),
        }
    }

    /// Start timestamp of the current sample (0 when the encoding or chunk records none).
    #[inline]
    pub fn at_st(&self) -> i64 {
        match self {
            ChunkIter::Xor2(it) => it.at_st(),
            ChunkIter::Xor(_) | ChunkIter::Histogram(_) | ChunkIter::FloatHistogram(_) => 0,
        }
    }

    /// The encoding being decoded.
    pub fn encoding(&self) -> Encoding {
        match self {
            ChunkIter::Xor(_) => Encoding::Xor,
            ChunkIter::Xor2(_) => Encoding::Xor2,
            ChunkIter::Histogram(_) => Encoding::Histogram,
            ChunkIter::FloatHistogram(_) => Encoding::FloatHistogram,
        }
    }
}

/// An appender for float samples in the encoding chosen by a [`FloatEncoding`].
///
/// ```
/// use chunkenc::{FloatAppender, FloatEncoding, Encoding};
/// let mut app = FloatAppender::new(FloatEncoding::Xor2);
/// app.append(0, 1000, 1.0).unwrap();
/// let mut it = chunkenc::iter(app.encoding(), app.bytes()).unwrap();
/// assert!(it.next().unwrap().is_some());
/// assert_eq!(it.at(), (1000, 1.0));
/// ```
#[derive(Debug, Clone)]
pub enum FloatAppender {
    /// Writing an XOR chunk.
    Xor(XorAppender),
    /// Writing an XOR2 chunk.
    Xor2(Xor2Appender),
}

impl FloatAppender {
    /// An appender on a new, empty chunk of the given encoding.
    pub fn new(encoding: FloatEncoding) -> Self {
        match encoding {
            FloatEncoding::Xor => FloatAppender::Xor(XorAppender::new()),
            FloatEncoding::Xor2 => FloatAppender::Xor2(Xor2Appender::new()),
        }
    }

    /// Appends a sample. `st` (the start timestamp, 0 for none) is recorded by XOR2 and
    /// ignored by XOR, as in Prometheus.
    #[inline]
    pub fn append(&mut self, st: i64, t: i64, v: f64) -> Result<(), ChunkError> {
        match self {
            FloatAppender::Xor(a) => a.append(t, v),
            FloatAppender::Xor2(a) => a.append(st, t, v),
        }
    }

    /// The chunk's bytes so far.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self {
            FloatAppender::Xor(a) => a.bytes(),
            FloatAppender::Xor2(a) => a.bytes(),
        }
    }

    /// Number of samples appended so far.
    #[inline]
    pub fn num_samples(&self) -> usize {
        match self {
            FloatAppender::Xor(a) => a.num_samples(),
            FloatAppender::Xor2(a) => a.num_samples(),
        }
    }

    /// The encoding being written.
    pub fn encoding(&self) -> Encoding {
        match self {
            FloatAppender::Xor(_) => Encoding::Xor,
            FloatAppender::Xor2(_) => Encoding::Xor2,
        }
    }

    /// An iterator over the samples appended so far.
    pub fn iter(&self) -> ChunkIter<'_> {
        match self {
            FloatAppender::Xor(a) => ChunkIter::Xor(a.iter()),
            FloatAppender::Xor2(a) => ChunkIter::Xor2(a.iter()),
        }
    }

    /// Finishes appending and returns the chunk's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            FloatAppender::Xor(a) => a.into_chunk().into_bytes(),
            FloatAppender::Xor2(a) => a.into_chunk().into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip_through_bytes() {
        for b in 0u8..=6 {
            let e = Encoding::try_from(b).unwrap();
            assert_eq!(u8::from(e), b);
        }
        assert_eq!(Encoding::try_from(7), Err(ChunkError::UnknownEncoding(7)));
        assert_eq!(Encoding::Xor2.to_string(), "XOR2");
    }

    #[test]
    fn dispatches_histogram_chunks() {
        use crate::histogram::HistogramAppender;
        use crate::model::Span;
        let mut app = HistogramAppender::new();
        let h = Histogram {
            count: 3,
            sum: 4.5,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![1, 1],
            ..Default::default()
        };
        app.append_histogram(None, 1000, &h, false).unwrap();
        let mut it = iter(Encoding::Histogram, app.bytes()).unwrap();
        assert_eq!(it.encoding(), Encoding::Histogram);
        assert_eq!(it.next().unwrap(), Some(ValueKind::Histogram));
        assert_eq!(it.at_histogram().unwrap().1.count, 3);
        assert_eq!(it.at_float_histogram().unwrap().1.count, 3.0);
        assert_eq!(it.at_t(), 1000);
        assert_eq!(it.next().unwrap(), None);
    }
}
