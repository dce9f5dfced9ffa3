//! Appendability rules of histogram chunks, on the cases (inputs and expected decisions) of
//! Prometheus' `TestHistogramChunkAppendable`, `TestHistogramChunkAppendableGauge` and
//! `TestHistogramAppendOnlyErrors`, and the float counterparts.

use chunkenc::histogram_meta::CounterResetHeader;
use chunkenc::{
    AppendOutcome, ChunkError, CounterResetHint, FloatHistogram, FloatHistogramAppender,
    FloatHistogramIterator, Histogram, HistogramAppender, HistogramIterator, Span,
};

const TS: i64 = 1_234_567_890;

fn sp(offset: i32, length: u32) -> Span {
    Span { offset, length }
}

/// Prometheus' `eh`: counts 6, 3, 3, 2, 4, 5, 1 in buckets 0, 1, 4, 8, 9, 13, 15.
fn eh() -> Histogram {
    Histogram {
        count: 5,
        zero_count: 2,
        sum: 18.4,
        zero_threshold: 1e-125,
        schema: 1,
        positive_spans: vec![sp(0, 2), sp(2, 1), sp(3, 2), sp(3, 1), sp(1, 1)],
        positive_buckets: vec![6, -3, 0, -1, 2, 1, -4],
        ..Histogram::default()
    }
}

/// Prometheus' `cbh`: the same buckets with custom bounds 1..=20.
fn cbh() -> Histogram {
    Histogram {
        count: 24,
        sum: 18.4,
        schema: -53,
        positive_spans: eh().positive_spans,
        positive_buckets: eh().positive_buckets,
        custom_values: (1..=20).map(f64::from).collect(),
        ..Histogram::default()
    }
}

/// The layout with new buckets 2, 6, 7 and 14 (counts 7 5 1 3 1 0 2 5 5 0 1).
fn more_buckets(mut h: Histogram) -> Histogram {
    h.positive_spans = vec![sp(0, 3), sp(1, 1), sp(1, 4), sp(3, 3)];
    h.count += 9;
    h.zero_count += 1;
    h.sum = 30.0;
    h.positive_buckets = vec![7, -2, -4, 2, -2, -1, 2, 3, 0, -5, 1];
    h
}

fn setup(h: &Histogram) -> HistogramAppender {
    let mut app = HistogramAppender::new();
    assert!(matches!(
        app.append_histogram(None, TS, h, false).unwrap(),
        AppendOutcome::Appended
    ));
    assert_eq!(app.num_samples(), 1);
    app
}

fn samples(bytes: &[u8]) -> Vec<(i64, Histogram)> {
    let mut it = HistogramIterator::new(bytes).unwrap();
    let mut out = Vec::new();
    while it.next().unwrap() {
        let (t, h) = it.at_histogram();
        out.push((t, h.clone()));
    }
    out
}

/// Appending `h` must leave the chunk untouched and start a new one with `header`.
fn expect_new_chunk(mut app: HistogramAppender, h: &Histogram, header: CounterResetHeader) {
    let before = app.bytes().to_vec();
    match app.append_histogram(None, TS + 1, h, false).unwrap() {
        AppendOutcome::NewChunk(next) => {
            assert_eq!(app.bytes(), &before[..], "old chunk must stay untouched");
            assert_eq!(next.counter_reset_header(), header);
            let s = samples(next.bytes());
            assert_eq!(s.len(), 1);
            let want_hint = if header == CounterResetHeader::Gauge {
                CounterResetHint::Gauge
            } else {
                CounterResetHint::Unknown
            };
            assert_eq!(s[0].1.counter_reset_hint, want_hint);
        }
        other => panic!("expected a new chunk, got {other:?}"),
    }
}

fn expect_appended(
    mut app: HistogramAppender,
    h: &Histogram,
    header: CounterResetHeader,
) -> Vec<(i64, Histogram)> {
    let before = app.bytes().len();
    assert!(matches!(
        app.append_histogram(None, TS + 1, h, false).unwrap(),
        AppendOutcome::Appended
    ));
    assert!(app.bytes().len() > before);
    assert_eq!(app.counter_reset_header(), header);
    let s = samples(app.bytes());
    assert_eq!(s.len(), 2);
    s
}

