//! libFuzzer entry point for [`tsdb_fuzz::index_reader::index_reader`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::index_reader::index_reader(data));
