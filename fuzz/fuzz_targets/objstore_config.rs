//! libFuzzer entry point for [`tsdb_fuzz::objstore_config::objstore_config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::objstore_config::objstore_config(data));
