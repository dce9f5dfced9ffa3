//! Series descriptions of the test language: `name{label="value"} 1+2x3 _ stale {{...}}`.

use chunkenc::{CounterResetHint, FloatHistogram, Span};
use tsdb_index::Labels;

use crate::functions::hist;
use crate::value::stale_nan;

use super::TestParseError;

/// One slot of an expanded value sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    /// No sample in this slot.
    Omitted,
    /// A float (a staleness marker is the stale NaN).
    Float(f64),
    /// A native histogram; `hint_explicit` says whether `counter_reset_hint:` was written.
    Histogram {
        /// The histogram.
        h: FloatHistogram,
        /// Whether the literal set the counter-reset hint explicitly.
        hint_explicit: bool,
    },
}

fn err(line: usize, msg: impl Into<String>) -> TestParseError {
    TestParseError {
        line,
        message: msg.into(),
    }
}

/// Unquotes a Go/PromQL string literal (`"..."`, `'...'`, or a raw `` `...` ``).
pub fn unquote(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    if bytes.len() < 2 {
        return None;
    }
    let q = bytes[0];
    if bytes[bytes.len() - 1] != q {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    if q == b'`' {
        return Some(inner.to_string());
    }
    if q != b'"' && q != b'\'' {
        return None;
    }
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    let mut bytes_buf: Vec<u8> = Vec::new();
    let flush = |out: &mut String, buf: &mut Vec<u8>| {
        if !buf.is_empty() {
            out.push_str(&String::from_utf8_lossy(buf));
            buf.clear();
        }
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush(&mut out, &mut bytes_buf);
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' => {
                let h: String = (0..2).filter_map(|_| chars.next()).collect();
                bytes_buf.push(u8::from_str_radix(&h, 16).ok()?);
                continue;
            }
            'u' | 'U' => {
                let n = if e == 'u' { 4 } else { 8 };
                let h: String = (0..n).filter_map(|_| chars.next()).collect();
                out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
            }
            '0'..='7' => {
                let mut o = String::from(e);
                o.push(chars.next()?);
                o.push(chars.next()?);
                bytes_buf.push(u8::from_str_radix(&o, 8).ok()?);
                continue;
            }
            _ => return None,
        }
        flush(&mut out, &mut bytes_buf);
    }
    flush(&mut out, &mut bytes_buf);
    Some(out)
}

/// Splits a line into its series description and the rest (values).
pub fn split_series(line: &str) -> (&str, &str) {
    let b = line.as_bytes();
    let mut i = 0;
    let mut in_quote: Option<u8> = None;
    let mut depth = 0;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = in_quote {
            if c == b'\\' && q != b'`' {
                i += 2;
                continue;
            }
            if c == q {
                in_quote = None;
            }
        } else if c == b'"' || c == b'\'' || c == b'`' {
            in_quote = Some(c);
        } else if c == b'{' {
            depth += 1;
        } else if c == b'}' {
            depth -= 1;
            if depth == 0 {
                // The description may continue with `@st`.
                let mut j = i + 1;
                while j < b.len() && !b[j].is_ascii_whitespace() {
                    j += 1;
                }
                return (&line[..j], line[j..].trim());
            }
        } else if depth == 0 && c.is_ascii_whitespace() {
            return (&line[..i], line[i..].trim());
        }
        i += 1;
    }
    (line, "")
}

