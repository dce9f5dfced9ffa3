//! A streaming parser for the OpenMetrics text format, following Prometheus'
//! `textparse.OpenMetricsParser` (the parser behind `promtool tsdb create-blocks-from
//! openmetrics`).
//!
//! It walks a byte buffer (typically a memory-mapped file) line by line and yields borrowed
//! entries, so parsing a sample allocates nothing. What it accepts and how it interprets values
//! match Prometheus:
//! - `# HELP`, `# TYPE`, `# UNIT` lines and a mandatory final `# EOF`; any other comment is an
//!   error;
//! - metric and label names bare or quoted (`{"my.metric", "a.b"="x"}`);
//! - label values unescaped with `\"`, `\\` and `\n` only (other escapes kept verbatim);
//! - `le` values of histograms and `quantile` values of summaries normalised to OpenMetrics'
//!   float spelling (`1` becomes `1.0`);
//! - values and timestamps parsed as Go's `strconv.ParseFloat` (no `p`, `P` or `_`), NaN values
//!   made the canonical NaN, timestamps in seconds converted to ms by truncation of `ts * 1000`;
//! - exemplars (`# {labels} value [ts]`) validated and skipped.

use std::borrow::Cow;

use tsdb_index::Labels;

/// Prometheus' canonical NaN bit pattern for sample values.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// A parse error with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} (byte {offset}): {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the start of the line.
    pub offset: usize,
    /// What was wrong.
    pub message: String,
}

/// The metric type declared by the most recent `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricType {
    /// No type declared yet, or `unknown`.
    #[default]
    Unknown,
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram`.
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info`.
    Info,
    /// `stateset`.
    Stateset,
}

impl MetricType {
    fn parse(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"gaugehistogram" => MetricType::GaugeHistogram,
            b"summary" => MetricType::Summary,
            b"info" => MetricType::Info,
            b"stateset" => MetricType::Stateset,
            b"unknown" => MetricType::Unknown,
            _ => return None,
        })
    }
}

/// One sample line, borrowing from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The series text as written (name and label block), usable as a cheap identity key.
    pub series: &'a [u8],
    /// The metric name, still escaped if it was quoted.
    pub name: &'a [u8],
    /// Label name/value pairs, still escaped.
    pub labels: Vec<(&'a [u8], &'a [u8])>,
    /// The value.
    pub value: f64,
    /// The timestamp in ms, if the line had one.
    pub timestamp: Option<i64>,
    /// The metric type in force for this line.
    pub metric_type: MetricType,
}

impl Sample<'_> {
    /// The sample's label set, as Prometheus builds it: `__name__` plus the labels, unescaped,
    /// `le`/`quantile` normalised, sorted. Errors on duplicate label names.
    pub fn to_labels(&self) -> Result<Labels, String> {
        let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> =
            Vec::with_capacity(self.labels.len() + 1);
        pairs.push((Cow::Borrowed("__name__"), unescape(self.name)?));
        for (n, v) in &self.labels {
            let name = unescape(n)?;
            let mut value = unescape(v)?;
            if (self.metric_type == MetricType::Histogram && name == "le")
                || (self.metric_type == MetricType::Summary && name == "quantile")
            {
                if let Some(f) = parse_go_float(&value) {
                    value = Cow::Owned(format_openmetrics_float(f));
                }
            }
            pairs.push((name, value));
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        for w in pairs.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(format!("duplicate label name {:?}", w[0].0));
            }
        }
        Ok(Labels::from_sorted(
            pairs
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| (n.as_ref(), v.as_ref())),
        ))
    }
}

/// One parsed entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP name text`.
    Help {
        /// Metric family name.
        name: &'a [u8],
        /// Help text (escaped).
        text: &'a [u8],
    },
    /// `# TYPE name type`.
    Type {
        /// Metric family name.
        name: &'a [u8],
        /// The declared type.
        metric_type: MetricType,
    },
    /// `# UNIT name unit`.
    Unit {
        /// Metric family name.
        name: &'a [u8],
        /// The unit.
        unit: &'a [u8],
    },
    /// A sample line.
    Sample(Sample<'a>),
}

