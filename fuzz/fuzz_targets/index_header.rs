//! libFuzzer entry point for [`tsdb_fuzz::index_header::index_header`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::index_header::index_header(data));
