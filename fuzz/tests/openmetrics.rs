//! Runs the `openmetrics` fuzz body over the Prometheus fixture's OpenMetrics input, hand-made
//! edge cases, and deterministic pseudo-random mutations of them.

use tsdb_fuzz::harness::{shared_dir, SplitMix64};
use tsdb_fuzz::openmetrics::openmetrics;

const ALPHABET: &[u8] = b"{}=,\"\\# \n.e+-_:aZ09INnf";

#[test]
fn openmetrics_survives_seeds_and_mutations() {
    let path = shared_dir().join("fixtures/prom-blocks/fixture.om");
    let full = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{} missing ({e}); set SHARED_DIR", path.display()));
    // Small windows of the fixture (whole lines) keep each run short.
    let mut seeds: Vec<Vec<u8>> = full
        .split(|&b| b == b'\n')
        .collect::<Vec<_>>()
        .chunks(7)
        .take(300)
        .map(|lines| {
            let mut v = lines.join(&b'\n');
            v.extend_from_slice(b"\n# EOF\n");
            v
        })
        .collect();
    openmetrics(&full);
    for s in [
        "# HELP a_seconds x\n# TYPE a_seconds histogram\n# UNIT a_seconds seconds\na_seconds_bucket{le=\"1\"} 1 2 # {t=\"x\"} 1 2\n# EOF",
        "{\"a.b\",\"c d\"=\"e\\\\\\\"\\n\"} NaN\n# EOF\n",
        "x{a=\"\",b=\"v\",} +Inf -1.5e3\n# TYPE s summary\ns{quantile=\"0.5\"} 1\n# EOF\n",
    ] {
        seeds.push(s.as_bytes().to_vec());
    }
    for s in &seeds {
        openmetrics(s);
    }
    let mut rng = SplitMix64(0x0e11);
    for _ in 0..20_000 {
        let mut d = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(3) {
            match rng.below(4) {
                0 => {
                    let i = rng.below(d.len().max(1));
                    if let Some(b) = d.get_mut(i) {
                        *b = ALPHABET[rng.below(ALPHABET.len())];
                    }
                }
                1 => d.truncate(rng.below(d.len() + 1)),
                2 => {
                    let i = rng.below(d.len() + 1);
                    d.insert(i, ALPHABET[rng.below(ALPHABET.len())]);
                }
                _ => {
                    let i = rng.below(d.len().max(1));
                    if let Some(b) = d.get_mut(i) {
                        *b = rng.next_u64() as u8;
                    }
                }
            }
        }
        openmetrics(&d);
    }
}
