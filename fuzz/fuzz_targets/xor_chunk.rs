//! libFuzzer entry point for [`tsdb_fuzz::xor_chunk::xor_chunk`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::xor_chunk::xor_chunk(data));
