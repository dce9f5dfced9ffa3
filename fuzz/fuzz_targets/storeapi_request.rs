//! libFuzzer entry point for [`tsdb_fuzz::storeapi_request::storeapi_request`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tsdb_fuzz::storeapi_request::storeapi_request(data));
