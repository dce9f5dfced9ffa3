//! Fuzz target bodies. Each public function takes arbitrary bytes and must never panic, hang or
//! allocate without bound. The libFuzzer binaries in `fuzz_targets/` call them, and the tests in
//! `tests/` run them over seed inputs and pseudo-random mutations on every CI run.

pub mod aggr_chunk;
pub mod api_params;
pub mod compact_chunks;
pub mod float_histogram_chunk;
pub mod grpc_snappy;
pub mod harness;
pub mod head_chunk_file;
pub mod histogram_chunk;
pub mod index_header;
pub mod index_reader;
pub mod objstore_config;
pub mod openmetrics;
pub mod promql_parser;
pub mod regex_matcher;
pub mod remote_read;
pub mod remote_write;
pub mod storeapi_request;
pub mod thanos_meta;
pub mod tombstones;
pub mod wal_records;
pub mod wal_segment;
pub mod xor2_chunk;
pub mod xor_chunk;
