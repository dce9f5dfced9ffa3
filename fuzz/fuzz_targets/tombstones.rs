//! libFuzzer entry point for [`tsdb_fuzz::tombstones::tombstones`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::tombstones::tombstones(data));
