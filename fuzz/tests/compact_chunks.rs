//! Runs the `compact_chunks` fuzz body over valid overlapping chunk lists (XOR and histogram
//! chunks from Prometheus' encoders' reference data) and pseudo-random mutations of them.

use chunkenc::{Encoding, XorAppender};
use tsdb_fuzz::compact_chunks::{compact_chunks, encode};
use tsdb_fuzz::harness::{histogram_reference_chunks, SplitMix64};

fn xor(ts: impl Iterator<Item = i64>) -> (i64, i64, Vec<u8>) {
    let mut a = XorAppender::new();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for t in ts {
        a.append(t, t as f64 * 0.5).unwrap();
        lo = lo.min(t);
        hi = hi.max(t);
    }
    (lo, hi, a.into_chunk().into_bytes())
}

#[test]
fn compact_chunks_survives_seeds_and_mutations() {
    let mut seeds = Vec::new();
    let (a0, a1, a) = xor((0..40).map(|t| t * 10));
    let (b0, b1, b) = xor((0..60).map(|t| t * 7 + 100));
    let (c0, c1, c) = xor((0..20).map(|t| t * 3 + 150));
    seeds.push(encode(&[
        (0, Encoding::Xor, a0, a1, a.clone()),
        (1, Encoding::Xor, b0, b1, b.clone()),
        (2, Encoding::Xor, c0, c1, c.clone()),
        (0, Encoding::Xor, a0, a1, a.clone()),
    ]));
    for enc in [2u64, 3] {
        let hs = histogram_reference_chunks(enc);
        assert!(!hs.is_empty(), "histogram reference chunks");
        let e = if enc == 2 {
            Encoding::Histogram
        } else {
            Encoding::FloatHistogram
        };
        // Time ranges are made up (the merge only uses them to find overlaps).
        let lists: Vec<_> = hs
            .iter()
            .take(6)
            .enumerate()
            .map(|(i, h)| {
                (
                    (i % 3) as u8,
                    e,
                    (i as i64) * 50,
                    (i as i64) * 50 + 400,
                    h.clone(),
                )
            })
            .collect();
        seeds.push(encode(&lists));
        let mut mixed = lists.clone();
        mixed.push((1, Encoding::Xor, b0, b1, b.clone()));
        seeds.push(encode(&mixed));
    }
    for s in &seeds {
        compact_chunks(s);
    }
    let mut rng = SplitMix64(0xC0_4AC7);
    for _ in 0..10_000 {
        let mut d = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(4) {
                0 if !d.is_empty() => {
                    let i = rng.below(d.len());
                    d[i] ^= 1 << rng.below(8);
                }
                1 => d.truncate(rng.below(d.len() + 1)),
                2 => {
                    let i = rng.below(d.len() + 1);
                    d.insert(i.min(d.len()), rng.next_u64() as u8);
                }
                _ => {
                    if !d.is_empty() {
                        let i = rng.below(d.len());
                        d[i] = rng.next_u64() as u8;
                    }
                }
            }
        }
        compact_chunks(&d);
    }
}
