//! Runs the `api_params` fuzz body over typical API requests and pseudo-random mutations.

use tsdb_fuzz::api_params::api_params;
use tsdb_fuzz::harness::SplitMix64;

const SEEDS: &[&[u8]] = &[
    b"query=sum(rate(x[5m]))&time=1700000000.123",
    b"query=up&start=2015-07-01T20:10:51.781Z&end=1435781460&step=15s",
    b"match[]=up&match[]={job=~\"a.*\"}&start=-1e300&end=1e300&step=0.0001\0query=down&step=1h30m",
    b"step=%zz&time=NaN&start=inf&end=9223372036854775807&step=-5",
];

#[test]
fn seeds_and_mutations_never_panic() {
    let mut rng = SplitMix64(0xa11_5eed);
    for seed in SEEDS {
        api_params(seed);
        for _ in 0..5_000 {
            let mut d = seed.to_vec();
            for _ in 0..1 + rng.below(4) {
                match rng.below(3) {
                    0 => {
                        let i = rng.below(d.len().max(1));
                        if let Some(b) = d.get_mut(i) {
                            *b = rng.next_u64() as u8;
                        }
                    }
                    1 => d.truncate(rng.below(d.len() + 1)),
                    _ => {
                        let i = rng.below(d.len() + 1);
                        d.insert(i, b"0123456789.e+-smhdwy=&%\0:T"[rng.below(26)]);
                    }
                }
            }
            api_params(&d);
        }
    }
}
