//! The aggregate chunk of downsampled blocks, stored in ordinary chunk segment files under
//! encoding byte [`AGGR_CHUNK_ENCODING`] (`0xFF`).
//!
//! Layout (Thanos' `downsample.AggrChunk`): five entries, one per [`AggrType`] in the order
//! count, sum, min, max, counter. Each entry is
//! ```text
//! uvarint n | (when n > 0) inner encoding (1 byte) | inner chunk data (n bytes)
//! ```
//! where `n = 0` means the aggregate is absent. Inner chunks are XOR chunks for float series
//! (Thanos uses float-histogram chunks for the sum and counter of native histograms). Bytes
//! after the last entry are ignored, as Thanos does.

use chunkenc::Encoding;

/// Encoding byte of an aggregate chunk in a chunk segment file.
pub const AGGR_CHUNK_ENCODING: u8 = 0xFF;

/// One aggregate of a downsampled window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AggrType {
    /// Number of raw samples in the window.
    Count = 0,
    /// Sum of the raw values.
    Sum = 1,
    /// Smallest raw value.
    Min = 2,
    /// Largest raw value.
    Max = 3,
    /// The counter since the series start with resets removed, plus the first and last raw
    /// samples of the chunk (see the `aggregate` module).
    Counter = 4,
}

impl AggrType {
    /// Every aggregate, in storage order.
    pub const ALL: [AggrType; 5] = [
        AggrType::Count,
        AggrType::Sum,
        AggrType::Min,
        AggrType::Max,
        AggrType::Counter,
    ];

    /// The name Thanos prints.
    pub fn name(self) -> &'static str {
        match self {
            AggrType::Count => "count",
            AggrType::Sum => "sum",
            AggrType::Min => "min",
            AggrType::Max => "max",
            AggrType::Counter => "counter",
        }
    }
}

impl std::fmt::Display for AggrType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an aggregate chunk could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AggrChunkError {
    /// The length of an entry is missing, truncated or longer than 64 bits.
    #[error("aggregate chunk: bad length of the {aggr} entry at byte {offset}")]
    BadLength {
        /// The entry.
        aggr: AggrType,
        /// Its offset in the chunk.
        offset: usize,
    },
    /// An entry claims more bytes than the chunk holds.
    #[error(
        "aggregate chunk: the {aggr} entry at byte {offset} needs {needed} bytes, {available} left"
    )]
    Truncated {
        /// The entry.
        aggr: AggrType,
        /// Its offset in the chunk.
        offset: usize,
        /// Bytes the entry claims (encoding byte included).
        needed: u64,
        /// Bytes left.
        available: usize,
    },
    /// The inner encoding byte names no chunk encoding this crate reads.
    #[error("aggregate chunk: the {aggr} entry has unknown inner encoding {encoding}")]
    UnknownEncoding {
        /// The entry.
        aggr: AggrType,
        /// The encoding byte.
        encoding: u8,
    },
}

/// One aggregate's inner chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggrPart<'a> {
    /// Inner chunk encoding (XOR for float series).
    pub encoding: Encoding,
    /// Inner chunk data.
    pub data: &'a [u8],
}

/// A decoded aggregate chunk: each aggregate's inner chunk, borrowed from the stored bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggrChunk<'a> {
    parts: [Option<AggrPart<'a>>; 5],
}

fn read_uvarint(buf: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, &b) in buf.iter().take(10).enumerate() {
        let shift = 7 * i as u32;
        if i == 9 && b > 1 {
            return None;
        }
        x |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some((x, i + 1));
        }
    }
    None
}