fn expect_recoded(
    mut app: HistogramAppender,
    h: &Histogram,
    header: CounterResetHeader,
) -> Vec<(i64, Histogram)> {
    assert!(matches!(
        app.append_histogram(None, TS + 1, h, false).unwrap(),
        AppendOutcome::Recoded
    ));
    assert_eq!(app.counter_reset_header(), header);
    let s = samples(app.bytes());
    assert_eq!(s.len(), 2);
    // Both samples now share the new layout.
    assert_eq!(s[0].1.positive_spans, s[1].1.positive_spans);
    s
}

#[test]
fn schema_or_zero_threshold_change_cuts_with_unknown_header() {
    for change in [
        |h: &mut Histogram| h.schema += 1,
        |h: &mut Histogram| h.zero_threshold += 0.1,
        |h: &mut Histogram| h.zero_threshold = 1e-120,
    ] {
        let app = setup(&eh());
        let mut h2 = eh();
        change(&mut h2);
        let a = app.appendable(&h2);
        assert!(!a.ok);
        assert_eq!(a.counter_reset, CounterResetHeader::Unknown);
        expect_new_chunk(app, &h2, CounterResetHeader::Unknown);
    }
}

#[test]
fn new_buckets_recode_the_chunk() {
    let app = setup(&eh());
    let h2 = more_buckets(eh());
    let a = app.appendable(&h2);
    assert!(a.ok);
    assert!(!a.positive_inserts.is_empty());
    assert!(a.negative_inserts.is_empty() && a.backward_positive_inserts.is_empty());
    assert_eq!(a.counter_reset, CounterResetHeader::NotCounterReset);
    let s = expect_recoded(app, &h2, CounterResetHeader::Unknown);
    // The first sample got empty buckets: counts 6 3 0 3 0 0 2 4 5 0 1.
    assert_eq!(
        s[0].1.positive_buckets,
        vec![6, -3, -3, 3, -3, 0, 2, 2, 1, -5, 1]
    );
    assert_eq!(
        s[1].1,
        Histogram {
            counter_reset_hint: CounterResetHint::NotCounterReset,
            ..h2
        }
    );
}

#[test]
fn missing_non_empty_bucket_is_a_counter_reset() {
    let app = setup(&eh());
    let mut h2 = eh();
    h2.positive_spans = vec![sp(0, 2), sp(5, 2), sp(3, 1), sp(1, 1)];
    h2.sum = 21.0;
    h2.positive_buckets = vec![6, -3, -1, 2, 1, -4];
    let a = app.appendable(&h2);
    assert!(!a.ok);
    assert_eq!(a.counter_reset, CounterResetHeader::CounterReset);
    assert!(a.positive_inserts.is_empty() && a.backward_positive_inserts.is_empty());
    expect_new_chunk(app, &h2, CounterResetHeader::CounterReset);
}

fn empty_bucket_eh() -> Histogram {
    // Counts 6, 0, 1, 2, 0, 1, 2.
    Histogram {
        positive_buckets: vec![6, -6, 1, 1, -2, 1, 1],
        ..eh()
    }
}

#[test]
fn missing_empty_buckets_are_filled_in() {
    let app = setup(&empty_bucket_eh());
    let mut h2 = empty_bucket_eh();
    h2.positive_spans = vec![sp(0, 1), sp(3, 1), sp(3, 1), sp(4, 1), sp(1, 1)];
    h2.positive_buckets = vec![7, -5, 1, 0, 1];
    let a = app.appendable(&h2);
    assert!(a.ok);
    assert!(a.positive_inserts.is_empty());
    assert!(!a.backward_positive_inserts.is_empty());
    assert_eq!(a.counter_reset, CounterResetHeader::NotCounterReset);
    let s = expect_appended(app, &h2, CounterResetHeader::Unknown);
    // Stored with the chunk's layout: counts 7, 0, 2, 3, 0, 3, 4.
    assert_eq!(s[1].1.positive_buckets, vec![7, -7, 2, 1, -3, 3, 1]);
    assert_eq!(s[1].1.positive_spans, empty_bucket_eh().positive_spans);
}

