//! libFuzzer entry point for [`tsdb_fuzz::regex_matcher::regex_matcher`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::regex_matcher::regex_matcher(data));
