//! Downsampling end to end: three days of raw data (counters with resets, gauges, a gauge
//! with a staleness gap) written as a Prometheus block; downsampled to 5 m and on to 1 h and
//! every aggregate checked against values computed from the raw samples; then the bucket
//! compactor downsamples the bucket (honouring a no-downsample mark), the bucket store serves
//! both resolutions through the StoreAPI, and PromQL through the querier over the 5 m data
//! agrees with the same queries over the raw data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use chunkenc::XorAppender;
use storeapi::downsampled::CounterResets;
use storeapi::grpc::proto::store_client::StoreClient;
use storeapi::grpc::proto::{series_response, Aggr, LabelMatcher, SeriesRequest};
use storeapi::remote::RemoteStores;
use tsdb_bucket::compactor::{BucketCompactor, CompactorConfig};
use tsdb_bucket::downsample::aggregate::window_end;
use tsdb_bucket::downsample::{
    downsample_block, AggrChunk, AggrType, AGGR_CHUNK_ENCODING, RES_1H, RES_5M,
};
use tsdb_bucket::meta::{NoDownsampleMark, NO_DOWNSAMPLE_MARK_FILENAME};
use tsdb_bucket::{Bucket, BucketStore, Shipper};
use tsdb_core::block::meta::BlockMeta;
use tsdb_core::block::reader::Block;
use tsdb_core::block::writer::{BlockWriter, ChunkData};
use tsdb_index::postings::Postings;
use tsdb_index::Labels;
use ulid::Ulid;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const STEP: i64 = 30_000;
/// An hour-aligned start (2023-11-14T22:00:00Z).
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR;
const SPAN: i64 = 72 * HOUR;
const STALE: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

type Samples = Vec<(i64, f64)>;

/// Sample `i`'s timestamp: every 30 s, jittered by 1..997 ms so that no sample sits on a
/// window boundary.
fn ts(i: i64) -> i64 {
    T0 + i * STEP + 1 + (i * 7) % 997
}

/// The raw series: two counters (steady increments, resets every few hours), two gauges and
/// a gauge with a run of staleness markers.
fn raw_series() -> BTreeMap<Labels, Samples> {
    let n = SPAN / STEP;
    let mut out = BTreeMap::new();
    for (job, reset_every) in [("api", 7 * 120 + 13), ("web", 11 * 120 + 41)] {
        let mut v = 0.0;
        let s = (0..n)
            .map(|i| {
                if i > 0 && i % reset_every == 0 {
                    v = (i % 5) as f64;
                } else {
                    v += 2.0 + (i % 3) as f64;
                }
                (ts(i), v)
            })
            .collect();
        out.insert(
            Labels::from_pairs([("__name__", "requests_total"), ("job", job)]),
            s,
        );
    }
    for (room, phase) in [("a", 0.0), ("b", 1.3)] {
        let s = (0..n)
            .map(|i| {
                let x = i as f64 * std::f64::consts::TAU / 2880.0 + phase;
                (ts(i), 20.0 + 5.0 * x.sin() + ((i * 13) % 7) as f64 * 0.1)
            })
            .collect();
        out.insert(
            Labels::from_pairs([("__name__", "temperature"), ("room", room)]),
            s,
        );
    }
    let s = (0..n)
        .map(|i| {
            let v = if (3000..3100).contains(&i) {
                STALE
            } else {
                (i % 17) as f64
            };
            (ts(i), v)
        })
        .collect();
    out.insert(Labels::from_pairs([("__name__", "queue_depth")]), s);
    out
}

