//! Reference chunks written by a real Prometheus 3.5 (see `testdata/histograms/README.md`):
//! every chunk must decode to exactly the samples that were sent, and re-appending those
//! samples through our appenders (the way Prometheus' head drives its appenders) must give the
//! same bytes, including the chunks Prometheus recoded when new buckets appeared.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chunkenc::float_histogram::{FloatHistogramAppender, FloatHistogramIterator};
use chunkenc::histogram::{AppendOutcome, HistogramAppender, HistogramIterator};
use chunkenc::histogram_meta::{is_stale_nan, CounterResetHeader};
use chunkenc::{CounterResetHint, FloatHistogram, Histogram, Span};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/histograms"))
}

fn manifest() -> Value {
    let path = dir().join("fixture.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e} (run make_fixture.py)", path.display()));
    serde_json::from_str(&text).expect("fixture.json is JSON")
}

fn f(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().expect("special float"),
        v => v.as_f64().expect("number"),
    }
}

fn spans(v: &Value) -> Vec<Span> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| Span {
            offset: s[0].as_i64().unwrap() as i32,
            length: s[1].as_u64().unwrap() as u32,
        })
        .collect()
}

fn hint(v: &Value) -> CounterResetHint {
    match v.as_str().unwrap() {
        "reset" => CounterResetHint::CounterReset,
        "no_reset" => CounterResetHint::NotCounterReset,
        "gauge" => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(f).collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

/// A sent integer sample.
fn int_histogram(s: &Value) -> Histogram {
    Histogram {
        counter_reset_hint: hint(&s["hint"]),
        schema: s["schema"].as_i64().unwrap() as i32,
        zero_threshold: f(&s["zero_threshold"]),
        zero_count: s["zero_count"].as_u64().unwrap(),
        count: s["count"].as_u64().unwrap(),
        sum: f64::from_bits(s["sum_bits"].as_u64().unwrap()),
        positive_spans: spans(&s["positive_spans"]),
        negative_spans: spans(&s["negative_spans"]),
        positive_buckets: ints(&s["positive_buckets"]),
        negative_buckets: ints(&s["negative_buckets"]),
        custom_values: floats(&s["custom_values"]),
    }
}

/// Absolute counts by bucket index, without empty buckets: what a histogram means,
/// independent of how its layout was (re)coded.
fn buckets_by_index(spans: &[Span], mut counts: impl Iterator<Item = f64>) -> BTreeMap<i64, u64> {
    let mut out = BTreeMap::new();
    let mut idx = 0i64;
    for (i, s) in spans.iter().enumerate() {
        idx += s.offset as i64 + if i == 0 { 0 } else { 1 };
        for j in 0..s.length as i64 {
            if j > 0 {
                idx += 1;
            }
            let c = counts.next().expect("bucket for span");
            if c != 0.0 {
                out.insert(idx, c.to_bits());
            }
        }
        if s.length == 0 {
            idx -= 1;
        }
    }
    assert!(counts.next().is_none(), "more buckets than spans cover");
    out
}

fn abs(deltas: &[i64]) -> impl Iterator<Item = f64> + '_ {
    deltas.iter().scan(0i64, |a, d| {
        *a += d;
        Some(*a as f64)
    })
}

/// Compares a decoded integer histogram with the one sent. Layouts may differ only by empty
/// buckets (Prometheus recodes chunks to the union of layouts).
fn assert_same_int(got: &Histogram, sent: &Histogram, what: &str) {
    if is_stale_nan(sent.sum) {
        assert!(is_stale_nan(got.sum), "{what}: stale marker expected");
        // Everything but the sum is empty (NaN != NaN, so compare without it).
        let without_sum = Histogram {
            sum: 0.0,
            ..got.clone()
        };
        assert_eq!(without_sum, Histogram::default(), "{what}");
        return;
    }
    assert_eq!(got.schema, sent.schema, "{what}: schema");
    assert_eq!(
        got.zero_threshold.to_bits(),
        sent.zero_threshold.to_bits(),
        "{what}: zero threshold"
    );
    assert_eq!(got.zero_count, sent.zero_count, "{what}: zero count");
    assert_eq!(got.count, sent.count, "{what}: count");
    assert_eq!(got.sum.to_bits(), sent.sum.to_bits(), "{what}: sum");
    assert_eq!(
        got.custom_values, sent.custom_values,
        "{what}: custom values"
    );
    assert_eq!(
        buckets_by_index(&got.positive_spans, abs(&got.positive_buckets)),
        buckets_by_index(&sent.positive_spans, abs(&sent.positive_buckets)),
        "{what}: positive buckets"
    );
    assert_eq!(
        buckets_by_index(&got.negative_spans, abs(&got.negative_buckets)),
        buckets_by_index(&sent.negative_spans, abs(&sent.negative_buckets)),
        "{what}: negative buckets"
    );
}

fn expected_hint(header: CounterResetHeader, index_in_chunk: usize) -> CounterResetHint {
    if header == CounterResetHeader::Gauge {
        CounterResetHint::Gauge
    } else if index_in_chunk > 0 {
        CounterResetHint::NotCounterReset
    } else {
        CounterResetHint::Unknown
    }
}

/// The chunks of one series in order, with the sent samples each covers.
fn chunks_of<'a>(m: &'a Value, series: &str) -> Vec<(&'a Value, Vec<&'a Value>)> {
    let samples = m["series"][series].as_array().unwrap();
    m["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["series"] == series)
        .map(|c| {
            let (mint, maxt) = (c["mint"].as_i64().unwrap(), c["maxt"].as_i64().unwrap());
            let covered = samples
                .iter()
                .filter(|s| (mint..=maxt).contains(&s["t"].as_i64().unwrap()))
                .collect();
            (c, covered)
        })
        .collect()
}

fn series_names(m: &Value, encoding: u64) -> Vec<String> {
    let mut names: Vec<String> = m["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["encoding"].as_u64() == Some(encoding))
        .map(|c| c["series"].as_str().unwrap().to_string())
        .collect();
    names.dedup();
    names
}

fn read_chunk(chunk: &Value) -> (String, Vec<u8>) {
    let file = chunk["file"].as_str().unwrap().to_string();
    let bytes = std::fs::read(dir().join(&file)).unwrap();
    (file, bytes)
}

#[test]
fn integer_chunks_decode_to_what_was_sent() {
    let m = manifest();
    let names = series_names(&m, 2);
    assert!(
        names.len() >= 8,
        "expected the integer series, got {names:?}"
    );
    let mut checked = 0;
    for name in &names {
        for (chunk, sent) in chunks_of(&m, name) {
            let (file, bytes) = read_chunk(chunk);
            let mut it = HistogramIterator::new(&bytes).unwrap();
            let header = it.counter_reset_header();
            for (i, s) in sent.iter().enumerate() {
                assert!(it.next().unwrap(), "{file}: ends before sample {i}");
                let (t, got) = it.at_histogram();
                assert_eq!(t, s["t"].as_i64().unwrap(), "{file} sample {i}");
                let want = int_histogram(s);
                assert_same_int(got, &want, &format!("{file} sample {i}"));
                if !is_stale_nan(want.sum) {
                    assert_eq!(
                        got.counter_reset_hint,
                        expected_hint(header, i),
                        "{file} sample {i}"
                    );
                }
                checked += 1;
            }
            assert!(!it.next().unwrap(), "{file}: more samples than sent");
        }
    }
    assert!(checked > 1000, "only {checked} samples checked");
}

#[test]
fn integer_chunks_reencode_byte_identically() {
    let m = manifest();
    for name in series_names(&m, 2) {
        let mut prev: Option<HistogramAppender> = None;
        for (chunk, sent) in chunks_of(&m, &name) {
            let (file, want) = read_chunk(chunk);
            let mut app = HistogramAppender::new();
            for (i, s) in sent.iter().enumerate() {
                let t = s["t"].as_i64().unwrap();
                let p = if i == 0 { prev.as_ref() } else { None };
                match app
                    .append_histogram(p, t, &int_histogram(s), false)
                    .unwrap()
                {
                    AppendOutcome::Appended | AppendOutcome::Recoded => {}
                    AppendOutcome::NewChunk(_) => {
                        panic!("{file}: we cut a chunk at sample {i}, Prometheus did not")
                    }
                }
            }
            assert_eq!(app.bytes(), &want[..], "{file}: bytes differ");
            // An appender resumed on the bytes holds the same state.
            let resumed = HistogramAppender::from_bytes(want.clone()).unwrap();
            assert_eq!(resumed.bytes(), &want[..]);
            prev = Some(app);
        }
    }
}

/// A sent float sample.
fn float_histogram(s: &Value) -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: hint(&s["hint"]),
        schema: s["schema"].as_i64().unwrap() as i32,
        zero_threshold: f(&s["zero_threshold"]),
        zero_count: f(&s["zero_count"]),
        count: f(&s["count"]),
        sum: f64::from_bits(s["sum_bits"].as_u64().unwrap()),
        positive_spans: spans(&s["positive_spans"]),
        negative_spans: spans(&s["negative_spans"]),
        positive_buckets: floats(&s["positive_buckets"]),
        negative_buckets: floats(&s["negative_buckets"]),
        custom_values: floats(&s["custom_values"]),
    }
}

