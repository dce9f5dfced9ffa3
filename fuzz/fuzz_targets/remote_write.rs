//! libFuzzer entry point for [`tsdb_fuzz::remote_write::remote_write`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::remote_write::remote_write(data));