/// Writes `series` as one block of `[T0, T0 + SPAN)` under `parent`, in 120-sample chunks.
fn write_raw_block(parent: &Path, series: &BTreeMap<Labels, Samples>) -> PathBuf {
    let meta = BlockMeta::new_level1(Ulid::new(), T0, T0 + SPAN);
    let mut w = BlockWriter::create_with_meta(parent, meta).unwrap();
    let mut symbols: Vec<String> = series
        .keys()
        .flat_map(|l| {
            l.iter()
                .flat_map(|l| [l.name.to_string(), l.value.to_string()])
        })
        .collect();
    symbols.sort();
    symbols.dedup();
    w.add_symbols(symbols.iter().map(String::as_str)).unwrap();
    for (labels, samples) in series {
        let datas: Vec<(Vec<u8>, i64, i64, u64)> = samples
            .chunks(120)
            .map(|part| {
                let mut app = XorAppender::new();
                for &(t, v) in part {
                    app.append(t, v).unwrap();
                }
                let n = part.len() as u64;
                (
                    app.into_chunk().into_bytes(),
                    part[0].0,
                    part[part.len() - 1].0,
                    n,
                )
            })
            .collect();
        let chunks: Vec<ChunkData<'_>> = datas
            .iter()
            .map(|(d, mint, maxt, n)| ChunkData {
                encoding: 1,
                data: d,
                min_time: *mint,
                max_time: *maxt,
                num_samples: *n,
            })
            .collect();
        w.add_series(labels, &chunks).unwrap();
    }
    let meta = w.finish(&Default::default()).unwrap().unwrap();
    parent.join(meta.ulid.to_string())
}