#[test]
fn new_and_missing_empty_buckets_recode_both_ways() {
    let app = setup(&empty_bucket_eh());
    let mut h2 = empty_bucket_eh();
    h2.positive_spans = vec![sp(0, 1), sp(3, 1), sp(3, 1), sp(4, 1), sp(1, 2)];
    h2.positive_buckets = vec![7, -5, 1, 0, 1, 1];
    let a = app.appendable(&h2);
    assert!(a.ok);
    assert!(!a.positive_inserts.is_empty() && !a.backward_positive_inserts.is_empty());
    let s = expect_recoded(app, &h2, CounterResetHeader::Unknown);
    assert_eq!(s[1].1.positive_buckets, vec![7, -7, 2, 1, -3, 3, 1, 1]);
    assert_eq!(
        s[1].1.positive_spans,
        vec![sp(0, 2), sp(2, 1), sp(3, 2), sp(3, 1), sp(1, 2)]
    );
}

#[test]
fn bucket_decrease_is_a_counter_reset() {
    // Same layout, one bucket lower.
    let app = setup(&eh());
    let mut h2 = eh();
    h2.sum = 23.0;
    h2.positive_buckets = vec![6, -4, 1, -1, 2, 1, -4];
    let a = app.appendable(&h2);
    assert!(!a.ok);
    assert_eq!(a.counter_reset, CounterResetHeader::CounterReset);
    expect_new_chunk(app, &h2, CounterResetHeader::CounterReset);

    // New buckets, but the last one went down.
    let app = setup(&eh());
    let mut h2 = more_buckets(eh());
    h2.sum = 29.0;
    h2.positive_buckets = vec![7, -2, -4, 2, -2, -1, 2, 3, 0, -5, 0];
    let a = app.appendable(&h2);
    assert!(!a.ok && a.positive_inserts.is_empty());
    expect_new_chunk(app, &h2, CounterResetHeader::CounterReset);

    // New buckets before the first one and a reset in the (old) first bucket.
    let app = setup(&eh());
    let mut h2 = eh();
    h2.positive_spans = vec![sp(-3, 2), sp(1, 2), sp(2, 1), sp(3, 2), sp(3, 1), sp(1, 1)];
    h2.sum = 26.0;
    h2.positive_buckets = vec![1, 1, 3, -2, 0, -1, 2, 1, -4];
    let a = app.appendable(&h2);
    assert!(!a.ok);
    assert_eq!(a.counter_reset, CounterResetHeader::CounterReset);
    expect_new_chunk(app, &h2, CounterResetHeader::CounterReset);

    // Total count lower.
    let app = setup(&eh());
    let h2 = Histogram { count: 4, ..eh() };
    assert_eq!(
        app.appendable(&h2).counter_reset,
        CounterResetHeader::CounterReset
    );
}

#[test]
fn explicit_counter_reset_hint_cuts() {
    let app = setup(&eh());
    let h2 = Histogram {
        counter_reset_hint: CounterResetHint::CounterReset,
        ..eh()
    };
    expect_new_chunk(app, &h2, CounterResetHeader::CounterReset);
}

#[test]
fn first_sample_header_comes_from_previous_chunk() {
    // Appendable to the previous chunk: not a reset.
    let prev = setup(&eh());
    let mut next = HistogramAppender::new();
    next.append_histogram(Some(&prev), TS + 1, &eh(), false)
        .unwrap();
    assert_eq!(
        next.counter_reset_header(),
        CounterResetHeader::NotCounterReset
    );
    assert_eq!(
        samples(next.bytes())[0].1.counter_reset_hint,
        CounterResetHint::Unknown
    );

    // A lower count: a reset.
    let mut next = HistogramAppender::new();
    next.append_histogram(Some(&prev), TS + 1, &Histogram { count: 4, ..eh() }, false)
        .unwrap();
    assert_eq!(
        next.counter_reset_header(),
        CounterResetHeader::CounterReset
    );

    // Would need recoding in the previous chunk: still no reset.
    let mut next = HistogramAppender::new();
    next.append_histogram(Some(&prev), TS + 1, &more_buckets(eh()), false)
        .unwrap();
    assert_eq!(
        next.counter_reset_header(),
        CounterResetHeader::NotCounterReset
    );

    // Without a previous chunk the header stays unknown.
    assert_eq!(
        setup(&eh()).counter_reset_header(),
        CounterResetHeader::Unknown
    );
}