fn assert_same_float(got: &FloatHistogram, sent: &FloatHistogram, what: &str) {
    if is_stale_nan(sent.sum) {
        assert!(is_stale_nan(got.sum), "{what}: stale marker expected");
        return;
    }
    assert_eq!(got.schema, sent.schema, "{what}: schema");
    assert_eq!(
        got.zero_threshold.to_bits(),
        sent.zero_threshold.to_bits(),
        "{what}: zero threshold"
    );
    assert_eq!(
        got.zero_count.to_bits(),
        sent.zero_count.to_bits(),
        "{what}: zero count"
    );
    assert_eq!(got.count.to_bits(), sent.count.to_bits(), "{what}: count");
    assert_eq!(got.sum.to_bits(), sent.sum.to_bits(), "{what}: sum");
    assert_eq!(
        got.custom_values, sent.custom_values,
        "{what}: custom values"
    );
    assert_eq!(
        buckets_by_index(&got.positive_spans, got.positive_buckets.iter().copied()),
        buckets_by_index(&sent.positive_spans, sent.positive_buckets.iter().copied()),
        "{what}: positive buckets"
    );
    assert_eq!(
        buckets_by_index(&got.negative_spans, got.negative_buckets.iter().copied()),
        buckets_by_index(&sent.negative_spans, sent.negative_buckets.iter().copied()),
        "{what}: negative buckets"
    );
}

