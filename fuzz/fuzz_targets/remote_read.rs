//! libFuzzer entry point for [`tsdb_fuzz::remote_read::remote_read`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::remote_read::remote_read(data));
