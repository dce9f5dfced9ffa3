//! Runs the `thanos_meta` fuzz body over Thanos metas, marks and pseudo-random mutations.

use tsdb_fuzz::harness::{mutate_bytes, SplitMix64};
use tsdb_fuzz::thanos_meta::thanos_meta;

const SEEDS: &[&[u8]] = &[
    br#"{"ulid":"01M87WF4HJ3VKBT462E4NRF9ZN","minTime":0,"maxTime":1,"stats":{"numSamples":3},"compaction":{"level":1,"sources":["01M87WF4HJ3VKBT462E4NRF9ZN"]},"version":1,"thanos":{"version":1,"labels":{"a":"b"},"downsample":{"resolution":300000},"source":"sidecar","segment_files":["000001"],"files":[{"rel_path":"index","size_bytes":4}],"index_stats":{"series_max_size":7}}}"#,
    br#"{"id":"01M87WF4HJ3VKBT462E4NRF9ZN","version":1,"deletion_time":1700000000}"#,
    br#"{"id":"01M87WF4HJ3VKBT462E4NRF9ZN","version":1,"no_compact_time":1,"reason":"manual","details":"x"}"#,
    br#"{"id":"01M87WF4HJ3VKBT462E4NRF9ZN","version":1,"no_downsample_time":1,"reason":"manual"}"#,
];

#[test]
fn seeds_and_mutations_never_panic() {
    for seed in SEEDS {
        thanos_meta(seed);
    }
    let mut rng = SplitMix64(0x7a405);
    for seed in SEEDS {
        for _ in 0..3_000 {
            let d = mutate_bytes(&mut rng, seed, b"0123456789{}[]\":,-e");
            thanos_meta(&d);
        }
    }
}