#[test]
fn empty_bucket_missing_from_a_later_histogram() {
    // The first histogram has an extra empty bucket 10 below the others.
    let mut h1 = eh();
    h1.positive_spans = vec![sp(-10, 1), sp(9, 2), sp(2, 1), sp(3, 2), sp(3, 1), sp(1, 1)];
    h1.positive_buckets = vec![0, 6, -3, 0, -1, 2, 1, -4];
    let app = setup(&h1);
    let a = app.appendable(&eh());
    assert!(a.ok && a.positive_inserts.is_empty() && !a.backward_positive_inserts.is_empty());
    assert_eq!(a.counter_reset, CounterResetHeader::NotCounterReset);
    let s = expect_appended(app, &eh(), CounterResetHeader::Unknown);
    assert_eq!(s[1].1.positive_buckets, h1.positive_buckets);
}

#[test]
fn custom_buckets_rules() {
    // No change; higher counts: appendable.
    expect_appended(setup(&cbh()), &cbh(), CounterResetHeader::Unknown);
    let higher = Histogram {
        count: 25,
        positive_buckets: vec![6, -3, 0, -1, 2, 1, -3],
        ..cbh()
    };
    assert!(setup(&cbh()).appendable(&higher).ok);
    expect_appended(setup(&cbh()), &higher, CounterResetHeader::Unknown);
    // Lower counts: reset.
    let lower = Histogram {
        count: 23,
        positive_buckets: vec![6, -3, 0, -1, 2, 1, -5],
        ..cbh()
    };
    assert!(!setup(&cbh()).appendable(&lower).ok);
    expect_new_chunk(setup(&cbh()), &lower, CounterResetHeader::CounterReset);
    // Other bounds: reset.
    let bounds = Histogram {
        custom_values: (1..=21).map(f64::from).collect(),
        ..cbh()
    };
    assert!(!setup(&cbh()).appendable(&bounds).ok);
    expect_new_chunk(setup(&cbh()), &bounds, CounterResetHeader::CounterReset);
    // More buckets: recode.
    let mut more = cbh();
    more.positive_spans = vec![sp(0, 3), sp(1, 1), sp(1, 4), sp(3, 3)];
    more.count += 6;
    more.sum = 30.0;
    more.positive_buckets = vec![7, -2, -4, 2, -2, -1, 2, 3, 0, -5, 1];
    let a = setup(&cbh()).appendable(&more);
    assert!(a.ok && !a.positive_inserts.is_empty());
    expect_recoded(setup(&cbh()), &more, CounterResetHeader::Unknown);
}

fn gauge(h: Histogram) -> Histogram {
    Histogram {
        counter_reset_hint: CounterResetHint::Gauge,
        ..h
    }
}

