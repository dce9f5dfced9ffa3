//! libFuzzer entry point for [`tsdb_fuzz::head_chunk_file::head_chunk_file`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::head_chunk_file::head_chunk_file(data));
