//! Prometheus' remote-read protocol, client side: building a request, and decoding the
//! streamed answer (`application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse`),
//! a sequence of frames `uvarint length | CRC32-Castagnoli (BE32) of the data | data`, each
//! data a `ChunkedReadResponse`. Decoding is pure (no I/O) and bounded: a frame longer than
//! the limit, a bad checksum or bad protobuf is a typed error, never a panic.

use prost::Message;
use tsdb_index::{MatchType, Matcher};

use crate::prompb::read::{
    ChunkedReadResponse, LabelMatcher, MatcherType, Query, ReadRequest, ResponseType,
};

/// Content type of the streamed answer.
pub const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// Largest frame accepted by default (Prometheus' own default read limit: 50 MB).
pub const DEFAULT_MAX_FRAME: usize = 50_000_000;

/// Why a streamed answer does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RemoteReadError {
    /// The frame's length prefix is not a valid uvarint.
    #[error("frame at byte {offset}: bad length prefix")]
    BadLength {
        /// Offset of the frame.
        offset: usize,
    },
    /// The frame is longer than allowed.
    #[error("frame at byte {offset}: {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// Offset of the frame.
        offset: usize,
        /// Its length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The answer ends inside a frame.
    #[error("frame at byte {offset}: truncated ({need} bytes needed, {have} left)")]
    Truncated {
        /// Offset of the frame.
        offset: usize,
        /// Bytes the frame needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// The frame's checksum does not match its data.
    #[error("frame at byte {offset}: checksum {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// Offset of the frame.
        offset: usize,
        /// Stored checksum.
        stored: u32,
        /// Checksum of the data.
        computed: u32,
    },
    /// The frame's data is not a `ChunkedReadResponse`.
    #[error("frame at byte {offset}: {message}")]
    Protobuf {
        /// Offset of the frame.
        offset: usize,
        /// The decoder's message.
        message: String,
    },
}

/// A request for the series matching `matchers` in `[start, end]` (ms), streamed chunks
/// preferred, as Thanos' sidecar asks.
pub fn read_request(start: i64, end: i64, matchers: &[Matcher]) -> ReadRequest {
    ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: start,
            end_timestamp_ms: end,
            matchers: matchers
                .iter()
                .map(|m| LabelMatcher {
                    r#type: match m.kind {
                        MatchType::Equal => MatcherType::Eq,
                        MatchType::NotEqual => MatcherType::Neq,
                        MatchType::Regexp => MatcherType::Re,
                        MatchType::NotRegexp => MatcherType::Nre,
                    } as i32,
                    name: m.name.to_string(),
                    value: m.value.to_string(),
                })
                .collect(),
            hints: None,
        }],
        accepted_response_types: vec![ResponseType::StreamedXorChunks as i32],
    }
}

/// Decodes every frame of a streamed answer.
pub fn decode_stream(
    mut data: &[u8],
    max_frame: usize,
) -> Result<Vec<ChunkedReadResponse>, RemoteReadError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while !data.is_empty() {
        let (len, n) = uvarint(data).ok_or(RemoteReadError::BadLength { offset })?;
        if len > max_frame as u64 {
            return Err(RemoteReadError::TooLarge {
                offset,
                len,
                max: max_frame,
            });
        }
        let len = len as usize;
        let need = n + 4 + len;
        if data.len() < need {
            return Err(RemoteReadError::Truncated {
                offset,
                need,
                have: data.len(),
            });
        }
        let stored = u32::from_be_bytes([data[n], data[n + 1], data[n + 2], data[n + 3]]);
        let body = &data[n + 4..need];
        let computed = crc32c::crc32c(body);
        if stored != computed {
            return Err(RemoteReadError::Checksum {
                offset,
                stored,
                computed,
            });
        }
        let frame = ChunkedReadResponse::decode(body).map_err(|e| RemoteReadError::Protobuf {
            offset,
            message: e.to_string(),
        })?;
        out.push(frame);
        data = &data[need..];
        offset += need;
    }
    Ok(out)
}

/// Encodes frames as Prometheus streams them (for tests and servers).
pub fn encode_stream(frames: &[ChunkedReadResponse]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        let body = f.encode_to_vec();
        let mut len = body.len() as u64;
        loop {
            let b = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
    }
    out
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        x |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((x, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompb::read::{Chunk, ChunkedSeries};
    use crate::prompb::Label;

    fn frame() -> ChunkedReadResponse {
        ChunkedReadResponse {
            chunked_series: vec![ChunkedSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                chunks: vec![Chunk {
                    min_time_ms: 1,
                    max_time_ms: 2,
                    r#type: 1,
                    data: vec![0, 1, 2],
                }],
            }],
            query_index: 0,
        }
    }

    #[test]
    fn frames_round_trip_and_damage_is_typed() {
        let bytes = encode_stream(&[frame(), frame()]);
        assert_eq!(decode_stream(&bytes, 1000).unwrap(), vec![frame(), frame()]);
        assert!(matches!(
            decode_stream(&bytes[..bytes.len() - 1], 1000),
            Err(RemoteReadError::Truncated { .. })
        ));
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            decode_stream(&bad, 1000),
            Err(RemoteReadError::Checksum { .. })
        ));
        assert!(matches!(
            decode_stream(&bytes, 3),
            Err(RemoteReadError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_stream(&[0xff; 11], 1000),
            Err(RemoteReadError::BadLength { .. })
        ));
    }
}
