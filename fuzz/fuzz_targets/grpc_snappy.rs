//! libFuzzer entry point for [`tsdb_fuzz::grpc_snappy::grpc_snappy`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::grpc_snappy::grpc_snappy(data));
