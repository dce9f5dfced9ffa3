//! Protobuf messages of Prometheus' remote-read protocol (`prometheus.ReadRequest` and its
//! answers, from Prometheus' `prompb/remote.proto` and `prompb/types.proto`), declared by hand
//! with `prost` derives. Field numbers are those files' wire numbers.

use super::{Label, TimeSeries};

/// A remote-read request: one or more queries, and the answer formats the client accepts.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRequest {
    /// The queries.
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    /// Accepted answer formats, in preference order ([`ResponseType`] values).
    #[prost(enumeration = "ResponseType", repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// Answer formats of remote read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResponseType {
    /// One snappy-compressed [`ReadResponse`] with raw samples.
    Samples = 0,
    /// A stream of framed [`ChunkedReadResponse`] messages carrying XOR (and histogram) chunks.
    StreamedXorChunks = 1,
}

/// The sampled answer: one result per query.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadResponse {
    /// Results, in query order.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

/// One query: a time range and matchers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    /// Start, ms (inclusive).
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    /// End, ms (inclusive).
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    /// The series selector.
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
    /// What the query is for, if known.
    #[prost(message, optional, tag = "4")]
    pub hints: Option<ReadHints>,
}

/// The series of one query (sampled answer).
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryResult {
    /// The series with their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// One frame of the streamed answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedReadResponse {
    /// Series with their chunks.
    #[prost(message, repeated, tag = "1")]
    pub chunked_series: Vec<ChunkedSeries>,
    /// Which query of the request these series answer.
    #[prost(int64, tag = "2")]
    pub query_index: i64,
}

/// A series and (some of) its chunks.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedSeries {
    /// Its labels, sorted.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Its chunks, by time.
    #[prost(message, repeated, tag = "2")]
    pub chunks: Vec<Chunk>,
}

/// A chunk in Prometheus' chunk encoding.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Chunk {
    /// First sample's time, ms.
    #[prost(int64, tag = "1")]
    pub min_time_ms: i64,
    /// Last sample's time, ms.
    #[prost(int64, tag = "2")]
    pub max_time_ms: i64,
    /// Encoding ([`ChunkEncoding`] value).
    #[prost(enumeration = "ChunkEncoding", tag = "3")]
    pub r#type: i32,
    /// The chunk bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}

/// Chunk encodings of remote read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ChunkEncoding {
    /// Unknown.
    Unknown = 0,
    /// Gorilla XOR.
    Xor = 1,
    /// Native histogram.
    Histogram = 2,
    /// Float native histogram.
    FloatHistogram = 3,
}

/// A label matcher.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelMatcher {
    /// How to match ([`MatcherType`] value).
    #[prost(enumeration = "MatcherType", tag = "1")]
    pub r#type: i32,
    /// Label name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Value or regex.
    #[prost(string, tag = "3")]
    pub value: String,
}

/// Matcher kinds of remote read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatcherType {
    /// `=`
    Eq = 0,
    /// `!=`
    Neq = 1,
    /// `=~`
    Re = 2,
    /// `!~`
    Nre = 3,
}

/// Hints about the query a read serves.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadHints {
    /// Query step, ms.
    #[prost(int64, tag = "1")]
    pub step_ms: i64,
    /// Surrounding function or aggregation.
    #[prost(string, tag = "2")]
    pub func: String,
    /// Start, ms.
    #[prost(int64, tag = "3")]
    pub start_ms: i64,
    /// End, ms.
    #[prost(int64, tag = "4")]
    pub end_ms: i64,
    /// Grouping labels of the aggregation.
    #[prost(string, repeated, tag = "5")]
    pub grouping: Vec<String>,
    /// Whether the grouping is `by` (else `without`).
    #[prost(bool, tag = "6")]
    pub by: bool,
    /// Range of the range selector, ms.
    #[prost(int64, tag = "7")]
    pub range_ms: i64,
}
