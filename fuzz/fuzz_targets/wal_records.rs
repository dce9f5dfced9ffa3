//! libFuzzer entry point for [`tsdb_fuzz::wal_records::wal_records`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::wal_records::wal_records(data));
