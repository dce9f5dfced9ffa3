//! Prometheus' JSON rendering of query results: timestamps as seconds with millisecond
//! fractions, values as strings in Go's shortest float format, native histograms as
//! `{count, sum, buckets}` objects.

use std::fmt::Write;

use chunkenc::FloatHistogram;
use promql::functions::hist::all_buckets;
use promql::value::{Sample, Series, Value};
use serde_json::{Map, Value as Json};
use tsdb_index::Labels;

/// Renders a timestamp in ms as Prometheus does: integer seconds, then `.mmm` when the
/// millisecond part is not zero (a JSON number).
pub fn timestamp(t: i64) -> Json {
    let mut s = String::new();
    let mut t = t as i128;
    if t < 0 {
        s.push('-');
        t = -t;
    }
    let _ = write!(s, "{}", t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let _ = write!(s, ".{frac:03}");
    }
    // The text is a valid JSON number by construction.
    Json::Number(s.parse().unwrap_or_else(|_| serde_json::Number::from(0)))
}

/// Renders a float as Prometheus' API does: Go's shortest representation, in exponent form
/// below 1e-6 and from 1e21 on, and `NaN`, `+Inf`, `-Inf` spelled out.
pub fn float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1.5e-7`; Go writes `1.5e-07` (signed exponent, at least two digits).
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    format!("{f}")
}

/// A label set as a JSON object.
pub fn labels(l: &Labels) -> Json {
    let mut m = Map::new();
    for label in l.iter() {
        m.insert(
            label.name.to_string(),
            Json::String(label.value.to_string()),
        );
    }
    Json::Object(m)
}

/// A native histogram as `{"count", "sum", "buckets": [[boundaries, lower, upper, count]]}`,
/// leaving out empty buckets.
pub fn histogram(h: &FloatHistogram) -> Json {
    let mut m = Map::new();
    m.insert("count".into(), Json::String(float(h.count)));
    m.insert("sum".into(), Json::String(float(h.sum)));
    let buckets: Vec<Json> = all_buckets(h)
        .into_iter()
        .filter(|b| b.count != 0.0)
        .map(|b| {
            // 0: (lower, upper], 1: [lower, upper), 2: (lower, upper), 3: [lower, upper].
            let boundaries = match (b.lower_inclusive, b.upper_inclusive) {
                (true, true) => 3,
                (true, false) => 1,
                (false, true) => 0,
                (false, false) => 2,
            };
            Json::Array(vec![
                Json::from(boundaries),
                Json::String(float(b.lower)),
                Json::String(float(b.upper)),
                Json::String(float(b.count)),
            ])
        })
        .collect();
    if !buckets.is_empty() {
        m.insert("buckets".into(), Json::Array(buckets));
    }
    Json::Object(m)
}

fn sample(s: &Sample) -> Json {
    let mut m = Map::new();
    m.insert("metric".into(), labels(&s.metric));
    match &s.h {
        Some(h) => m.insert(
            "histogram".into(),
            Json::Array(vec![timestamp(s.t), histogram(h)]),
        ),
        None => m.insert(
            "value".into(),
            Json::Array(vec![timestamp(s.t), Json::String(float(s.f))]),
        ),
    };
    Json::Object(m)
}

fn series(s: &Series) -> Json {
    let mut m = Map::new();
    m.insert("metric".into(), labels(&s.metric));
    if !s.floats.is_empty() {
        let values = s
            .floats
            .iter()
            .map(|p| Json::Array(vec![timestamp(p.t), Json::String(float(p.f))]))
            .collect();
        m.insert("values".into(), Json::Array(values));
    }
    if !s.histograms.is_empty() {
        let values = s
            .histograms
            .iter()
            .map(|p| Json::Array(vec![timestamp(p.t), histogram(&p.h)]))
            .collect();
        m.insert("histograms".into(), Json::Array(values));
    }
    Json::Object(m)
}

/// The `data` object of a query response: `{"resultType": ..., "result": ...}`.
pub fn query_data(v: &Value) -> Json {
    let result = match v {
        Value::Scalar { t, v } => Json::Array(vec![timestamp(*t), Json::String(float(*v))]),
        Value::String { t, v } => Json::Array(vec![timestamp(*t), Json::String(v.clone())]),
        Value::Vector(samples) => Json::Array(samples.iter().map(sample).collect()),
        Value::Matrix(m) => Json::Array(m.iter().map(series).collect()),
    };
    let mut m = Map::new();
    m.insert("resultType".into(), Json::String(v.type_name().into()));
    m.insert("result".into(), result);
    Json::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_render_as_go_does() {
        assert_eq!(float(1.0), "1");
        assert_eq!(float(0.1), "0.1");
        assert_eq!(float(-2.5), "-2.5");
        assert_eq!(float(1e-7), "1e-07");
        assert_eq!(float(1.5e21), "1.5e+21");
        assert_eq!(float(1e20), "100000000000000000000");
        assert_eq!(float(0.000001), "0.000001");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(1e300), "1e+300");
    }

    #[test]
    fn timestamps_render_as_seconds() {
        assert_eq!(timestamp(1_435_781_451_781).to_string(), "1435781451.781");
        assert_eq!(timestamp(1_000).to_string(), "1");
        assert_eq!(timestamp(5).to_string(), "0.005");
        assert_eq!(timestamp(-1_500).to_string(), "-1.5");
        assert_eq!(timestamp(1_700_000_000_010).to_string(), "1700000000.01");
    }
}
