//! Index reader and writer throughput on the 1M-series index of `postings_for_matchers`.
//!
//! `cargo bench -p tsdb-benches --bench index_reader`: writing the index, opening it, decoding
//! series (labels and chunk metas), listing label values and looking up postings.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tsdb_index::postings::{collect, Postings};
use tsdb_index::Reader;

#[path = "support/index_data.rs"]
mod index_data;
use index_data::SUFFIX;

fn bench(c: &mut Criterion) {
    let series = index_data::bench_series(index_data::n_max());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");

    let mut g = c.benchmark_group("index");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(series.len() as u64));
    g.bench_function("write", |b| {
        b.iter(|| index_data::write_index(&path, &series))
    });
    g.bench_function("open", |b| {
        b.iter(|| black_box(Reader::open(&path).unwrap()))
    });

    let r = Reader::open(&path).unwrap();
    let ids = collect(r.all_postings().unwrap()).unwrap();
    g.bench_function("series_all", |b| {
        let (mut ls, mut cs) = (Vec::new(), Vec::new());
        b.iter(|| {
            let mut n = 0usize;
            for &id in &ids {
                r.series(id, &mut ls, &mut cs).unwrap();
                n += ls.len();
            }
            n
        })
    });
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("label_values_i", |b| {
        b.iter(|| black_box(r.label_values("i").unwrap().len()))
    });
    let values: Vec<String> = (0..100_000).map(|i| format!("{i}{SUFFIX}")).collect();
    g.bench_function("postings_lookup_each_i", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for v in &values {
                let mut p = r.postings("i", &[v]).unwrap();
                while p.next() {
                    n += 1;
                }
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
