//! libFuzzer entry point for [`tsdb_fuzz::thanos_meta::thanos_meta`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::thanos_meta::thanos_meta(data));
