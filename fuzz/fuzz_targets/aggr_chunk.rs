//! libFuzzer entry point for [`tsdb_fuzz::aggr_chunk::aggr_chunk`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::aggr_chunk::aggr_chunk(data));