/// Parses `name{a="b", ...}` into labels.
pub fn parse_labels(desc: &str, line: usize) -> Result<Labels, TestParseError> {
    let desc = desc.trim();
    let (name, rest) = match desc.find('{') {
        Some(i) => (desc[..i].trim(), &desc[i..]),
        None => (desc, ""),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(err(line, format!("invalid metric name {name:?}")));
        }
        pairs.push(("__name__".into(), name.into()));
    }
    if !rest.is_empty() {
        if !rest.ends_with('}') {
            return Err(err(line, format!("unterminated label set in {desc:?}")));
        }
        let body = &rest[1..rest.len() - 1];
        let b = body.as_bytes();
        let mut i = 0;
        loop {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
                i += 1;
            }
            if i >= b.len() {
                break;
            }
            // Label name: identifier or quoted string.
            let (lname, ni) = read_token(body, i, line)?;
            i = ni;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= b.len() || b[i] == b',' {
                // A lone quoted string is the metric name.
                pairs.push(("__name__".into(), lname));
                continue;
            }
            if b[i] != b'=' {
                return Err(err(line, format!("expected '=' in label set {desc:?}")));
            }
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let (val, ni) = read_token(body, i, line)?;
            i = ni;
            pairs.push((lname, val));
        }
    }
    Ok(Labels::from_pairs(pairs))
}

fn read_token(s: &str, i: usize, line: usize) -> Result<(String, usize), TestParseError> {
    let b = s.as_bytes();
    if i < b.len() && (b[i] == b'"' || b[i] == b'\'' || b[i] == b'`') {
        let q = b[i];
        let mut j = i + 1;
        while j < b.len() && b[j] != q {
            if b[j] == b'\\' && q != b'`' {
                j += 1;
            }
            j += 1;
        }
        if j >= b.len() {
            return Err(err(line, "unterminated quoted string"));
        }
        let v = unquote(&s[i..=j]).ok_or_else(|| err(line, "invalid quoted string"))?;
        return Ok((v, j + 1));
    }
    let mut j = i;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b':') {
        j += 1;
    }
    if j == i {
        return Err(err(
            line,
            format!("unexpected character in label set at {:?}", &s[i..]),
        ));
    }
    Ok((s[i..j].to_string(), j))
}

/// Parses a series value number (no hexadecimal).
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    let unsigned = t.trim_start_matches(['+', '-']);
    let neg = t.starts_with('-');
    match unsigned.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Some(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" => return Some(f64::from_bits(crate::value::NORMAL_NAN_BITS)),
        _ => {}
    }
    if unsigned.starts_with("0x") || unsigned.starts_with("0X") {
        return None;
    }
    if !unsigned
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '_' | '+' | '-'))
    {
        return None;
    }
    let cleaned: String = t.chars().filter(|c| *c != '_').collect();
    cleaned.parse::<f64>().ok()
}

fn parse_count(s: &str, line: usize) -> Result<usize, TestParseError> {
    s.parse::<usize>()
        .map_err(|_| err(line, format!("invalid repetition count {s:?}")))
}

/// Splits a value list into items, keeping `{{ ... }}` literals (and what follows them up to
/// the next space) together.
fn tokens(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        let mut depth = 0;
        while i < b.len() {
            if s[i..].starts_with("{{") {
                depth += 1;
                i += 2;
                continue;
            }
            if s[i..].starts_with("}}") {
                depth -= 1;
                i += 2;
                continue;
            }
            if depth == 0 && b[i].is_ascii_whitespace() {
                break;
            }
            i += 1;
        }
        out.push(&s[start..i]);
    }
    out
}

/// Expands a value list into slots.
pub fn parse_values(s: &str, line: usize) -> Result<Vec<SeriesValue>, TestParseError> {
    let mut out = Vec::new();
    for tok in tokens(s) {
        if tok == "_" {
            out.push(SeriesValue::Omitted);
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            let n = parse_count(n, line)?;
            out.extend(std::iter::repeat_n(SeriesValue::Omitted, n));
            continue;
        }
        if tok == "stale" {
            out.push(SeriesValue::Float(stale_nan()));
            continue;
        }
        if tok.starts_with("{{") {
            parse_histogram_item(tok, line, &mut out)?;
            continue;
        }
        if let Some(v) = parse_number(tok) {
            out.push(SeriesValue::Float(v));
            continue;
        }
        let Some(xi) = tok.rfind('x') else {
            return Err(err(line, format!("invalid value {tok:?}")));
        };
        let (base, count) = (&tok[..xi], &tok[xi + 1..]);
        let n = parse_count(count, line)?;
        if let Some(v) = parse_number(base) {
            out.extend(std::iter::repeat_n(SeriesValue::Float(v), n + 1));
            continue;
        }
        // start(+|-)delta
        let bb = base.as_bytes();
        let mut done = false;
        for i in 1..bb.len() {
            if (bb[i] == b'+' || bb[i] == b'-') && !matches!(bb[i - 1], b'e' | b'E') {
                if let (Some(a), Some(d)) = (parse_number(&base[..i]), parse_number(&base[i + 1..]))
                {
                    let d = if bb[i] == b'-' { -d } else { d };
                    let mut v = a;
                    out.push(SeriesValue::Float(v));
                    for _ in 0..n {
                        v += d;
                        out.push(SeriesValue::Float(v));
                    }
                    done = true;
                    break;
                }
            }
        }
        if !done {
            return Err(err(line, format!("invalid value {tok:?}")));
        }
    }
    Ok(out)
}

