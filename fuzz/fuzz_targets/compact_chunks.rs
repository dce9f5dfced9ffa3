//! libFuzzer entry point for [`tsdb_fuzz::compact_chunks::compact_chunks`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::compact_chunks::compact_chunks(data));
