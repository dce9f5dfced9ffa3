//! libFuzzer entry point for [`tsdb_fuzz::wal_segment::wal_segment`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::wal_segment::wal_segment(data));
