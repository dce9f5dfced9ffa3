//! Prometheus' remote protocols and Thanos' StoreAPI.
//!
//! - [`prompb`]: Prometheus' remote-write (1.0 and 2.0) and remote-read messages, declared by
//!   hand with `prost`; [`remote_write`] decodes write requests (snappy + protobuf, v2 symbols,
//!   label validation); [`remote_read`] builds read requests and decodes streamed answers.
//! - [`grpc`]: the StoreAPI (`thanos.Store`, `thanos.info.Info`) server over any
//!   `Queryable`, and generated clients.
//! - [`remote`]: a `Queryable` over StoreAPI endpoints (the querier), with store selection,
//!   partial responses and [`dedup`] of HA replicas; [`downsampled`] reads series that
//!   stores answer with downsampled aggregates.
//!
//! Not yet: a Rust `Store` trait apart from the gRPC types. See the project README.

pub mod dedup;
pub mod downsampled;
pub mod grpc;
pub mod prompb;
pub mod remote;
pub mod remote_read;
pub mod remote_write;

pub use remote_write::{
    check_content_encoding, decode_write_request, decode_write_request_with,
    protocol_from_content_type, DecodeOptions, DecodedExemplar, DecodedSeries, DecodedWrite,
    FamilyMetadata, HistogramSample, Metadata, ProtocolVersion, RemoteWriteError,
};