fn parse_histogram_item(
    tok: &str,
    line: usize,
    out: &mut Vec<SeriesValue>,
) -> Result<(), TestParseError> {
    let end = tok
        .find("}}")
        .ok_or_else(|| err(line, "unterminated histogram"))?;
    let (a, a_explicit) = parse_histogram(&tok[2..end], line)?;
    let rest = &tok[end + 2..];
    if rest.is_empty() {
        out.push(SeriesValue::Histogram {
            h: a,
            hint_explicit: a_explicit,
        });
        return Ok(());
    }
    if let Some(n) = rest.strip_prefix('x') {
        let n = parse_count(n, line)?;
        for _ in 0..=n {
            out.push(SeriesValue::Histogram {
                h: a.clone(),
                hint_explicit: a_explicit,
            });
        }
        return Ok(());
    }
    let (sign, rest) = (rest.as_bytes()[0], &rest[1..]);
    if (sign != b'+' && sign != b'-') || !rest.starts_with("{{") {
        return Err(err(line, format!("invalid histogram sequence {tok:?}")));
    }
    let e2 = rest
        .find("}}")
        .ok_or_else(|| err(line, "unterminated histogram"))?;
    let (b, b_explicit) = parse_histogram(&rest[2..e2], line)?;
    let n = rest[e2 + 2..]
        .strip_prefix('x')
        .ok_or_else(|| err(line, format!("missing repetition in {tok:?}")))?;
    let n = parse_count(n, line)?;
    let mut cur = a;
    out.push(SeriesValue::Histogram {
        h: cur.clone(),
        hint_explicit: b_explicit,
    });
    for _ in 0..n {
        if cur.schema > b.schema && !hist::uses_custom(&cur) {
            return Err(err(
                line,
                "histogram schema of the increment is lower than the running histogram",
            ));
        }
        let r = if sign == b'+' {
            hist::add(&mut cur, &b)
        } else {
            hist::sub(&mut cur, &b)
        };
        r.map_err(|e| err(line, e.to_string()))?;
        cur.counter_reset_hint = b.counter_reset_hint;
        out.push(SeriesValue::Histogram {
            h: cur.clone(),
            hint_explicit: b_explicit,
        });
    }
    Ok(())
}

fn parse_list(s: &str, line: usize) -> Result<Vec<f64>, TestParseError> {
    let inner = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .ok_or_else(|| err(line, format!("invalid bucket list {s:?}")))?;
    inner
        .split_whitespace()
        .map(|t| parse_number(t).ok_or_else(|| err(line, format!("invalid number {t:?}"))))
        .collect()
}

