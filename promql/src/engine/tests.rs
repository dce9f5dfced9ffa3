//! End-to-end evaluator tests on hand-built expressions over the in-memory storage.

use tsdb_index::{Labels, Matcher};

use crate::ast::*;
use crate::engine::{Engine, EngineOpts};
use crate::parser::get_function;
use crate::test_storage::TestStorage;
use crate::value::Value;

fn pos() -> PosRange {
    PosRange::new(0, 1)
}

fn vs(name: &str) -> VectorSelector {
    VectorSelector {
        name: name.to_string(),
        matchers: vec![Matcher::equal("__name__", name)],
        original_offset_ms: 0,
        original_offset_expr: None,
        offset_ms: 0,
        timestamp: None,
        start_or_end: None,
        bypass_empty_matcher_check: false,
        anchored: false,
        smoothed: false,
        pos: pos(),
    }
}

fn sel(name: &str) -> Expr {
    Expr::VectorSelector(vs(name))
}

fn range(name: &str, ms: i64) -> Expr {
    Expr::MatrixSelector(MatrixSelector {
        vector_selector: vs(name),
        range_ms: ms,
        range_expr: None,
        end_pos: 1,
    })
}

fn call(f: &str, args: Vec<Expr>) -> Expr {
    Expr::Call(Call {
        func: get_function(f).unwrap(),
        args,
        pos: pos(),
    })
}

fn storage() -> TestStorage {
    // http_requests_total{job="a", instance="0"} 0+10x10 every 5m, instance 1: 0+20x10.
    let mut s = TestStorage::new();
    for (inst, step) in [("0", 10.0), ("1", 20.0)] {
        let l = Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", "a"),
            ("instance", inst),
        ]);
        for k in 0..=10 {
            s.append_float(l.clone(), k * 300_000, k as f64 * step)
                .unwrap();
        }
    }
    s
}

fn engine() -> Engine {
    Engine::new(EngineOpts {
        delayed_name_removal: true,
        ..Default::default()
    })
}

#[test]
fn instant_selector_uses_lookback() {
    let s = storage();
    let r = engine().instant_query(&s, &sel("http_requests_total"), 3_000_000 + 299_000, None);
    let Value::Vector(v) = r.value.unwrap() else {
        panic!()
    };
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].f, 100.0);
    // Past the lookback window nothing is returned.
    let r = engine().instant_query(&s, &sel("http_requests_total"), 3_000_000 + 300_000, None);
    let Value::Vector(v) = r.value.unwrap() else {
        panic!()
    };
    assert!(v.is_empty());
}

#[test]
fn rate_extrapolates_like_prometheus() {
    let s = storage();
    // rate(x[50m]) at 50m: samples 5m..50m (0 is excluded, ranges are left-open): an
    // increase of 90 over 45m, extrapolated by a full interval to the range start (the gap is
    // within 1.1 average intervals): 100 over 3000s.
    let e = call("rate", vec![range("http_requests_total", 3_000_000)]);
    let r = engine().instant_query(&s, &e, 3_000_000, None);
    let Value::Vector(mut v) = r.value.unwrap() else {
        panic!()
    };
    v.sort_by(|a, b| a.metric.cmp(&b.metric));
    assert!((v[0].f - 100.0 / 3000.0).abs() < 1e-9, "{}", v[0].f);
    assert!(v[0].metric.metric_name().is_none(), "name dropped");
}

