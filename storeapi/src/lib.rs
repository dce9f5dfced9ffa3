//! Prometheus remote-write request decoding (protocol 1.0 and 2.0); the home of Thanos'
//! StoreAPI once it exists.
//!
//! What exists: [`prompb`] (the remote-write protobuf messages, declared by hand with `prost`)
//! and [`remote_write`] (snappy + protobuf decoding, v2 symbol resolution, label validation and
//! conversion to the workspace's label and sample types).
//!
//! **Not yet implemented:** the StoreAPI traits, the gRPC server/client and the proxy. See the
//! project README for what works today.

pub mod dedup;
pub mod grpc;
pub mod prompb;
pub mod remote;
pub mod remote_write;

pub use remote_write::{
    check_content_encoding, decode_write_request, decode_write_request_with,
    protocol_from_content_type, DecodeOptions, DecodedExemplar, DecodedSeries, DecodedWrite,
    FamilyMetadata, HistogramSample, Metadata, ProtocolVersion, RemoteWriteError,
};
