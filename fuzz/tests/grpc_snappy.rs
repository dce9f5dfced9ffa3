//! Runs the `grpc_snappy` fuzz body over compressed messages and pseudo-random mutations.

use storeapi::grpc::snappy::compress;
use tsdb_fuzz::grpc_snappy::grpc_snappy;
use tsdb_fuzz::harness::{mutate_bytes, SplitMix64};

#[test]
fn seeds_and_mutations_never_panic() {
    let seeds = [
        compress(b"").unwrap(),
        compress(&b"thanos.Store/Series".repeat(50)).unwrap(),
        compress(&(0..=255u8).cycle().take(70_000).collect::<Vec<_>>()).unwrap(),
    ];
    grpc_snappy(&[]);
    let mut rng = SplitMix64(0x5a4a_7700);
    for seed in &seeds {
        grpc_snappy(seed);
        for _ in 0..5_000 {
            grpc_snappy(&mutate_bytes(&mut rng, seed, b""));
        }
    }
}
