//! libFuzzer entry point for [`tsdb_fuzz::openmetrics::openmetrics`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::openmetrics::openmetrics(data));