#[test]
fn gauge_rules() {
    let g = gauge(eh());
    let setup_gauge = |h: &Histogram| {
        let app = setup(h);
        assert_eq!(app.counter_reset_header(), CounterResetHeader::Gauge);
        app
    };
    // Schema or threshold change: new gauge chunk.
    for h2 in [
        gauge(Histogram { schema: 2, ..eh() }),
        gauge(Histogram {
            zero_threshold: 0.1 + 1e-125,
            ..eh()
        }),
    ] {
        assert!(!setup_gauge(&g).appendable_gauge(&h2).ok);
        expect_new_chunk(setup_gauge(&g), &h2, CounterResetHeader::Gauge);
    }
    // More buckets: recode.
    let h2 = gauge(more_buckets(eh()));
    let a = setup_gauge(&g).appendable_gauge(&h2);
    assert!(a.ok && !a.positive_inserts.is_empty() && a.backward_positive_inserts.is_empty());
    expect_recoded(setup_gauge(&g), &h2, CounterResetHeader::Gauge);
    // Buckets missing (not empty!): fine for gauges, filled in backwards.
    let mut h2 = gauge(eh());
    h2.positive_spans = vec![sp(0, 2), sp(2, 1), sp(3, 1), sp(4, 1), sp(1, 1)];
    h2.count -= 4;
    h2.sum -= 1.0;
    h2.positive_buckets = vec![6, -3, 0, -1, 3, -4];
    let a = setup_gauge(&g).appendable_gauge(&h2);
    assert!(a.ok && a.positive_inserts.is_empty() && !a.backward_positive_inserts.is_empty());
    let s = expect_appended(setup_gauge(&g), &h2, CounterResetHeader::Gauge);
    assert_eq!(s[1].1.positive_spans, eh().positive_spans);
    // A bucket missing and new ones: recode both ways.
    let mut h2 = gauge(eh());
    h2.positive_spans = vec![sp(0, 2), sp(5, 2), sp(3, 1), sp(1, 1)];
    h2.sum = 21.0;
    h2.positive_buckets = vec![6, -3, -1, 2, 1, -4];
    let a = setup_gauge(&g).appendable_gauge(&h2);
    assert!(a.ok && !a.positive_inserts.is_empty() && !a.backward_positive_inserts.is_empty());
    expect_recoded(setup_gauge(&g), &h2, CounterResetHeader::Gauge);
    // Decreases are not resets for gauges.
    let h2 = gauge(Histogram {
        sum: 23.0,
        positive_buckets: vec![6, -4, 1, -1, 2, 1, -4],
        ..eh()
    });
    expect_appended(setup_gauge(&g), &h2, CounterResetHeader::Gauge);
    // Custom bounds change: new gauge chunk.
    let cb = gauge(cbh());
    let other = gauge(Histogram {
        custom_values: (1..=21).map(f64::from).collect(),
        ..cbh()
    });
    assert!(!setup_gauge(&cb).appendable_gauge(&other).ok);
    expect_new_chunk(setup_gauge(&cb), &other, CounterResetHeader::Gauge);
    // A counter histogram after gauges cuts a chunk; so does a gauge after counters.
    expect_new_chunk(setup_gauge(&g), &eh(), CounterResetHeader::NotCounterReset);
    expect_new_chunk(setup(&eh()), &g, CounterResetHeader::Gauge);
}

#[test]
fn append_only_refuses_to_cut_or_recode() {
    let mut app = setup(&eh());
    let before = app.bytes().to_vec();
    let reset = Histogram { count: 4, ..eh() };
    assert_eq!(
        app.append_histogram(None, TS + 1, &reset, true)
            .unwrap_err(),
        ChunkError::NotAppendable("histogram counter reset")
    );
    let schema = Histogram { schema: 2, ..eh() };
    assert_eq!(
        app.append_histogram(None, TS + 1, &schema, true)
            .unwrap_err(),
        ChunkError::NotAppendable("histogram schema change")
    );
    assert!(matches!(
        app.append_histogram(None, TS + 1, &more_buckets(eh()), true),
        Err(ChunkError::NotAppendable(_))
    ));
    assert_eq!(app.bytes(), &before[..]);
    let mut g = setup(&gauge(eh()));
    assert!(matches!(
        g.append_histogram(None, TS + 1, &gauge(more_buckets(eh())), true),
        Err(ChunkError::NotAppendable(_))
    ));
    // Plain appends still work.
    assert!(matches!(
        app.append_histogram(None, TS + 1, &eh(), true).unwrap(),
        AppendOutcome::Appended
    ));
}

#[test]
fn stale_markers() {
    let stale = f64::from_bits(chunkenc::histogram_meta::STALE_NAN_BITS);
    let mut app = setup(&eh());
    let marker = Histogram {
        sum: stale,
        ..Histogram::default()
    };
    assert!(matches!(
        app.append_histogram(None, TS + 1, &marker, false).unwrap(),
        AppendOutcome::Appended
    ));
    // After a stale marker only stale markers fit; a real sample cuts with an unknown header.
    match app.append_histogram(None, TS + 2, &eh(), false).unwrap() {
        AppendOutcome::NewChunk(next) => {
            assert_eq!(next.counter_reset_header(), CounterResetHeader::Unknown)
        }
        other => panic!("{other:?}"),
    }
    let s = samples(app.bytes());
    assert_eq!(s.len(), 2);
    assert!(chunkenc::histogram_meta::is_stale_nan(s[1].1.sum));
    assert_eq!(s[1].1.positive_spans, vec![]);
}

