//! libFuzzer entry point for [`tsdb_fuzz::float_histogram_chunk::float_histogram_chunk`].
#![no_main]

libfuzzer_sys::fuzz_target!(
    |data: &[u8]| tsdb_fuzz::float_histogram_chunk::float_histogram_chunk(data)
);
