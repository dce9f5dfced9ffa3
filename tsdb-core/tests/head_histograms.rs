//! Native histograms in the head: integer, float and custom-bucket histograms are appended,
//! cut into chunks (recoding on new buckets, new chunks on counter resets), logged to the WAL,
//! replayed, persisted into a block by head compaction, and read back unchanged, by us and by
//! the real `promtool`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chunkenc::{FloatHistogram, Histogram, Span};
use tsdb_core::db::{Db, DbOptions};
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_index::{Labels, MatchType, Matcher};

const STEP: i64 = 15_000;
const STEPS: i64 = 1000;

/// Absolute bucket counts `index → count` (zero buckets left out) and the scalar fields.
#[derive(Debug, Clone, PartialEq)]
struct Shape {
    count: f64,
    sum: f64,
    zero_count: f64,
    schema: i32,
    buckets: BTreeMap<i32, f64>,
}

fn shape_of(h: &FloatHistogram) -> Shape {
    let mut buckets = BTreeMap::new();
    let mut idx = 0;
    let mut k = 0;
    for sp in &h.positive_spans {
        idx += sp.offset;
        for _ in 0..sp.length {
            let c = h.positive_buckets[k];
            if c != 0.0 {
                buckets.insert(idx, c);
            }
            idx += 1;
            k += 1;
        }
    }
    Shape {
        count: h.count,
        sum: h.sum,
        zero_count: h.zero_count,
        schema: h.schema,
        buckets,
    }
}

/// Integer histogram of step `i`: counts grow, a third bucket appears at step 200 (the chunk
/// is recoded), and counts restart at step 600 (a counter reset: a new chunk).
fn int_histogram(i: i64, custom: bool) -> Histogram {
    let base = if i >= 600 { i - 600 } else { i } + 1;
    let n = if i >= 200 { 3 } else { 2 };
    let abs: Vec<i64> = (0..n).map(|j| base * (j + 1)).collect();
    let mut deltas = Vec::new();
    let mut prev = 0;
    for c in &abs {
        deltas.push(c - prev);
        prev = *c;
    }
    let zero = if custom { 0 } else { base as u64 };
    Histogram {
        schema: if custom {
            chunkenc::model::CUSTOM_BUCKETS_SCHEMA
        } else {
            0
        },
        zero_threshold: if custom { 0.0 } else { 0.001 },
        zero_count: zero,
        count: zero + abs.iter().sum::<i64>() as u64,
        sum: base as f64 * 1.5,
        positive_spans: vec![Span {
            offset: 0,
            length: n as u32,
        }],
        positive_buckets: deltas,
        custom_values: if custom { vec![0.1, 1.0, 10.0] } else { vec![] },
        ..Default::default()
    }
}

fn float_histogram(i: i64) -> FloatHistogram {
    let mut h = int_histogram(i, false).to_float();
    h.sum = i as f64 * 0.25;
    h
}

fn labels(name: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("job", "hist")])
}

/// Every sample by series: `(t, shape)` for histograms, `(t, value)` as a zero-bucket shape
/// for floats.
fn read_all(db: &dyn Queryable) -> BTreeMap<String, Vec<(i64, Shape)>> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let m = Matcher::new(MatchType::Equal, "job", "hist").unwrap();
    let mut set = q.select(true, None, &[m]).unwrap();
    let mut out = BTreeMap::new();
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let mut it = s.iter();
        let mut pts = Vec::new();
        loop {
            match it.next() {
                ValueType::None => break,
                ValueType::Float => {
                    let (t, v) = it.at();
                    pts.push((
                        t,
                        shape_of(&FloatHistogram {
                            count: v,
                            ..Default::default()
                        }),
                    ));
                }
                ValueType::Histogram | ValueType::FloatHistogram => {
                    let (t, h) = it.at_float_histogram();
                    pts.push((t, shape_of(h)));
                }
            }
        }
        assert!(it.err().is_none(), "{:?}", it.err());
        out.insert(s.labels().get("__name__").unwrap().to_string(), pts);
    }
    out
}

fn expected() -> BTreeMap<String, Vec<(i64, Shape)>> {
    let mut out: BTreeMap<String, Vec<(i64, Shape)>> = BTreeMap::new();
    for i in 0..STEPS {
        let t = i * STEP;
        out.entry("h_int".into())
            .or_default()
            .push((t, shape_of(&int_histogram(i, false).to_float())));
        out.entry("h_custom".into())
            .or_default()
            .push((t, shape_of(&int_histogram(i, true).to_float())));
        out.entry("h_float".into())
            .or_default()
            .push((t, shape_of(&float_histogram(i))));
        out.entry("plain".into()).or_default().push((
            t,
            shape_of(&FloatHistogram {
                count: i as f64,
                ..Default::default()
            }),
        ));
    }
    out
}