impl<'a> AggrChunk<'a> {
    /// Decodes the five entries of `data` (the chunk without its `0xFF` encoding byte).
    pub fn decode(data: &'a [u8]) -> Result<Self, AggrChunkError> {
        let mut parts: [Option<AggrPart<'a>>; 5] = [None; 5];
        let mut off = 0usize;
        for aggr in AggrType::ALL {
            let (n, len) = read_uvarint(&data[off..])
                .ok_or(AggrChunkError::BadLength { aggr, offset: off })?;
            let entry = off;
            off += len;
            if n == 0 {
                continue;
            }
            let available = data.len() - off;
            if n >= available as u64 {
                return Err(AggrChunkError::Truncated {
                    aggr,
                    offset: entry,
                    needed: n.saturating_add(1),
                    available,
                });
            }
            let n = n as usize;
            let byte = data[off];
            let encoding = Encoding::try_from(byte)
                .ok()
                .filter(|e| *e != Encoding::None)
                .ok_or(AggrChunkError::UnknownEncoding {
                    aggr,
                    encoding: byte,
                })?;
            parts[aggr as usize] = Some(AggrPart {
                encoding,
                data: &data[off + 1..off + 1 + n],
            });
            off += 1 + n;
        }
        Ok(AggrChunk { parts })
    }

    /// An aggregate chunk of the given parts.
    pub fn from_parts(parts: [Option<AggrPart<'a>>; 5]) -> Self {
        AggrChunk { parts }
    }

    /// The inner chunk of `aggr`, `None` when absent.
    pub fn get(&self, aggr: AggrType) -> Option<AggrPart<'a>> {
        self.parts[aggr as usize]
    }

    /// Number of windows: the samples of the count aggregate (0 without one).
    pub fn num_samples(&self) -> usize {
        self.get(AggrType::Count)
            .and_then(|p| chunkenc::iter(p.encoding, p.data).ok())
            .map_or(0, |it| it.num_samples())
    }

    /// Whether the counter is a histogram chunk (the aggregates of a native histogram series).
    pub fn is_histogram(&self) -> bool {
        self.get(AggrType::Counter)
            .is_some_and(|p| matches!(p.encoding, Encoding::Histogram | Encoding::FloatHistogram))
    }

    /// The stored form (without the outer `0xFF` byte).
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .parts
            .iter()
            .map(|p| p.map_or(1, |p| p.data.len() + 11))
            .sum();
        let mut out = Vec::with_capacity(size);
        for p in &self.parts {
            match p {
                None => out.push(0),
                Some(p) => {
                    let mut n = p.data.len() as u64;
                    while n >= 0x80 {
                        out.push((n as u8) | 0x80);
                        n >>= 7;
                    }
                    out.push(n as u8);
                    out.push(p.encoding as u8);
                    out.extend_from_slice(p.data);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_absent_parts() {
        let sum = [1u8, 2, 3];
        let counter = vec![7u8; 300];
        let mut parts = [None; 5];
        parts[AggrType::Sum as usize] = Some(AggrPart {
            encoding: Encoding::Xor,
            data: &sum,
        });
        parts[AggrType::Counter as usize] = Some(AggrPart {
            encoding: Encoding::FloatHistogram,
            data: &counter,
        });
        let bytes = AggrChunk::from_parts(parts).encode();
        // count absent (0), sum: len 3, XOR, data; min, max absent; counter: 2-byte varint.
        assert_eq!(&bytes[..6], &[0, 3, 1, 1, 2, 3]);
        assert_eq!(&bytes[6..10], &[0, 0, 0xAC, 0x02]);
        let c = AggrChunk::decode(&bytes).unwrap();
        assert_eq!(c.get(AggrType::Count), None);
        assert_eq!(c.get(AggrType::Sum).unwrap().data, &sum);
        assert_eq!(c.get(AggrType::Counter).unwrap().data, &counter[..]);
        assert!(c.is_histogram());
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert_eq!(
            AggrChunk::decode(&[]),
            Err(AggrChunkError::BadLength {
                aggr: AggrType::Count,
                offset: 0
            })
        );
        assert!(matches!(
            AggrChunk::decode(&[0, 5, 1, 0]),
            Err(AggrChunkError::Truncated {
                aggr: AggrType::Sum,
                ..
            })
        ));
        assert_eq!(
            AggrChunk::decode(&[1, 0x77, 0]),
            Err(AggrChunkError::UnknownEncoding {
                aggr: AggrType::Count,
                encoding: 0x77
            })
        );
        assert!(AggrChunk::decode(&[0xff; 11]).is_err());
    }
}