#[test]
fn sum_by_aggregates_range_query() {
    let s = storage();
    let e = Expr::Aggregate(AggregateExpr {
        op: AggregateOp::Sum,
        expr: Box::new(sel("http_requests_total")),
        param: None,
        grouping: vec!["job".into()],
        without: false,
        pos: pos(),
    });
    let r = engine().range_query(&s, &e, 0, 600_000, 300_000, None);
    let Value::Matrix(m) = r.value.unwrap() else {
        panic!()
    };
    assert_eq!(m.len(), 1);
    let vals: Vec<f64> = m[0].floats.iter().map(|p| p.f).collect();
    assert_eq!(vals, vec![0.0, 30.0, 60.0]);
    assert_eq!(m[0].metric.to_string(), r#"{job="a"}"#);
}

#[test]
fn binary_division_matches_series() {
    let s = storage();
    let e = Expr::Binary(BinaryExpr {
        op: BinaryOp::Div,
        lhs: Box::new(sel("http_requests_total")),
        rhs: Box::new(sel("http_requests_total")),
        vector_matching: Some(VectorMatching {
            card: VectorMatchCardinality::OneToOne,
            matching_labels: vec![],
            on: false,
            include: vec![],
            fill_values: Default::default(),
        }),
        return_bool: false,
    });
    let r = engine().instant_query(&s, &e, 600_000, None);
    let Value::Vector(v) = r.value.unwrap() else {
        panic!()
    };
    assert_eq!(v.len(), 2);
    assert!(v
        .iter()
        .all(|s| s.f == 1.0 && s.metric.metric_name().is_none()));
}

#[test]
fn max_samples_is_enforced() {
    let s = storage();
    let eng = Engine::new(EngineOpts {
        max_samples: 5,
        ..Default::default()
    });
    let r = eng.range_query(&s, &sel("http_requests_total"), 0, 3_000_000, 300_000, None);
    assert_eq!(
        r.value.unwrap_err(),
        crate::engine::EngineError::TooManySamples
    );
}

#[test]
fn cancellation_stops_the_query() {
    let s = storage();
    let flag = std::sync::atomic::AtomicBool::new(true);
    let r = engine().instant_query(&s, &sel("http_requests_total"), 0, Some(&flag));
    assert!(matches!(
        r.value,
        Err(crate::engine::EngineError::Cancelled(_))
    ));
}

/// A delta-style counter: every sample counts 60 since the previous sample (its start
/// timestamp), so the stored values never increase.
fn delta_storage() -> TestStorage {
    use crate::test_storage::{StoredSample, StoredValue};
    let mut s = TestStorage::new();
    let l = Labels::from_pairs([("__name__", "requests_total")]);
    for k in 1..=10i64 {
        let t = k * 60_000;
        s.append(
            l.clone(),
            StoredSample {
                t,
                st: t - 60_000,
                v: StoredValue::Float(60.0),
            },
        )
        .unwrap();
    }
    s
}

fn increase_at(eng: &Engine, s: &TestStorage, t: i64) -> Vec<f64> {
    let r = eng.instant_query(
        s,
        &call("increase", vec![range("requests_total", 300_000)]),
        t,
        None,
    );
    let Value::Vector(v) = r.value.unwrap() else {
        panic!("not a vector")
    };
    v.iter().map(|x| x.f).collect()
}

#[test]
fn start_timestamps_turn_deltas_into_resets_only_when_enabled() {
    let s = delta_storage();
    let on = Engine::new(EngineOpts {
        use_start_timestamps: true,
        ..Default::default()
    });
    // Each of the 5 samples in (5m, 10m] is a reset worth 60.
    assert_eq!(increase_at(&on, &s, 600_000), vec![300.0]);
    // Without start timestamps the series looks flat.
    assert_eq!(increase_at(&engine(), &s, 600_000), vec![0.0]);
}

#[test]
fn start_timestamp_function_needs_the_option_and_a_selector() {
    let s = delta_storage();
    let on = Engine::new(EngineOpts {
        use_start_timestamps: true,
        ..Default::default()
    });
    let q = call("start_timestamp", vec![sel("requests_total")]);
    let Value::Vector(v) = on.instant_query(&s, &q, 120_000, None).value.unwrap() else {
        panic!("not a vector")
    };
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].f, 60.0);
    let Value::Vector(v) = engine().instant_query(&s, &q, 120_000, None).value.unwrap() else {
        panic!("not a vector")
    };
    assert!(v.is_empty());
}
