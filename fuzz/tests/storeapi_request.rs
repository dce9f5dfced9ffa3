//! Runs the `storeapi_request` fuzz body over well-formed requests (with valid and invalid
//! regexes) and deterministic pseudo-random mutations of them.

use prost::Message;
use storeapi::grpc::proto::{
    label_matcher, LabelMatcher, LabelNamesRequest, LabelValuesRequest, SeriesRequest,
};
use tsdb_fuzz::harness::SplitMix64;
use tsdb_fuzz::storeapi_request::storeapi_request;

fn seeds() -> Vec<Vec<u8>> {
    let m = |t: label_matcher::Type, n: &str, v: &str| LabelMatcher {
        r#type: t as i32,
        name: n.into(),
        value: v.into(),
    };
    let ms = vec![
        m(label_matcher::Type::Eq, "__name__", "up"),
        m(label_matcher::Type::Re, "job", "api|db.*"),
        m(label_matcher::Type::Nre, "x", "(?i)foo"),
        m(label_matcher::Type::Re, "bad", "(("),
    ];
    let series = SeriesRequest {
        min_time: -5,
        max_time: 1 << 40,
        matchers: ms.clone(),
        skip_chunks: true,
        limit: 10,
        without_replica_labels: vec!["replica".into()],
        ..Default::default()
    };
    vec![
        [&[0u8][..], &series.encode_to_vec()].concat(),
        [
            &[1u8][..],
            &LabelNamesRequest {
                matchers: ms.clone(),
                start: 1,
                end: 2,
                ..Default::default()
            }
            .encode_to_vec(),
        ]
        .concat(),
        [
            &[2u8][..],
            &LabelValuesRequest {
                label: "job".into(),
                matchers: ms,
                ..Default::default()
            }
            .encode_to_vec(),
        ]
        .concat(),
    ]
}

#[test]
fn seeds_and_mutations_never_panic() {
    let mut rng = SplitMix64(0x5eed_57a1);
    for seed in seeds() {
        storeapi_request(&seed);
        for _ in 0..3_000 {
            let mut d = seed.clone();
            match rng.below(3) {
                0 => {
                    let i = 1 + rng.below(d.len().max(2) - 1);
                    if let Some(b) = d.get_mut(i) {
                        *b ^= 1 << rng.below(8);
                    }
                }
                1 => d.truncate(rng.below(d.len() + 1)),
                _ => {
                    let i = rng.below(d.len() + 1);
                    d.insert(i, rng.next_u64() as u8);
                }
            }
            storeapi_request(&d);
        }
    }
}
