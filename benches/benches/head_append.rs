//! Head append throughput, WAL included (records encoded, snappy-compressed, written and
//! fsynced at every commit).
//!
//! `go_peer_workload` is the workload of `go-peer -only promql`'s `tsdb_head_append` line
//! (1,000 × 2 series, 480 steps of 15 s, one commit per step, append by reference after the
//! first step), so ns/sample compare directly; Prometheus does not fsync per commit, so the
//! `_no_fsync` variant is the like-for-like one and `_fsync_per_commit` (our default) adds
//! one fsync per commit. `100k_series` appends one sample to each of 100,000 series per
//! commit (fsync per commit).
//!
//! Run: `cargo bench -p tsdb-benches --bench head_append`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tsdb_core::db::{Db, DbOptions};
use tsdb_index::Labels;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn go_peer_series(n: usize) -> Vec<Labels> {
    let codes = ["200", "404", "500"];
    let mut out = Vec::with_capacity(2 * n);
    for s in 0..n {
        let inst = format!("i-{}", s % 50);
        let series = s.to_string();
        out.push(Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("instance", inst.as_str()),
            ("code", codes[s % 3]),
            ("series", series.as_str()),
        ]));
        out.push(Labels::from_pairs([
            ("__name__", "node_temp"),
            ("job", "node"),
            ("instance", inst.as_str()),
            ("series", series.as_str()),
        ]));
    }
    out
}

/// Appends `steps` commits of one sample per series; returns samples appended.
fn run(db: &Db, lsets: &[Labels], steps: usize, rng: &mut SplitMix64) -> usize {
    let mut refs = vec![0u64; lsets.len()];
    let mut vals = vec![0f64; lsets.len()];
    let t0 = 1_700_000_000_000i64;
    for st in 0..steps {
        let mut app = db.appender();
        let ts = t0 + st as i64 * 15_000;
        for (i, ls) in lsets.iter().enumerate() {
            if i % 2 == 0 {
                vals[i] += (rng.next() % 100) as f64;
            } else {
                vals[i] = 20.0 + (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 10.0;
            }
            refs[i] = if st == 0 {
                app.append(ls, ts, vals[i]).unwrap()
            } else {
                app.append_ref(refs[i], ts, vals[i]).unwrap()
            };
        }
        app.commit().unwrap();
    }
    lsets.len() * steps
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("head_append");
    g.sample_size(10);

    let lsets = go_peer_series(1000);
    g.throughput(Throughput::Elements((lsets.len() * 480) as u64));
    for (name, sync) in [
        ("go_peer_workload_fsync_per_commit", true),
        ("go_peer_workload_no_fsync", false),
    ] {
        let mut opts = DbOptions::default();
        opts.wal.sync_on_commit = sync;
        g.bench_function(name, |b| {
            b.iter_batched(
                || tempfile::tempdir().unwrap(),
                |dir| {
                    let db = Db::open(dir.path(), opts.clone()).unwrap();
                    let n = run(&db, &lsets, 480, &mut SplitMix64(42));
                    db.close().unwrap();
                    n
                },
                BatchSize::PerIteration,
            )
        });
    }

    let lsets: Vec<Labels> = go_peer_series(50_000);
    g.throughput(Throughput::Elements((lsets.len() * 10) as u64));
    g.bench_function("100k_series", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let db = Db::open(dir.path(), DbOptions::default()).unwrap();
                let n = run(&db, &lsets, 10, &mut SplitMix64(7));
                db.close().unwrap();
                n
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
