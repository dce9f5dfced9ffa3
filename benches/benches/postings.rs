//! Postings set operations on large lists.
//!
//! `cargo bench -p tsdb-benches --bench postings`. The `prom/*` cases use exactly the data of
//! Prometheus' `BenchmarkIntersect` and `BenchmarkMerge` (tsdb/index/postings_test.go), so they
//! compare with `go test -run '^$' -bench 'BenchmarkIntersect|BenchmarkMerge'
//! github.com/prometheus/prometheus/tsdb/index`. The `be/*` cases run over big-endian lists as
//! they sit in an mmapped index file (1M and 100k entries).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tsdb_index::postings::{
    intersect, merge, merge_lists, without, BigEndianPostings, BoxPostings, ListPostings, Postings,
};

fn drain(mut p: BoxPostings<'_>) -> u64 {
    let mut n = 0u64;
    while p.next() {
        n += 1;
    }
    assert!(p.err().is_none());
    n
}

fn list(v: &[u64]) -> BoxPostings<'_> {
    Box::new(ListPostings::new(v))
}

fn be(v: &[u8]) -> BoxPostings<'_> {
    Box::new(BigEndianPostings::new(v))
}

fn encode(ids: impl Iterator<Item = u64>) -> Vec<u8> {
    ids.flat_map(|i| (i as u32).to_be_bytes()).collect()
}

/// A fixed pseudo-random permutation of `u64` (SplitMix64's finalizer), for reproducible data.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn prometheus_cases(c: &mut Criterion) {
    let mut g = c.benchmark_group("prom/intersect");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    {
        let a: Vec<u64> = (0..10_000_000).step_by(2).collect();
        let mut b: Vec<u64> = (5_000_000..5_000_100).step_by(4).collect();
        b.extend((5_090_000..5_090_600).step_by(4));
        let cc: Vec<u64> = (4_990_000..5_100_000).collect();
        let d: Vec<u64> = (4_000_000..6_000_000).collect();
        g.bench_function("LongPostings1", |bn| {
            bn.iter(|| drain(intersect(vec![list(&a), list(&b), list(&cc), list(&d)])))
        });
    }
    {
        let a: Vec<u64> = (0..12_500_000).collect();
        let b: Vec<u64> = (7_500_000..12_500_000).collect();
        let cc: Vec<u64> = (9_000_000..20_000_000).collect();
        let d: Vec<u64> = (10_000_000..12_000_000).collect();
        g.bench_function("LongPostings2", |bn| {
            bn.iter(|| drain(intersect(vec![list(&a), list(&b), list(&cc), list(&d)])))
        });
    }
    {
        let refs: Vec<Vec<u64>> = (0..100_000).map(|_| (1..100).collect()).collect();
        g.bench_function("ManyPostings", |bn| {
            bn.iter(|| drain(intersect(refs.iter().map(|r| list(r)).collect())))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("prom/merge");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    let refs: Vec<Vec<u64>> = (0..100_000u64)
        .map(|i| (1..100u64).map(|j| i + j * 100_000).collect())
        .collect();
    for n in [1usize, 10, 10_000, 100_000] {
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bn, &n| {
            bn.iter(|| drain(merge(refs[..n].iter().map(|r| list(r)).collect())))
        });
    }
    g.finish();

    // The same lists as concrete `ListPostings` (no dynamic call per element), as Go's
    // `BenchmarkMerge` instantiates its generic `Merge` with `*ListPostings`.
    let mut g = c.benchmark_group("prom/merge_lists");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for n in [1usize, 10, 10_000, 100_000] {
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bn, &n| {
            bn.iter(|| {
                drain(merge_lists(
                    refs[..n].iter().map(|r| ListPostings::new(r)).collect(),
                ))
            })
        });
    }
    g.finish();
}

fn big_endian_cases(c: &mut Criterion) {
    let mut g = c.benchmark_group("be");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    // 1M even IDs and 100k multiples of 10 (all in the first list): a typical `a="x", b="y"`.
    let big = encode((0..1_000_000u64).map(|i| i * 2));
    let small = encode((0..100_000u64).map(|i| i * 10));
    let sparse = encode((0..100_000u64).map(|i| i * 20 + 1));
    g.bench_function("intersect_1M_100k", |bn| {
        bn.iter(|| black_box(drain(intersect(vec![be(&big), be(&small)]))))
    });
    g.bench_function("intersect_1M_100k_disjoint", |bn| {
        bn.iter(|| black_box(drain(intersect(vec![be(&big), be(&sparse)]))))
    });
    g.bench_function("merge_1M_100k", |bn| {
        bn.iter(|| black_box(drain(merge(vec![be(&big), be(&small)]))))
    });
    // Ten disjoint lists of 100k (a regex over ten values).
    let tens: Vec<Vec<u8>> = (0..10u64)
        .map(|k| encode((0..100_000u64).map(move |i| i * 10 + k)))
        .collect();
    g.bench_function("merge_10x100k", |bn| {
        bn.iter(|| black_box(drain(merge(tens.iter().map(|t| be(t)).collect()))))
    });
    // 1M IDs dealt out at random to 64 lists (a regex over 64 values of a label, whose series
    // interleave arbitrarily), so which list holds the next ID is unpredictable.
    let mut dealt: Vec<Vec<u64>> = vec![Vec::new(); 64];
    for i in 0..1_000_000u64 {
        dealt[(splitmix64(i) % 64) as usize].push(i);
    }
    let dealt: Vec<Vec<u8>> = dealt.into_iter().map(|l| encode(l.into_iter())).collect();
    g.bench_function("merge_64_random_1M", |bn| {
        bn.iter(|| black_box(drain(merge(dealt.iter().map(|t| be(t)).collect()))))
    });
    g.bench_function("without_1M_100k", |bn| {
        bn.iter(|| black_box(drain(without(be(&big), be(&small)))))
    });
    g.bench_function("drain_1M", |bn| bn.iter(|| black_box(drain(be(&big)))));
    g.finish();
}

criterion_group!(benches, prometheus_cases, big_endian_cases);
criterion_main!(benches);
