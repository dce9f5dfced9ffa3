//! Prometheus' streamed remote-read answers: arbitrary bytes decode to frames or to a typed
//! error, and whatever decodes re-encodes to bytes that decode to the same frames.

use storeapi::remote_read::{decode_stream, encode_stream};

/// Decodes `data` as a streamed answer (frames of at most 1 MiB); round-trips what decodes.
pub fn remote_read(data: &[u8]) {
    if let Ok(frames) = decode_stream(data, 1 << 20) {
        let again = decode_stream(&encode_stream(&frames), 1 << 20).expect("re-decode");
        assert_eq!(again, frames);
    }
}
