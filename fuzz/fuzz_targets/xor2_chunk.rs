//! libFuzzer entry point for [`tsdb_fuzz::xor2_chunk::xor2_chunk`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::xor2_chunk::xor2_chunk(data));
