//! Prometheus' JSON rendering of query results: timestamps as seconds with millisecond
//! fractions, values as strings in Go's shortest float format, native histograms as
//! `{count, sum, buckets}` objects.

use std::fmt::Write;

use chunkenc::FloatHistogram;
use promql::functions::hist::all_buckets;
use promql::value::{Sample, Series, Value};
use serde_json::{Map, Value as Json};
use tsdb_index::Labels;

/// Writes a timestamp in ms as Prometheus does: integer seconds, then `.mmm` (three
/// digits) when the millisecond part is not zero (a JSON number).
pub fn write_timestamp(out: &mut String, t: i64) {
    let mut t = t as i128;
    if t < 0 {
        out.push('-');
        t = -t;
    }
    let _ = write!(out, "{}", t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
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

/// A label set as a JSON object (for answers built as [`Json`] values).
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

/// Writes `s` as a JSON string.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0;
    for (i, c) in s.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(escaped);
        }
        plain = i + c.len_utf8();
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

fn write_labels(out: &mut String, l: &Labels) {
    out.push('{');
    for (i, label) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, label.name);
        out.push(':');
        write_str(out, label.value);
    }
    out.push('}');
}

/// Writes `[timestamp, "value"]`.
fn write_point(out: &mut String, t: i64, f: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push_str(",\"");
    out.push_str(&float(f));
    out.push_str("\"]");
}

/// Writes a native histogram as `{"count", "sum", "buckets": [[boundaries, lower, upper,
/// count]]}`, leaving out empty buckets.
fn write_histogram(out: &mut String, h: &FloatHistogram) {
    let _ = write!(
        out,
        "{{\"count\":\"{}\",\"sum\":\"{}\"",
        float(h.count),
        float(h.sum)
    );
    let mut first = true;
    for b in all_buckets(h).into_iter().filter(|b| b.count != 0.0) {
        out.push_str(if first { ",\"buckets\":[" } else { "," });
        first = false;
        // 0: (lower, upper], 1: [lower, upper), 2: (lower, upper), 3: [lower, upper].
        let boundaries = match (b.lower_inclusive, b.upper_inclusive) {
            (true, true) => 3,
            (true, false) => 1,
            (false, true) => 0,
            (false, false) => 2,
        };
        let _ = write!(
            out,
            "[{boundaries},\"{}\",\"{}\",\"{}\"]",
            float(b.lower),
            float(b.upper),
            float(b.count)
        );
    }
    if !first {
        out.push(']');
    }
    out.push('}');
}

fn write_histogram_point(out: &mut String, t: i64, h: &FloatHistogram) {
    out.push('[');
    write_timestamp(out, t);
    out.push(',');
    write_histogram(out, h);
    out.push(']');
}

fn write_sample(out: &mut String, s: &Sample) {
    out.push_str("{\"metric\":");
    write_labels(out, &s.metric);
    match &s.h {
        Some(h) => {
            out.push_str(",\"histogram\":");
            write_histogram_point(out, s.t, h);
        }
        None => {
            out.push_str(",\"value\":");
            write_point(out, s.t, s.f);
        }
    }
    out.push('}');
}

fn write_series(out: &mut String, s: &Series) {
    out.push_str("{\"metric\":");
    write_labels(out, &s.metric);
    if !s.floats.is_empty() {
        out.push_str(",\"values\":[");
        for (i, p) in s.floats.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_point(out, p.t, p.f);
        }
        out.push(']');
    }
    if !s.histograms.is_empty() {
        out.push_str(",\"histograms\":[");
        for (i, p) in s.histograms.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_histogram_point(out, p.t, &p.h);
        }
        out.push(']');
    }
    out.push('}');
}

/// Writes the `data` object of a query response: `{"resultType": ..., "result": ...}`,
/// straight into text (a large matrix is never built as a JSON tree).
pub fn write_query_data(out: &mut String, v: &Value) {
    out.push_str("{\"resultType\":");
    write_str(out, v.type_name());
    out.push_str(",\"result\":");
    match v {
        Value::Scalar { t, v } => write_point(out, *t, *v),
        Value::String { t, v } => {
            out.push('[');
            write_timestamp(out, *t);
            out.push(',');
            write_str(out, v);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sample(out, s);
            }
            out.push(']');
        }
        Value::Matrix(m) => {
            out.push('[');
            for (i, s) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_series(out, s);
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// A whole successful query answer, in Prometheus' key order: `status`, `data`, then
/// `warnings` and `infos` when there are any.
pub fn query_body(v: &Value, warnings: &[String], infos: &[String]) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str("{\"status\":\"success\",\"data\":");
    write_query_data(&mut out, v);
    for (key, list) in [("warnings", warnings), ("infos", infos)] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(out, ",\"{key}\":[");
        for (i, w) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(&mut out, w);
        }
        out.push(']');
    }
    out.push('}');
    out
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

    fn ts(t: i64) -> String {
        let mut s = String::new();
        write_timestamp(&mut s, t);
        s
    }

    #[test]
    fn timestamps_render_as_prometheus_writes_them() {
        assert_eq!(ts(1_435_781_451_781), "1435781451.781");
        assert_eq!(ts(1_000), "1");
        assert_eq!(ts(5), "0.005");
        assert_eq!(ts(-1_500), "-1.500");
        assert_eq!(ts(1_700_000_000_010), "1700000000.010");
    }

    #[test]
    fn written_answers_are_valid_json_with_the_values() {
        use promql::value::{FPoint, HPoint};
        let h = FloatHistogram {
            count: 3.0,
            sum: 1.5,
            ..Default::default()
        };
        let m = Value::Matrix(vec![Series {
            metric: Labels::from_pairs([("__name__", "a\"b\\c\n"), ("x", "\u{1}é")]),
            floats: vec![
                FPoint { t: 1_000, f: 0.5 },
                FPoint {
                    t: 2_500,
                    f: f64::NAN,
                },
            ],
            histograms: vec![HPoint {
                t: 3_000,
                h: std::sync::Arc::new(h),
            }],
            ..Default::default()
        }]);
        let body = query_body(&m, &["careful".into()], &[]);
        let j: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(j["status"], "success");
        assert_eq!(j["warnings"][0], "careful");
        let s = &j["data"]["result"][0];
        assert_eq!(s["metric"]["__name__"], "a\"b\\c\n");
        assert_eq!(s["metric"]["x"], "\u{1}é");
        assert_eq!(s["values"][1][0].as_f64(), Some(2.5));
        assert_eq!(s["values"][1][1], "NaN");
        assert_eq!(s["histograms"][0][1]["count"], "3");
        assert_eq!(j["data"]["resultType"], "matrix");
    }
}
