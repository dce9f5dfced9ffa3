//! libFuzzer entry point for [`tsdb_fuzz::promql_parser::promql_parser`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::promql_parser::promql_parser(data));