/// Parses the inside of `{{ ... }}`; returns the histogram and whether the hint was explicit.
pub fn parse_histogram(body: &str, line: usize) -> Result<(FloatHistogram, bool), TestParseError> {
    let mut h = FloatHistogram::default();
    let mut seen: Vec<String> = Vec::new();
    let mut explicit = false;
    let (mut offset, mut n_offset) = (0i32, 0i32);
    let (mut buckets, mut n_buckets): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    // Tokenize key:value where value may be a [list].
    let b = body.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && b[i] != b':' {
            i += 1;
        }
        let key = body[ks..i].trim().to_string();
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let vs = i;
        if i < b.len() && b[i] == b'[' {
            while i < b.len() && b[i] != b']' {
                i += 1;
            }
            i += 1;
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
        }
        let val = &body[vs..i.min(body.len())];
        if seen.contains(&key) {
            return Err(err(line, format!("duplicate key {key:?} in histogram")));
        }
        seen.push(key.clone());
        let num =
            |v: &str| parse_number(v).ok_or_else(|| err(line, format!("invalid number {v:?}")));
        match key.as_str() {
            "schema" => h.schema = val.parse().map_err(|_| err(line, "invalid schema"))?,
            "sum" => h.sum = num(val)?,
            "count" => h.count = num(val)?,
            "z_bucket" => h.zero_count = num(val)?,
            "z_bucket_w" => h.zero_threshold = num(val)?,
            "buckets" => buckets = parse_list(val, line)?,
            "offset" => offset = val.parse().map_err(|_| err(line, "invalid offset"))?,
            "n_buckets" => n_buckets = parse_list(val, line)?,
            "n_offset" => n_offset = val.parse().map_err(|_| err(line, "invalid n_offset"))?,
            "custom_values" => h.custom_values = parse_list(val, line)?,
            "counter_reset_hint" => {
                explicit = true;
                h.counter_reset_hint = match val {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::CounterReset,
                    "not_reset" => CounterResetHint::NotCounterReset,
                    "gauge" => CounterResetHint::Gauge,
                    _ => return Err(err(line, format!("invalid counter_reset_hint {val:?}"))),
                }
            }
            _ => return Err(err(line, format!("unknown histogram key {key:?}"))),
        }
    }
    if !buckets.is_empty() {
        h.positive_spans = vec![Span {
            offset,
            length: buckets.len() as u32,
        }];
        h.positive_buckets = buckets;
    }
    if !n_buckets.is_empty() {
        h.negative_spans = vec![Span {
            offset: n_offset,
            length: n_buckets.len() as u32,
        }];
        h.negative_buckets = n_buckets;
    }
    Ok((h, explicit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(v: &[SeriesValue]) -> Vec<Option<f64>> {
        v.iter()
            .map(|x| match x {
                SeriesValue::Float(f) => Some(*f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn expands_sequences() {
        assert_eq!(
            floats(&parse_values("-2+4x3", 1).unwrap()),
            vec![Some(-2.0), Some(2.0), Some(6.0), Some(10.0)]
        );
        assert_eq!(
            floats(&parse_values("1-2x4", 1).unwrap()),
            vec![Some(1.0), Some(-1.0), Some(-3.0), Some(-5.0), Some(-7.0)]
        );
        assert_eq!(
            floats(&parse_values("1 _x2 5x1 .5", 1).unwrap()),
            vec![Some(1.0), None, None, Some(5.0), Some(5.0), Some(0.5)]
        );
        assert!(parse_values("0x1f", 1).is_err());
    }

    #[test]
    fn parses_histograms() {
        let v = parse_values(
            "{{schema:0 sum:5 count:4 buckets:[1 2 1]}}+{{schema:1 count:1 buckets:[1]}}x2",
            1,
        )
        .unwrap();
        assert_eq!(v.len(), 3);
        let SeriesValue::Histogram { h, .. } = &v[2] else {
            panic!()
        };
        assert_eq!(h.count, 6.0);
        assert_eq!(h.schema, 0);
    }

    #[test]
    fn parses_series_descriptions() {
        let (d, rest) = split_series(r#"foo{a="b c", 'x'="y"} 1 2"#);
        assert_eq!(rest, "1 2");
        let l = parse_labels(d, 1).unwrap();
        assert_eq!(l.to_string(), r#"{__name__="foo", a="b c", x="y"}"#);
        let l = parse_labels(r#"{"my.metric", a="b"}"#, 1).unwrap();
        assert_eq!(l.metric_name(), Some("my.metric"));
    }
}
