//! libFuzzer entry point for [`tsdb_fuzz::histogram_chunk::histogram_chunk`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::histogram_chunk::histogram_chunk(data));