#[test]
fn float_chunks_decode_to_what_was_sent() {
    let m = manifest();
    let names = series_names(&m, 3);
    assert!(names.len() >= 5, "expected the float series, got {names:?}");
    let mut checked = 0;
    for name in &names {
        for (chunk, sent) in chunks_of(&m, name) {
            let (file, bytes) = read_chunk(chunk);
            let mut it = FloatHistogramIterator::new(&bytes).unwrap();
            let header = it.counter_reset_header();
            for (i, s) in sent.iter().enumerate() {
                assert!(it.next().unwrap(), "{file}: ends before sample {i}");
                let (t, got) = it.at_float_histogram();
                assert_eq!(t, s["t"].as_i64().unwrap(), "{file} sample {i}");
                assert_same_float(got, &float_histogram(s), &format!("{file} sample {i}"));
                assert_eq!(
                    got.counter_reset_hint,
                    expected_hint(header, i),
                    "{file} sample {i}"
                );
                checked += 1;
            }
            assert!(!it.next().unwrap(), "{file}: more samples than sent");
        }
    }
    assert!(checked > 700, "only {checked} samples checked");
}

#[test]
fn float_chunks_reencode_byte_identically() {
    let m = manifest();
    for name in series_names(&m, 3) {
        let mut prev: Option<FloatHistogramAppender> = None;
        for (chunk, sent) in chunks_of(&m, &name) {
            let (file, want) = read_chunk(chunk);
            let mut app = FloatHistogramAppender::new();
            for (i, s) in sent.iter().enumerate() {
                let t = s["t"].as_i64().unwrap();
                let p = if i == 0 { prev.as_ref() } else { None };
                match app
                    .append_float_histogram(p, t, &float_histogram(s), false)
                    .unwrap()
                {
                    AppendOutcome::Appended | AppendOutcome::Recoded => {}
                    AppendOutcome::NewChunk(_) => {
                        panic!("{file}: we cut a chunk at sample {i}, Prometheus did not")
                    }
                }
            }
            assert_eq!(app.bytes(), &want[..], "{file}: bytes differ");
            let resumed = FloatHistogramAppender::from_bytes(want.clone()).unwrap();
            assert_eq!(resumed.bytes(), &want[..]);
            prev = Some(app);
        }
    }
}

