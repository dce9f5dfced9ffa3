//! Runs the `objstore_config` fuzz body over Thanos-style configurations and mutations.

use tsdb_fuzz::harness::{mutate_bytes, SplitMix64};
use tsdb_fuzz::objstore_config::objstore_config;

#[test]
fn seeds_and_mutations_never_panic() {
    let seeds: [&[u8]; 3] = [
        b"type: S3\nconfig:\n  bucket: b\n  endpoint: h:9000\n  insecure: true\n  access_key: a\n  secret_key: s\n  http_config:\n    idle_conn_timeout: 90s\nprefix: p\n",
        b"type: FILESYSTEM\nconfig:\n  directory: /tmp/x\n",
        b"type: AZURE\nconfig:\n  storage_account: a\n  storage_account_key: k\n  container: c\n",
    ];
    let mut rng = SplitMix64(0x0b15_7000);
    for seed in seeds {
        objstore_config(seed);
        for _ in 0..3_000 {
            objstore_config(&mutate_bytes(&mut rng, seed, b":- \n[]{}'\"&*!|>#"));
        }
    }
}
