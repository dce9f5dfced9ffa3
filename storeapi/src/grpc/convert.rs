//! Conversions between StoreAPI messages and our label, matcher and chunk types.

// tonic's `Status` is the error type of every gRPC handler; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use chunkenc::Encoding;
use tonic::Status;
use tsdb_index::{Labels, MatchType, Matcher};

use super::proto::{self, label_matcher, Chunk};

/// Our matchers for the request's, or `InvalidArgument` naming the bad one.
pub fn matchers(ms: &[proto::LabelMatcher]) -> Result<Vec<Matcher>, Status> {
    ms.iter()
        .map(|m| {
            let kind = match label_matcher::Type::try_from(m.r#type) {
                Ok(label_matcher::Type::Eq) => MatchType::Equal,
                Ok(label_matcher::Type::Neq) => MatchType::NotEqual,
                Ok(label_matcher::Type::Re) => MatchType::Regexp,
                Ok(label_matcher::Type::Nre) => MatchType::NotRegexp,
                Err(_) => {
                    return Err(Status::invalid_argument(format!(
                        "unknown matcher type {} for label {:?}",
                        m.r#type, m.name
                    )))
                }
            };
            Matcher::new(kind, &m.name, &m.value)
                .map_err(|e| Status::invalid_argument(format!("matcher {}: {e}", m.name)))
        })
        .collect()
}

/// The request's matchers in wire form (for clients).
pub fn to_proto_matchers(ms: &[Matcher]) -> Vec<proto::LabelMatcher> {
    ms.iter()
        .map(|m| proto::LabelMatcher {
            r#type: match m.kind {
                MatchType::Equal => label_matcher::Type::Eq,
                MatchType::NotEqual => label_matcher::Type::Neq,
                MatchType::Regexp => label_matcher::Type::Re,
                MatchType::NotRegexp => label_matcher::Type::Nre,
            } as i32,
            name: m.name.clone(),
            value: m.value.clone(),
        })
        .collect()
}

/// A label set in wire form.
pub fn to_proto_labels(l: &Labels) -> Vec<proto::Label> {
    l.iter()
        .map(|l| proto::Label {
            name: l.name.to_string(),
            value: l.value.to_string(),
        })
        .collect()
}

/// A wire label set as ours.
pub fn from_proto_labels(l: &[proto::Label]) -> Labels {
    Labels::from_pairs(l.iter().map(|l| (l.name.as_str(), l.value.as_str())))
}

/// A chunk in wire form (StoreAPI numbers encodings from 0: XOR, histogram, float histogram).
pub fn to_proto_chunk(encoding: Encoding, data: Vec<u8>) -> Option<Chunk> {
    let r#type = match encoding {
        Encoding::Xor => proto::chunk::Encoding::Xor,
        Encoding::Histogram => proto::chunk::Encoding::Histogram,
        Encoding::FloatHistogram => proto::chunk::Encoding::FloatHistogram,
        _ => return None,
    } as i32;
    Some(Chunk {
        r#type,
        data,
        hash: 0,
    })
}

/// Our encoding of a wire chunk.
pub fn chunk_encoding(c: &Chunk) -> Option<Encoding> {
    match proto::chunk::Encoding::try_from(c.r#type).ok()? {
        proto::chunk::Encoding::Xor => Some(Encoding::Xor),
        proto::chunk::Encoding::Histogram => Some(Encoding::Histogram),
        proto::chunk::Encoding::FloatHistogram => Some(Encoding::FloatHistogram),
    }
}