/// Streaming OpenMetrics parser over a byte buffer.
///
/// ```
/// use tsdb_examples::openmetrics::{Entry, Parser};
/// let mut p = Parser::new(b"# TYPE up gauge\nup{job=\"a\"} 1 10.5\n# EOF\n");
/// let mut n = 0;
/// while let Some(e) = p.next_entry().unwrap() {
///     if let Entry::Sample(s) = e {
///         assert_eq!(s.timestamp, Some(10_500));
///         assert_eq!(s.to_labels().unwrap().to_string(), r#"{__name__="up", job="a"}"#);
///         n += 1;
///     }
/// }
/// assert_eq!(n, 1);
/// ```
pub struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    line: u64,
    metric_type: MetricType,
    done: bool,
}

/// Unescapes a label value or quoted name the way Prometheus does (`\"`, `\\`, `\n` only).
pub fn unescape(b: &[u8]) -> Result<Cow<'_, str>, String> {
    let s = std::str::from_utf8(b)
        .map_err(|_| format!("invalid UTF-8 in {:?}", String::from_utf8_lossy(b)))?;
    if !s.contains('\\') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('"') => {
                out.push('"');
                chars.next();
            }
            Some('\\') => {
                out.push('\\');
                chars.next();
            }
            Some('n') => {
                out.push('\n');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    Ok(Cow::Owned(out))
}

/// Parses a float as Prometheus' text parsers do: Go's `strconv.ParseFloat` minus the `p`, `P`
/// and `_` forms.
pub fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.bytes().any(|b| matches!(b, b'p' | b'P' | b'_')) {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if lower.len() - body.len() > 1 {
        return None;
    }
    // Go rejects a sign before NaN and accepts "inf"/"infinity" with a sign; Rust's parser
    // agrees on the rest of the syntax that can reach here.
    if body == "nan" && body.len() != lower.len() {
        return None;
    }
    if body.starts_with("0x") {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Formats like Prometheus' `labels.FormatOpenMetricsFloat`: Go's `%g` with `.0` appended when
/// there is neither a `.` nor an `e`.
pub fn format_openmetrics_float(f: f64) -> String {
    let mut s = tsdb_core::gofloat::go_g(f);
    if f.is_finite() && !s.contains(['.', 'e']) {
        s.push_str(".0");
    }
    s
}

fn is_name_start(b: u8, colon: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || (colon && b == b':')
}

fn is_name_char(b: u8, colon: bool) -> bool {
    is_name_start(b, colon) || b.is_ascii_digit()
}

/// Length of a quoted string `"(\\.|[^\\"])*"` at the start of `b` (newlines allowed only when
/// `allow_newline`), including both quotes.
fn quoted_len(b: &[u8], allow_newline: bool) -> Option<usize> {
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            b'\n' if !allow_newline => return None,
            _ => i += 1,
        }
    }
    None
}