fn fill(db: &Db) {
    for batch in 0..STEPS / 10 {
        let mut app = db.appender();
        for i in batch * 10..batch * 10 + 10 {
            let t = i * STEP;
            app.append_histogram(&labels("h_int"), t, &int_histogram(i, false))
                .unwrap();
            app.append_histogram(&labels("h_custom"), t, &int_histogram(i, true))
                .unwrap();
            app.append_float_histogram(&labels("h_float"), t, &float_histogram(i))
                .unwrap();
            app.append(&labels("plain"), t, i as f64).unwrap();
        }
        app.commit().unwrap();
    }
}

fn promtool() -> PathBuf {
    let dir = std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/prometheus-ref/usr/bin")
        });
    dir.join("promtool")
}

/// `promtool tsdb dump` of `dir`: per metric name, `(t, count, sum)` of histogram lines.
fn promtool_histograms(dir: &Path) -> BTreeMap<String, Vec<(i64, f64, f64)>> {
    let out = std::process::Command::new(promtool())
        .args(["tsdb", "dump"])
        .arg(dir)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut res: BTreeMap<String, Vec<(i64, f64, f64)>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let Some(body) = line.find("} {count:").map(|p| &line[p + 2..]) else {
            continue;
        };
        let name = line
            .split("__name__=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string();
        let field = |key: &str| -> f64 {
            let start = body.find(key).unwrap() + key.len();
            let rest = &body[start..];
            let end = rest.find([',', '}']).unwrap();
            rest[..end].parse().unwrap()
        };
        let t: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        res.entry(name)
            .or_default()
            .push((t, field("count:"), field("sum:")));
    }
    res
}

/// What promtool prints for our histograms: its dump loop reads a series' samples with one
/// loop per value type in the order float, float histogram, integer histogram, and each
/// loop's failed type check consumes a sample; so it shows an integer-histogram series from
/// its third sample and a float-histogram series from its second.
fn promtool_view(
    want: &BTreeMap<String, Vec<(i64, Shape)>>,
) -> BTreeMap<String, Vec<(i64, f64, f64)>> {
    let mut out = BTreeMap::new();
    for (name, skip) in [("h_int", 2), ("h_custom", 2), ("h_float", 1)] {
        out.insert(
            name.to_string(),
            want[name]
                .iter()
                .skip(skip)
                .map(|(t, s)| (*t, s.count, s.sum))
                .collect(),
        );
    }
    out
}

#[test]
fn histograms_survive_the_head_the_wal_and_head_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let want = expected();
    {
        let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
        fill(&db);
        assert_eq!(read_all(&db), want);
        // Rules Prometheus applies to histograms too.
        let mut app = db.appender();
        let t = (STEPS - 1) * STEP;
        assert!(app
            .append_histogram(&labels("h_int"), t - STEP, &int_histogram(1, false))
            .is_err());
        assert!(app
            .append_histogram(&labels("h_int"), t, &int_histogram(5, false))
            .is_err());
        let mut bad = int_histogram(1, false);
        bad.positive_buckets.pop();
        assert!(app.append_histogram(&labels("h_bad"), t, &bad).is_err());
        drop(app);
        db.close().unwrap();
    }
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    // The full chunks come from chunks_head, the rest from the WAL.
    let replay = &db.open_report().replay;
    assert!(replay.mmapped_chunks > 0);
    // Three histogram series and the plain float series.
    assert_eq!(
        replay.histograms + replay.samples + replay.samples_in_mmapped_chunks,
        4 * STEPS as usize
    );
    assert_eq!(read_all(&db), want, "after WAL replay");
    db.close().unwrap();
    assert_eq!(
        promtool_histograms(tmp.path()),
        promtool_view(&want),
        "promtool over our WAL"
    );

    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    let steps = db.compact_head().unwrap();
    assert_eq!(steps.len(), 1);
    assert!(steps[0].block.is_some());
    assert_eq!(read_all(&db), want, "after head compaction");
    db.close().unwrap();
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    assert_eq!(read_all(&db), want, "block + checkpoint + WAL");
    db.close().unwrap();
    assert_eq!(
        promtool_histograms(tmp.path()),
        promtool_view(&want),
        "promtool over our block, checkpoint and WAL"
    );
}
