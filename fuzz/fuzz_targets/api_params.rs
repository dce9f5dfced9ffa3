//! libFuzzer entry point for [`tsdb_fuzz::api_params::api_params`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::api_params::api_params(data));