impl<'a> Parser<'a> {
    /// A parser over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Parser {
            buf,
            pos: 0,
            line: 0,
            metric_type: MetricType::Unknown,
            done: false,
        }
    }

    /// Byte offset of the next unparsed line (for progress reporting).
    pub fn position(&self) -> usize {
        self.pos
    }

    fn err(&self, start: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            offset: start,
            message: message.into(),
        }
    }

    /// The next entry; `Ok(None)` after `# EOF`.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        if self.done {
            return Ok(None);
        }
        let start = self.pos;
        self.line += 1;
        if start >= self.buf.len() {
            return Err(self.err(start, "data does not end with # EOF"));
        }
        let rest = &self.buf[start..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            // Only `# EOF` may end without a newline.
            if rest == b"# EOF" {
                self.done = true;
                self.pos = self.buf.len();
                return Ok(None);
            }
            return Err(self.err(start, "data does not end with # EOF"));
        };
        let line = &rest[..nl];
        self.pos = start + nl + 1;
        if line.first() == Some(&b'#') {
            return self.comment_line(start, line);
        }
        self.sample_line(start, line)
            .map(|s| Some(Entry::Sample(s)))
    }

    fn comment_line(
        &mut self,
        start: usize,
        line: &'a [u8],
    ) -> Result<Option<Entry<'a>>, ParseError> {
        if line == b"# EOF" {
            if self.pos != self.buf.len() {
                return Err(self.err(start, "unexpected data after # EOF"));
            }
            self.done = true;
            return Ok(None);
        }
        let (kind, rest) = if let Some(r) = line.strip_prefix(b"# HELP ") {
            (0, r)
        } else if let Some(r) = line.strip_prefix(b"# TYPE ") {
            (1, r)
        } else if let Some(r) = line.strip_prefix(b"# UNIT ") {
            (2, r)
        } else {
            return Err(self.err(
                start,
                format!(
                    "expected a valid start token, got {:?}",
                    String::from_utf8_lossy(line)
                ),
            ));
        };
        let (name, after) = if rest.first() == Some(&b'"') {
            let n = quoted_len(rest, true)
                .ok_or_else(|| self.err(start, "unterminated quoted metric name"))?;
            (&rest[1..n - 1], &rest[n..])
        } else {
            let n = rest.iter().take_while(|&&b| is_name_char(b, true)).count();
            if n == 0 || !is_name_start(rest[0], true) {
                return Err(self.err(start, "expected metric name after metadata keyword"));
            }
            (&rest[..n], &rest[n..])
        };
        let Some(text) = after.strip_prefix(b" ") else {
            return Err(self.err(start, "expected text after metric name"));
        };
        match kind {
            0 => {
                if std::str::from_utf8(text).is_err() {
                    return Err(self.err(start, "help text is not valid UTF-8"));
                }
                Ok(Some(Entry::Help { name, text }))
            }
            1 => {
                let t = MetricType::parse(text).ok_or_else(|| {
                    self.err(
                        start,
                        format!("invalid metric type {:?}", String::from_utf8_lossy(text)),
                    )
                })?;
                self.metric_type = t;
                Ok(Some(Entry::Type {
                    name,
                    metric_type: t,
                }))
            }
            _ => {
                let is_suffix = name.len() > text.len()
                    && name.ends_with(text)
                    && name[name.len() - text.len() - 1] == b'_';
                if !text.is_empty() && !is_suffix {
                    return Err(self.err(
                        start,
                        format!(
                            "unit {:?} not a suffix of metric {:?}",
                            String::from_utf8_lossy(text),
                            String::from_utf8_lossy(name)
                        ),
                    ));
                }
                Ok(Some(Entry::Unit { name, unit: text }))
            }
        }
    }

    /// Parses `{name=value, ...}` starting after `{`; returns the bytes consumed (through `}`).
    /// A quoted string followed by `,` or `}` is the metric name (not allowed in exemplars).
    fn label_block(
        &self,
        start: usize,
        b: &'a [u8],
        name: &mut Option<&'a [u8]>,
        labels: &mut Vec<(&'a [u8], &'a [u8])>,
        exemplar: bool,
    ) -> Result<usize, ParseError> {
        let mut i = 0;
        loop {
            match b.get(i) {
                Some(b'}') => return Ok(i + 1),
                None => return Err(self.err(start, "unterminated label set")),
                _ => {}
            }
            let (lname, quoted) = if b[i] == b'"' {
                let n = quoted_len(&b[i..], exemplar)
                    .ok_or_else(|| self.err(start, "bad quoted label name"))?;
                let s = &b[i + 1..i + n - 1];
                i += n;
                (s, true)
            } else {
                let n = b[i..]
                    .iter()
                    .take_while(|&&c| is_name_char(c, false))
                    .count();
                if n == 0 || !is_name_start(b[i], false) {
                    return Err(self.err(start, "expected label name"));
                }
                let s = &b[i..i + n];
                i += n;
                (s, false)
            };
            if quoted && matches!(b.get(i), Some(b',') | Some(b'}')) {
                if exemplar {
                    return Err(self.err(start, "expected label name"));
                }
                if name.is_some() {
                    return Err(self.err(start, "metric name already set"));
                }
                *name = Some(lname);
                if b[i] == b',' {
                    i += 1;
                }
                continue;
            }
            if b.get(i) != Some(&b'=') {
                return Err(self.err(start, "expected equal"));
            }
            i += 1;
            let n = quoted_len(&b[i..], false)
                .ok_or_else(|| self.err(start, "expected label value"))?;
            let v = &b[i + 1..i + n - 1];
            if std::str::from_utf8(v).is_err() {
                return Err(self.err(start, "invalid UTF-8 label value"));
            }
            i += n;
            labels.push((lname, v));
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {}
                _ => return Err(self.err(start, "expected comma or brace close")),
            }
        }
    }

    fn sample_line(&mut self, start: usize, line: &'a [u8]) -> Result<Sample<'a>, ParseError> {
        let mut name: Option<&'a [u8]> = None;
        let mut labels = Vec::new();
        let mut i;
        if line.first() == Some(&b'{') {
            i = 1 + self.label_block(start, &line[1..], &mut name, &mut labels, false)?;
        } else {
            let n = line.iter().take_while(|&&b| is_name_char(b, true)).count();
            if n == 0 || !is_name_start(line[0], true) {
                return Err(self.err(
                    start,
                    format!(
                        "expected a valid start token, got {:?}",
                        String::from_utf8_lossy(line)
                    ),
                ));
            }
            name = Some(&line[..n]);
            i = n;
            if line.get(i) == Some(&b'{') {
                let mut dummy = None;
                i += 1 + self.label_block(start, &line[i + 1..], &mut dummy, &mut labels, false)?;
                if dummy.is_some() {
                    return Err(self.err(start, "metric name already set"));
                }
            }
        }
        let Some(name) = name else {
            return Err(self.err(start, "metric name not set"));
        };
        let series = &line[..i];
        let mut fields = line[i..].split(|&b| b == b' ');
        // The text after the series must be " value[ ts][ # {exemplar} v[ ts]]".
        if fields.next() != Some(&[][..]) {
            return Err(self.err(start, "expected value after metric"));
        }
        let value_text = fields
            .next()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| self.err(start, "expected value after metric"))?;
        let value = std::str::from_utf8(value_text)
            .ok()
            .and_then(parse_go_float)
            .ok_or_else(|| {
                self.err(
                    start,
                    format!("invalid value {:?}", String::from_utf8_lossy(value_text)),
                )
            })?;
        let value = if value.is_nan() {
            f64::from_bits(NORMAL_NAN_BITS)
        } else {
            value
        };
        let mut timestamp = None;
        let mut next = fields.next();
        if let Some(ts) = next {
            if ts != b"#" {
                if ts.is_empty() {
                    return Err(self.err(start, "expected timestamp or comment"));
                }
                let f = std::str::from_utf8(ts)
                    .ok()
                    .and_then(parse_go_float)
                    .ok_or_else(|| {
                        self.err(
                            start,
                            format!("invalid timestamp {:?}", String::from_utf8_lossy(ts)),
                        )
                    })?;
                if !f.is_finite() {
                    return Err(self.err(start, format!("invalid timestamp {f}")));
                }
                timestamp = Some((f * 1000.0) as i64);
                next = fields.next();
            }
        }
        if let Some(tok) = next {
            if tok != b"#" {
                return Err(self.err(start, "expected next entry after timestamp"));
            }
            // Exemplar: " # {labels} value[ ts]".
            let at = line.len() - fields.clone().map(|f| f.len() + 1).sum::<usize>() + 1;
            self.exemplar(start, line.get(at..).unwrap_or(&[]))?;
        }
        Ok(Sample {
            series,
            name,
            labels,
            value,
            timestamp,
            metric_type: self.metric_type,
        })
    }

    fn exemplar(&self, start: usize, b: &'a [u8]) -> Result<(), ParseError> {
        if b.first() != Some(&b'{') {
            return Err(self.err(start, "expected exemplar label set"));
        }
        let mut name = None;
        let mut labels = Vec::new();
        let n = 1 + self.label_block(start, &b[1..], &mut name, &mut labels, true)?;
        let mut fields = b[n..].split(|&c| c == b' ');
        if fields.next() != Some(&[][..]) {
            return Err(self.err(start, "expected value after exemplar labels"));
        }
        let v = fields.next().unwrap_or(&[]);
        std::str::from_utf8(v)
            .ok()
            .and_then(parse_go_float)
            .ok_or_else(|| self.err(start, "invalid exemplar value"))?;
        if let Some(ts) = fields.next() {
            let f = std::str::from_utf8(ts)
                .ok()
                .and_then(parse_go_float)
                .ok_or_else(|| self.err(start, "invalid exemplar timestamp"))?;
            if !f.is_finite() {
                return Err(self.err(start, "invalid exemplar timestamp"));
            }
        }
        if fields.next().is_some() {
            return Err(self.err(start, "expected next entry after exemplar timestamp"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(input: &str) -> Result<Vec<(String, f64, Option<i64>)>, ParseError> {
        let mut p = Parser::new(input.as_bytes());
        let mut out = Vec::new();
        while let Some(e) = p.next_entry()? {
            if let Entry::Sample(s) = e {
                out.push((s.to_labels().unwrap().to_string(), s.value, s.timestamp));
            }
        }
        Ok(out)
    }

    #[test]
    fn parses_families_labels_and_escapes() {
        let got = samples(concat!(
            "# HELP h Help \\n text.\n",
            "# TYPE h histogram\n",
            "h_bucket{le=\"1\",a=\"x\\\"y\\\\z\\nw\\t\"} 3 1.5\n",
            "h_bucket{le=\"+Inf\"} 4 2 # {trace_id=\"abc\"} 0.5 1.2\n",
            "# TYPE g gauge\n",
            "{\"my.metric\",\"a.b\"=\"v\"} NaN\n",
            "g{le=\"1\"} -Inf 1700000000.197\n",
            "# EOF\n",
        ))
        .unwrap();
        assert_eq!(
            got[0].0,
            r#"{__name__="h_bucket", a="x\"y\\z\nw\\t", le="1.0"}"#
        );
        assert_eq!(got[0].2, Some(1500));
        assert_eq!(got[1].0, r#"{__name__="h_bucket", le="+Inf"}"#);
        assert_eq!(got[2].0, r#"{__name__="my.metric", a.b="v"}"#);
        assert_eq!(got[2].1.to_bits(), NORMAL_NAN_BITS);
        assert_eq!(got[2].2, None);
        assert_eq!(got[3].0, r#"{__name__="g", le="1"}"#);
        assert_eq!(got[3].2, Some((1700000000.197f64 * 1000.0) as i64));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "x 1\n",
            "x 1\n# EOF\nx 2\n",
            "# random comment\n# EOF\n",
            "x{a=\"b\" 1\n# EOF\n",
            "x  1\n# EOF\n",
            "x 0x1p3\n# EOF\n",
            "x 1_0\n# EOF\n",
            "# TYPE x bogus\n# EOF\n",
            "x 1 NaN\n# EOF\n",
        ] {
            assert!(samples(bad).is_err(), "{bad:?} accepted");
        }
        let mut p = Parser::new(b"x{a=\"1\",a=\"2\"} 1\n# EOF\n");
        let Some(Entry::Sample(s)) = p.next_entry().unwrap() else {
            panic!()
        };
        assert!(s.to_labels().is_err());
    }

    #[test]
    fn eof_without_newline() {
        assert_eq!(samples("a 1 2\n# EOF").unwrap().len(), 1);
    }
}
