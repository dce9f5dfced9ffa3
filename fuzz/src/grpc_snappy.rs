//! Thanos' `snappy` gRPC message compression: arbitrary bytes decompress to a bounded
//! message or to a gRPC status, and what decompresses round-trips through our compressor.

use storeapi::grpc::snappy::{compress, decompress};

/// Decompresses `data` as one snappy framed stream; round-trips what decodes.
pub fn grpc_snappy(data: &[u8]) {
    if let Ok(message) = decompress(data) {
        let again = decompress(&compress(&message).expect("compress")).expect("re-decode");
        assert_eq!(again, message);
    }
}