/// Integer chunks read as float histograms give the same values with absolute counts.
#[test]
fn integer_chunks_read_as_float_histograms() {
    let m = manifest();
    for (chunk, sent) in chunks_of(&m, "int_plain") {
        let (file, bytes) = read_chunk(chunk);
        let mut it = HistogramIterator::new(&bytes).unwrap();
        for (i, s) in sent.iter().enumerate() {
            assert!(it.next().unwrap());
            let want = int_histogram(s).to_float();
            let (_, got) = it.at_float_histogram();
            assert_same_float(got, &want, &format!("{file} sample {i}"));
        }
    }
}

/// Where Prometheus started a chunk because the sample did not fit the previous one (counter
/// reset, schema / zero threshold / custom bounds change, stale marker ending), our appender,
/// given that sample, must cut the same new chunk. Chunks headed `NotCounterReset` (or gauge
/// chunks after a gauge chunk) were cut by the head for size or time; those are skipped. Also
/// counts the recodings the fixtures exercise.
#[test]
fn cuts_and_recodes_match_prometheus() {
    let m = manifest();
    let (mut cuts, mut recodes) = (0, 0);
    for name in series_names(&m, 2) {
        let chunks = chunks_of(&m, &name);
        let mut prev: Option<HistogramAppender> = None;
        for (chunk, sent) in chunks {
            let (file, want) = read_chunk(chunk);
            let header = CounterResetHeader::from_flags(want[2]);
            let mut app = match prev.take() {
                Some(mut p)
                    if matches!(
                        header,
                        CounterResetHeader::CounterReset | CounterResetHeader::Unknown
                    ) =>
                {
                    let h = int_histogram(sent[0]);
                    match p
                        .append_histogram(None, sent[0]["t"].as_i64().unwrap(), &h, false)
                        .unwrap()
                    {
                        AppendOutcome::NewChunk(next) => {
                            cuts += 1;
                            *next
                        }
                        other => panic!("{file}: Prometheus cut here, we got {other:?}"),
                    }
                }
                p => {
                    let mut a = HistogramAppender::new();
                    a.append_histogram(
                        p.as_ref(),
                        sent[0]["t"].as_i64().unwrap(),
                        &int_histogram(sent[0]),
                        false,
                    )
                    .unwrap();
                    a
                }
            };
            for s in &sent[1..] {
                if let AppendOutcome::Recoded = app
                    .append_histogram(None, s["t"].as_i64().unwrap(), &int_histogram(s), false)
                    .unwrap()
                {
                    recodes += 1;
                }
            }
            assert_eq!(app.bytes(), &want[..], "{file}");
            prev = Some(app);
        }
    }
    for name in series_names(&m, 3) {
        let mut prev: Option<FloatHistogramAppender> = None;
        for (chunk, sent) in chunks_of(&m, &name) {
            let (file, want) = read_chunk(chunk);
            let header = CounterResetHeader::from_flags(want[2]);
            let t0 = sent[0]["t"].as_i64().unwrap();
            let mut app = match prev.take() {
                Some(mut p)
                    if matches!(
                        header,
                        CounterResetHeader::CounterReset | CounterResetHeader::Unknown
                    ) =>
                {
                    match p
                        .append_float_histogram(None, t0, &float_histogram(sent[0]), false)
                        .unwrap()
                    {
                        AppendOutcome::NewChunk(next) => {
                            cuts += 1;
                            *next
                        }
                        other => panic!("{file}: Prometheus cut here, we got {other:?}"),
                    }
                }
                p => {
                    let mut a = FloatHistogramAppender::new();
                    a.append_float_histogram(p.as_ref(), t0, &float_histogram(sent[0]), false)
                        .unwrap();
                    a
                }
            };
            for s in &sent[1..] {
                if let AppendOutcome::Recoded = app
                    .append_float_histogram(
                        None,
                        s["t"].as_i64().unwrap(),
                        &float_histogram(s),
                        false,
                    )
                    .unwrap()
                {
                    recodes += 1;
                }
            }
            assert_eq!(app.bytes(), &want[..], "{file}");
            prev = Some(app);
        }
    }
    assert!(cuts >= 8, "only {cuts} appendability cuts exercised");
    assert!(recodes >= 10, "only {recodes} recodings exercised");
    eprintln!("{cuts} cuts and {recodes} recodings matched Prometheus");
}