#[test]
fn mismatched_buckets_are_rejected() {
    let mut app = HistogramAppender::new();
    let bad = Histogram {
        positive_buckets: vec![1],
        ..eh()
    };
    assert!(matches!(
        app.append_histogram(None, TS, &bad, false),
        Err(ChunkError::InvalidHistogram(_))
    ));
    assert_eq!(app.num_samples(), 0);
}

fn fh() -> FloatHistogram {
    eh().to_float()
}

fn float_setup(h: &FloatHistogram) -> FloatHistogramAppender {
    let mut app = FloatHistogramAppender::new();
    app.append_float_histogram(None, TS, h, false).unwrap();
    app
}

#[test]
fn float_rules() {
    // Identity: appendable.
    let mut app = float_setup(&fh());
    assert!(matches!(
        app.append_float_histogram(None, TS + 1, &fh(), false)
            .unwrap(),
        AppendOutcome::Appended
    ));
    // New buckets: recode, with zeros in the earlier samples.
    let mut app = float_setup(&fh());
    let more = more_buckets(eh()).to_float();
    assert!(matches!(
        app.append_float_histogram(None, TS + 1, &more, false)
            .unwrap(),
        AppendOutcome::Recoded
    ));
    let mut it = FloatHistogramIterator::new(app.bytes()).unwrap();
    assert!(it.next().unwrap());
    assert_eq!(
        it.at_float_histogram().1.positive_buckets,
        vec![6.0, 3.0, 0.0, 3.0, 0.0, 0.0, 2.0, 4.0, 5.0, 0.0, 1.0]
    );
    // A decrease: reset, new chunk headed CounterReset.
    let app = float_setup(&fh());
    let mut lower = fh();
    lower.positive_buckets[1] -= 1.0;
    let a = app.appendable(&lower);
    assert!(!a.ok);
    assert_eq!(a.counter_reset, CounterResetHeader::CounterReset);
    let mut app = float_setup(&fh());
    match app
        .append_float_histogram(None, TS + 1, &lower, false)
        .unwrap()
    {
        AppendOutcome::NewChunk(n) => {
            assert_eq!(n.counter_reset_header(), CounterResetHeader::CounterReset)
        }
        other => panic!("{other:?}"),
    }
    // A schema change: new chunk with an unknown header (floats keep only a reset flag).
    let mut app = float_setup(&fh());
    let other = FloatHistogram { schema: 2, ..fh() };
    match app
        .append_float_histogram(None, TS + 1, &other, false)
        .unwrap()
    {
        AppendOutcome::NewChunk(n) => {
            assert_eq!(n.counter_reset_header(), CounterResetHeader::Unknown)
        }
        o => panic!("{o:?}"),
    }
    // First sample after a previous chunk: NotCounterReset or CounterReset.
    let prev = float_setup(&fh());
    let mut next = FloatHistogramAppender::new();
    next.append_float_histogram(Some(&prev), TS + 1, &other, false)
        .unwrap();
    assert_eq!(
        next.counter_reset_header(),
        CounterResetHeader::NotCounterReset
    );
    let mut next = FloatHistogramAppender::new();
    next.append_float_histogram(Some(&prev), TS + 1, &lower, false)
        .unwrap();
    assert_eq!(
        next.counter_reset_header(),
        CounterResetHeader::CounterReset
    );
    // Gauges: decreases and missing buckets are fine.
    let g = FloatHistogram {
        counter_reset_hint: CounterResetHint::Gauge,
        ..fh()
    };
    let mut app = float_setup(&g);
    assert_eq!(app.counter_reset_header(), CounterResetHeader::Gauge);
    let gl = FloatHistogram {
        counter_reset_hint: CounterResetHint::Gauge,
        ..lower.clone()
    };
    assert!(matches!(
        app.append_float_histogram(None, TS + 1, &gl, false)
            .unwrap(),
        AppendOutcome::Appended
    ));
    // Append-only.
    let mut app = float_setup(&fh());
    assert_eq!(
        app.append_float_histogram(None, TS + 1, &lower, true)
            .unwrap_err(),
        ChunkError::NotAppendable("float histogram counter reset")
    );
}
