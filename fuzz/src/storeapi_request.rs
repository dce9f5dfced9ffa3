//! Fuzz body for StoreAPI requests as our gRPC server receives them: protobuf decoding of
//! `SeriesRequest`, `LabelNamesRequest` and `LabelValuesRequest`, then matcher conversion
//! (regex compilation included).

use prost::Message;
use storeapi::grpc::convert::matchers;
use storeapi::grpc::proto::{LabelNamesRequest, LabelValuesRequest, SeriesRequest};

/// The first byte picks the message; the rest is its encoding. Properties: no panic, and a
/// decoded request re-encodes to bytes that decode to the same request.
pub fn storeapi_request(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => {
            if let Ok(r) = SeriesRequest::decode(rest) {
                let _ = matchers(&r.matchers);
                let again = SeriesRequest::decode(r.encode_to_vec().as_slice()).expect("re-decode");
                assert_eq!(again, r);
            }
        }
        1 => {
            if let Ok(r) = LabelNamesRequest::decode(rest) {
                let _ = matchers(&r.matchers);
            }
        }
        _ => {
            if let Ok(r) = LabelValuesRequest::decode(rest) {
                let _ = matchers(&r.matchers);
            }
        }
    }
}
