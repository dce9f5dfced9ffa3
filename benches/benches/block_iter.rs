//! Series + chunk iteration throughput of a block: open a block written by our block writer
//! (1 000 series × 720 samples, 15 s apart with jitter: one 3 h range of scrapes), select every
//! series through the multi-block querier and decode every sample.
//!
//! `cargo bench -p tsdb-benches --bench block_iter`

use std::collections::BTreeSet;

use chunkenc::{Encoding, XorAppender};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tsdb_core::block::writer::{BlockWriter, ChunkData};
use tsdb_core::block::Tombstones;
use tsdb_core::querier::Blocks;
use tsdb_core::storage::{Series, ValueType};
use tsdb_index::{Labels, MatchType, Matcher};

const SERIES: usize = 1000;
const SAMPLES: usize = 720;

fn build_block(dir: &std::path::Path) {
    let mut series: Vec<Labels> = (0..SERIES)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", format!("metric_{}", i % 10)),
                ("instance", format!("host-{}:9100", i / 10)),
                ("job", "node".to_string()),
            ])
        })
        .collect();
    series.sort();
    let mut syms = BTreeSet::new();
    for l in &series {
        for x in l.iter() {
            syms.insert(x.name.to_string());
            syms.insert(x.value.to_string());
        }
    }
    let mut w = BlockWriter::create(dir, 0, SAMPLES as i64 * 15_000).expect("create block");
    w.add_symbols(syms.iter().map(String::as_str))
        .expect("symbols");
    for (i, l) in series.iter().enumerate() {
        let mut chunks = Vec::new();
        let mut app = XorAppender::new();
        let mut first = 0;
        let mut v = 0.0;
        for k in 0..SAMPLES {
            let t = k as i64 * 15_000 + ((k * 7 + i) % 13) as i64;
            v += ((k * i) % 17) as f64;
            if app.num_samples() == 120 {
                let done = std::mem::replace(&mut app, XorAppender::new());
                chunks.push((done.bytes().to_vec(), first, t - 15_000, 120u64));
            }
            if app.num_samples() == 0 {
                first = t;
            }
            app.append(t, v).expect("append");
        }
        let last = (SAMPLES as i64 - 1) * 15_000 + 12;
        chunks.push((app.bytes().to_vec(), first, last, app.num_samples() as u64));
        let data: Vec<ChunkData<'_>> = chunks
            .iter()
            .map(|(d, a, b, n)| ChunkData {
                encoding: Encoding::Xor as u8,
                data: d,
                min_time: *a,
                max_time: *b,
                num_samples: *n,
            })
            .collect();
        w.add_series(l, &data).expect("series");
    }
    w.finish(&Tombstones::new()).expect("finish");
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("tsdb-block-iter-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    build_block(&dir);
    let blocks = Blocks::open_dir(&dir).expect("open");
    let all = [Matcher::new(MatchType::Regexp, "__name__", ".+").expect("matcher")];
    let mut g = c.benchmark_group("block_iter");
    g.throughput(Throughput::Elements((SERIES * SAMPLES) as u64));
    g.bench_function("select_all_decode_all", |b| {
        b.iter(|| {
            let q = blocks.multi_querier(i64::MIN, i64::MAX);
            let mut set = q.select_merged(&all).expect("select");
            let mut n = 0usize;
            let mut sum = 0.0;
            while let Some(s) = set.next_merged() {
                let s = s.expect("series");
                let mut it = s.iter();
                while it.next() == ValueType::Float {
                    sum += it.at().1;
                    n += 1;
                }
            }
            assert_eq!(n, SERIES * SAMPLES);
            sum
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