/// Every series of a downsampled block: its five aggregates, each concatenated over the
/// series' chunks.
fn read_aggregates(dir: &Path) -> BTreeMap<Labels, [Samples; 5]> {
    let block = Block::open(dir).unwrap();
    let index = block.index();
    let mut p = index.all_postings().unwrap();
    let (mut lbuf, mut metas) = (Vec::new(), Vec::new());
    let mut out = BTreeMap::new();
    while p.next() {
        index.series(p.at(), &mut lbuf, &mut metas).unwrap();
        let labels = Labels::from_sorted(lbuf.iter().map(|l| (l.name, l.value)));
        let mut aggs: [Samples; 5] = Default::default();
        for m in &metas {
            let raw = block.chunks().chunk(m.chunk_ref).unwrap();
            assert_eq!(raw.encoding, AGGR_CHUNK_ENCODING);
            let c = AggrChunk::decode(raw.data).unwrap();
            for a in AggrType::ALL {
                let part = c.get(a).expect("every aggregate present");
                let mut it = chunkenc::iter(part.encoding, part.data).unwrap();
                while it.next().unwrap().is_some() {
                    aggs[a as usize].push(it.at());
                }
            }
        }
        out.insert(labels, aggs);
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Checks a downsampled block's aggregates against the raw samples: per window of
/// `resolution`, count, sum, min and max of the non-NaN samples, stamped with the window
/// end (the last sample's time for the last window); and the counter, read with resets
/// applied, equal at each of its points to the raw counter (resets removed) at that time.
fn check_against_raw(
    got: &BTreeMap<Labels, [Samples; 5]>,
    raw: &BTreeMap<Labels, Samples>,
    resolution: i64,
) {
    assert_eq!(got.len(), raw.len());
    for (labels, samples) in raw {
        let aggs = &got[labels];
        let valid: Samples = samples.iter().copied().filter(|s| !s.1.is_nan()).collect();
        // Per window: count, sum, min, max and the last sample's time.
        let mut windows: BTreeMap<i64, (f64, f64, f64, f64, i64)> = BTreeMap::new();
        for &(t, v) in &valid {
            let w = windows.entry(window_end(t, resolution)).or_insert((
                0.0,
                0.0,
                f64::MAX,
                -f64::MAX,
                t,
            ));
            w.0 += 1.0;
            w.1 += v;
            w.2 = w.2.min(v);
            w.3 = w.3.max(v);
            w.4 = t;
        }
        for (a, f) in [
            (
                AggrType::Count,
                (|w| w.0) as fn(&(f64, f64, f64, f64, i64)) -> f64,
            ),
            (AggrType::Sum, |w| w.1),
            (AggrType::Min, |w| w.2),
            (AggrType::Max, |w| w.3),
        ] {
            let have = &aggs[a as usize];
            assert_eq!(have.len(), windows.len(), "{labels} {a}");
            for (&(t, v), (end, w)) in have.iter().zip(&windows) {
                // Stamped with the window end, or with the last sample of the batch when the
                // window closes a batch (Thanos cuts batches at window ends).
                assert!(t == *end || t == w.4, "{labels} {a}: {t} in window {end}");
                assert!(close(v, f(w)), "{labels} {a} at {t}: {v} != {}", f(w));
            }
        }
        let stamps: Vec<i64> = aggs[AggrType::Count as usize].iter().map(|s| s.0).collect();
        // The raw counter with resets removed, at each raw sample.
        let mut cum = Vec::with_capacity(valid.len());
        let (mut total, mut last) = (0.0, f64::NAN);
        for &(t, v) in &valid {
            total = if last.is_nan() {
                v
            } else if v < last {
                total + v
            } else {
                total + v - last
            };
            last = v;
            cum.push((t, total));
        }
        let at = |t: i64| -> f64 {
            let i = cum.partition_point(|c| c.0 <= t);
            cum[i - 1].1
        };
        let mut resets = CounterResets::new();
        let adjusted: Samples = aggs[AggrType::Counter as usize]
            .iter()
            .filter_map(|&(t, v)| resets.push(t, v))
            .collect();
        for &(t, v) in &adjusted {
            assert!(close(v, at(t)), "{labels} counter at {t}: {v} != {}", at(t));
        }
        for t in &stamps {
            assert!(
                adjusted.iter().any(|a| a.0 == *t),
                "{labels}: no counter point at window {t}"
            );
        }
        assert_eq!(resets.last_raw(), Some(valid.last().unwrap().1));
    }
}

#[test]
fn downsampled_aggregates_match_the_raw_samples() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_series();
    let raw_dir = write_raw_block(dir.path(), &raw);
    let raw_meta = Block::open(&raw_dir).unwrap().meta().clone();

    let out5 = dir.path().join("5m");
    std::fs::create_dir_all(&out5).unwrap();
    let r5 = downsample_block(&raw_dir, RES_5M, &out5).unwrap();
    assert_eq!(r5.skipped_histogram_chunks, 0);
    let m5 = r5.meta.unwrap();
    assert_eq!(m5.thanos.downsample.resolution, RES_5M);
    assert_eq!(m5.thanos.source, "compactor");
    assert_eq!(
        (m5.block.min_time, m5.block.max_time),
        (raw_meta.min_time, raw_meta.max_time)
    );
    assert_eq!(m5.block.compaction.sources, raw_meta.compaction.sources);
    assert_ne!(m5.ulid(), raw_meta.ulid);
    let dir5 = out5.join(m5.ulid().to_string());
    // The meta.json on disk is the Thanos one.
    let on_disk = tsdb_bucket::downsample::block::read_thanos_meta(&dir5).unwrap();
    assert_eq!(on_disk, m5);
    let five = read_aggregates(&dir5);
    check_against_raw(&five, &raw, RES_5M);
    // 72 h of 5-minute windows per series, cut into chunks of at most ~140 windows.
    assert_eq!(
        five[&Labels::from_pairs([("__name__", "temperature"), ("room", "a")])][0].len(),
        864
    );
    assert!(m5.block.stats.num_chunks >= 5 * 864 / 141);

    // A raw block cannot be "downsampled" to its own resolution, nor 5 m to 5 m.
    assert!(downsample_block(&dir5, RES_5M, &out5).is_err());

    let out1 = dir.path().join("1h");
    std::fs::create_dir_all(&out1).unwrap();
    let m1 = downsample_block(&dir5, RES_1H, &out1)
        .unwrap()
        .meta
        .unwrap();
    assert_eq!(m1.thanos.downsample.resolution, RES_1H);
    assert_eq!(m1.block.compaction.sources, raw_meta.compaction.sources);
    let hour = read_aggregates(&out1.join(m1.ulid().to_string()));
    let size = |d: &Path| Block::open(d).unwrap().size();
    eprintln!(
        "raw block: {} bytes, {} chunks; 5m: {} bytes, {} chunks; 1h: {} bytes, {} chunks",
        size(&raw_dir),
        raw_meta.stats.num_chunks,
        size(&dir5),
        m5.block.stats.num_chunks,
        size(&out1.join(m1.ulid().to_string())),
        m1.block.stats.num_chunks
    );
    check_against_raw(&hour, &raw, RES_1H);

    // The real promtool opens the downsampled block: its meta and index are Prometheus'.
    let promtool = std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/prometheus-ref/usr/bin")
        })
        .join("promtool");
    let list = std::process::Command::new(&promtool)
        .args(["tsdb", "list", "-r"])
        .arg(&out5)
        .output()
        .expect("run promtool (set PROMETHEUS_BIN)");
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(listing.contains(&m5.ulid().to_string()), "{listing}");
    assert!(listing.contains("72h0m0s"), "{listing}");
    // promtool analyze reads the index (its chunk statistics skip the unknown encoding).
    let analyze = std::process::Command::new(&promtool)
        .args(["tsdb", "analyze"])
        .arg(&out5)
        .output()
        .unwrap();
    assert!(
        analyze.status.success(),
        "{}",
        String::from_utf8_lossy(&analyze.stderr)
    );
    let report = String::from_utf8_lossy(&analyze.stdout);
    assert!(report.contains("Total Series: 5"), "{report}");
}

