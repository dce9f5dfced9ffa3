//! Runs the `remote_read` fuzz body over streamed answers and pseudo-random mutations.

use storeapi::prompb::read::{Chunk, ChunkedReadResponse, ChunkedSeries};
use storeapi::prompb::Label;
use storeapi::remote_read::encode_stream;
use tsdb_fuzz::harness::{mutate_bytes, SplitMix64};
use tsdb_fuzz::remote_read::remote_read;

fn seed() -> Vec<u8> {
    let frame = |n: usize| ChunkedReadResponse {
        chunked_series: (0..n)
            .map(|i| ChunkedSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: format!("m{i}"),
                }],
                chunks: vec![Chunk {
                    min_time_ms: 1000 * i as i64,
                    max_time_ms: 1000 * i as i64 + 999,
                    r#type: 1,
                    data: vec![0, 1, 0x40, 0x80, 0xff],
                }],
            })
            .collect(),
        query_index: 0,
    };
    encode_stream(&[frame(1), frame(3)])
}

#[test]
fn seeds_and_mutations_never_panic() {
    let seed = seed();
    remote_read(&seed);
    remote_read(&[]);
    let mut rng = SplitMix64(0x5eed_2ead);
    for _ in 0..20_000 {
        let d = mutate_bytes(&mut rng, &seed, b"");
        remote_read(&d);
    }
}