/// A raw block uploaded to `bucket` with external labels.
async fn upload(bucket: &Bucket, dir: &Path, labels: &[(&str, &str)]) -> Ulid {
    let meta = Block::open(dir).unwrap().meta().clone();
    let work = dir.parent().unwrap();
    Shipper::new(work, bucket.clone())
        .with_labels(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .without_state_file()
        .upload_block(dir, &meta)
        .await
        .unwrap();
    meta.ulid
}

fn floats(v: &promql::value::Value) -> BTreeMap<String, Vec<(i64, f64)>> {
    match v {
        promql::value::Value::Matrix(m) => m
            .iter()
            .map(|s| {
                (
                    s.metric.to_string(),
                    s.floats.iter().map(|p| (p.t, p.f)).collect(),
                )
            })
            .collect(),
        promql::value::Value::Vector(vec) => vec
            .iter()
            .map(|s| (s.metric.to_string(), vec![(s.t, s.f)]))
            .collect(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn compactor_downsamples_and_promql_reads_the_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket_dir = dir.path().join("bucket");
    std::fs::create_dir_all(&bucket_dir).unwrap();
    let bucket = Bucket::from_url(&format!("file://{}", bucket_dir.display())).unwrap();
    let raw = raw_series();
    let gen = dir.path().join("gen");
    std::fs::create_dir_all(&gen).unwrap();
    let a = write_raw_block(&gen, &raw);
    let only_queue: BTreeMap<Labels, Samples> = raw
        .iter()
        .filter(|(l, _)| l.get("__name__") == Some("queue_depth"))
        .map(|(l, s)| (l.clone(), s.clone()))
        .collect();
    let b = write_raw_block(&gen, &only_queue);
    let (id_a, id_b) = rt.block_on(async {
        let id_a = upload(&bucket, &a, &[("cluster", "one")]).await;
        let id_b = upload(&bucket, &b, &[("cluster", "two")]).await;
        let mark = NoDownsampleMark::now(id_b, "manual", "kept raw on purpose");
        bucket
            .put(
                &format!("{id_b}/{NO_DOWNSAMPLE_MARK_FILENAME}"),
                Bytes::from(mark.to_json()),
            )
            .await
            .unwrap();
        (id_a, id_b)
    });

    let mut cfg = CompactorConfig::new(dir.path().join("work"));
    cfg.delete_delay_secs = 3600;
    let compactor = BucketCompactor::new(bucket.clone(), cfg.clone());
    let report = rt.block_on(compactor.run()).unwrap();
    assert_eq!(report.downsampled.len(), 1, "{report:?}");
    assert_eq!(report.downsampled[0].input, id_a);
    assert_eq!(report.downsampled[0].resolution, RES_5M);
    let id_5m = report.downsampled[0].output.unwrap();
    // Done for all its sources: a second pass leaves it alone; 72 h is too short for 1 h.
    let again = rt.block_on(compactor.run()).unwrap();
    assert!(again.downsampled.is_empty(), "{again:?}");
    let metas = rt
        .block_on(tsdb_bucket::shipper::bucket_metas(&bucket))
        .unwrap();
    let m5 = metas.iter().find(|m| m.ulid() == id_5m).unwrap();
    assert_eq!(m5.thanos.downsample.resolution, RES_5M);
    assert_eq!(
        m5.thanos.labels.get("cluster").map(String::as_str),
        Some("one")
    );
    assert_eq!(m5.block.compaction.sources, vec![id_a]);
    assert!(!metas
        .iter()
        .any(|m| m.ulid() != id_b
            && m.thanos.labels.get("cluster").map(String::as_str) == Some("two")));
    // With downsampling off, nothing is downsampled.
    let mut off = cfg.clone();
    off.downsampling = false;
    let report = rt
        .block_on(BucketCompactor::new(bucket.clone(), off).run())
        .unwrap();
    assert!(report.downsampled.is_empty());

    // The store gateway over the bucket, as a StoreAPI server.
    let store = Arc::new(BucketStore::new(bucket.clone(), dir.path().join("cache")).unwrap());
    assert_eq!(store.sync().unwrap().serving, 3);
    let local =
        storeapi::grpc::LocalStore::new(store.clone(), Labels::default(), || (T0, T0 + SPAN))
            .with_chunked_storage(store.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(storeapi::grpc::serve(Arc::new(local), listener, async {
        let _ = stopped.await;
    }));
    let stores =
        RemoteStores::new(std::slice::from_ref(&addr), Vec::new(), rt.handle().clone()).unwrap();
    let raw_q = stores.clone();
    let ds_q = stores.with_max_source_resolution(RES_5M);

    let engine = promql::engine::Engine::default();
    let (start, end, step) = (T0 + 6 * HOUR, T0 + 70 * HOUR, HOUR);
    let run = |q: &RemoteStores, query: &str| {
        let expr = promql::parser::parse(query).unwrap();
        let r = engine.range_query(q, &expr, start, end, step, None);
        floats(&r.value.unwrap())
    };
    let compare = |query: &str, tolerance: f64| {
        let (want, got) = (run(&raw_q, query), run(&ds_q, query));
        assert_eq!(
            want.keys().collect::<Vec<_>>(),
            got.keys().collect::<Vec<_>>(),
            "{query}"
        );
        for (series, w) in &want {
            let g = &got[series];
            assert_eq!(w.len(), g.len(), "{query} {series}");
            for (a, b) in w.iter().zip(g) {
                let rel = (a.1 - b.1).abs() / a.1.abs().max(1e-9);
                assert!(
                    a.0 == b.0 && rel <= tolerance,
                    "{query} {series}: raw {a:?} vs downsampled {b:?}"
                );
            }
        }
        want.len()
    };
    // Every window lies wholly inside or outside each hour-aligned range (no sample sits on a
    // boundary), so these agree exactly up to float summation order.
    assert_eq!(compare("max_over_time(temperature[1h])", 0.0), 2);
    assert_eq!(compare("min_over_time(requests_total[1h])", 0.0), 2);
    assert_eq!(compare("sum_over_time(temperature[1h])", 1e-12), 2);
    // Each 5 m window holds exactly 10 samples, so the mean of window means is the mean.
    assert_eq!(compare("avg_over_time(temperature[1h])", 1e-12), 2);
    // The counter aggregate is seen at window ends only: the slope spans 55 of the 60 minutes
    // of each range; with steady increments the extrapolated rates agree within 2 %.
    assert_eq!(compare("rate(requests_total[1h])", 0.02), 2);
    assert_eq!(compare("increase(requests_total[2h])", 0.02), 2);

    // The aggregates really are served: count_over_time counts windows (Thanos does the
    // same), 12 per hour, where the raw data has 120 samples.
    let counts = run(&ds_q, "count_over_time(temperature{room=\"a\"}[1h])");
    assert!(counts.values().flatten().all(|p| p.1 == 12.0), "{counts:?}");
    let counts = run(&raw_q, "count_over_time(temperature{room=\"a\"}[1h])");
    assert!(
        counts.values().flatten().all(|p| p.1 == 120.0),
        "{counts:?}"
    );

    // A plain selector reads sum / count of the latest window: within the raw samples' range
    // over the last 5 minutes.
    let plain = run(&ds_q, "temperature");
    let lo = run(&raw_q, "min_over_time(temperature[5m])");
    let hi = run(&raw_q, "max_over_time(temperature[5m])");
    assert_eq!(plain.len(), 2);
    for ((series, points), (lo, hi)) in plain.iter().zip(lo.values().zip(hi.values())) {
        for (i, p) in points.iter().enumerate() {
            let (l, h) = (lo[i].1, hi[i].1);
            assert!(
                l <= p.1 + 1e-9 && p.1 <= h + 1e-9,
                "{series} {p:?} not in [{l}, {h}]"
            );
        }
    }
    // The block kept raw by its mark still answers, at raw resolution.
    let queue = run(&ds_q, "count_over_time(queue_depth{cluster=\"two\"}[1h])");
    assert!(queue.values().flatten().all(|p| p.1 <= 120.0), "{queue:?}");
    assert!(queue.values().flatten().any(|p| p.1 == 120.0));

    // On the wire: the requested aggregates only, from the coarsest blocks allowed.
    let series = |window: i64, aggregates: Vec<Aggr>| {
        rt.block_on(async {
            let mut client = StoreClient::connect(format!("http://{addr}"))
                .await
                .unwrap();
            let req = SeriesRequest {
                min_time: T0,
                max_time: T0 + SPAN,
                matchers: vec![LabelMatcher {
                    r#type: 0,
                    name: "__name__".into(),
                    value: "temperature".into(),
                }],
                max_resolution_window: window,
                aggregates: aggregates.into_iter().map(|a| a as i32).collect(),
                ..Default::default()
            };
            let mut stream = client.series(req).await.unwrap().into_inner();
            let mut out = Vec::new();
            while let Some(frame) = stream.message().await.unwrap() {
                if let Some(series_response::Result::Series(s)) = frame.result {
                    out.push(s);
                }
            }
            out
        })
    };
    let got = series(RES_5M, vec![Aggr::Min]);
    assert_eq!(got.len(), 2);
    for s in &got {
        assert!(s
            .labels
            .iter()
            .any(|l| l.name == "cluster" && l.value == "one"));
        assert!(s.chunks.iter().all(|c| c.min.is_some()
            && c.raw.is_none()
            && c.max.is_none()
            && c.count.is_none()
            && c.sum.is_none()
            && c.counter.is_none()));
    }
    let got = series(RES_1H, vec![Aggr::Count, Aggr::Sum]);
    assert!(got
        .iter()
        .flat_map(|s| &s.chunks)
        .all(|c| c.count.is_some() && c.sum.is_some() && c.raw.is_none()));
    let got = series(0, vec![Aggr::Min]);
    assert!(got
        .iter()
        .flat_map(|s| &s.chunks)
        .all(|c| c.raw.is_some() && c.min.is_none()));
    let _ = stop.send(());
}
