//! Prometheus' test-script language (`.test` files): a parser for its `load`, `clear` and
//! `eval` commands and a runner that executes them against the engine and the in-memory
//! test storage, reporting each eval case as passed or failed (with a reason).

mod runner;
pub mod series;

pub use runner::{
    float_eq, run_file, run_script, test_engine_opts, CaseOutcome, FailureKind, FileReport, Hooks,
};

use tsdb_index::Labels;

use series::{parse_labels, parse_values, split_series, SeriesValue};

/// A syntax error in a test script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TestParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn perr(line: usize, msg: impl Into<String>) -> TestParseError {
    TestParseError {
        line,
        message: msg.into(),
    }
}

/// One series of a `load` block or an expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDef {
    /// Labels (including `__name__`).
    pub labels: Labels,
    /// Expanded slots.
    pub values: Vec<SeriesValue>,
    /// 1-based position among the block's series lines (for `ordered`).
    pub position: usize,
    /// Start-timestamp offsets per slot (ms), from an `@st` line.
    pub start_offsets: Option<Vec<Option<i64>>>,
}

/// A `load` command.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadCmd {
    /// Line of the header.
    pub line: usize,
    /// Slot spacing (ms).
    pub interval: i64,
    /// Also convert classic histograms to NHCB.
    pub with_nhcb: bool,
    /// The series.
    pub series: Vec<SeriesDef>,
}

/// How a message expectation matches.
#[derive(Debug, Clone, PartialEq)]
pub enum MsgMatch {
    /// Any message.
    Any,
    /// Exact (trimmed) text.
    Exact(String),
    /// Unanchored regex search.
    Regex(String),
}

/// Kind of an `expect` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectKind {
    /// The query fails.
    Fail,
    /// Warnings.
    Warn,
    /// No warnings.
    NoWarn,
    /// Infos.
    Info,
    /// No infos.
    NoInfo,
    /// Results in order.
    Ordered,
}

/// Whether it is an instant or range evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EvalKind {
    /// At one time (ms).
    Instant(i64),
    /// Over a range (ms).
    Range {
        /// Start.
        start: i64,
        /// End.
        end: i64,
        /// Step.
        step: i64,
    },
}

/// An `eval` command with its expectations.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalCmd {
    /// Line of the header.
    pub line: usize,
    /// The PromQL expression.
    pub expr: String,
    /// Instant or range.
    pub kind: EvalKind,
    /// `expect` lines.
    pub expects: Vec<(ExpectKind, MsgMatch)>,
    /// `expect range vector from .. to .. step ..`.
    pub range_vector: Option<(i64, i64, i64)>,
    /// `expect string "..."`.
    pub string: Option<String>,
    /// Expected series.
    pub series: Vec<SeriesDef>,
    /// Expected scalar.
    pub scalar: Option<f64>,
}

/// One command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `load`.
    Load(LoadCmd),
    /// `clear`.
    Clear,
    /// `eval`.
    Eval(Box<EvalCmd>),
}

/// Parses a Prometheus duration (`1m30s`, `0`, `-5m` when `allow_negative`) into ms.
pub fn parse_duration(s: &str, allow_negative: bool) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) if allow_negative => (true, r),
        _ => (false, s),
    };
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let units: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    let mut last_unit = -1i32;
    while i < b.len() {
        let ds = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if ds == i {
            return None;
        }
        let n: i64 = s[ds..i].parse().ok()?;
        let us = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[us..i];
        let ui = units.iter().position(|(u, _)| *u == unit)? as i32;
        if ui <= last_unit {
            return None;
        }
        last_unit = ui;
        total = total.checked_add(n.checked_mul(units[ui as usize].1)?)?;
    }
    Some(if neg { -total } else { total })
}

/// Parses a time: a duration from the epoch, or a number of seconds.
fn parse_time(s: &str, line: usize) -> Result<i64, TestParseError> {
    if let Some(d) = parse_duration(s, true) {
        return Ok(d);
    }
    if let Ok(f) = s.parse::<f64>() {
        return Ok((f * 1000.0).round() as i64);
    }
    Err(perr(line, format!("invalid time {s:?}")))
}

/// Parses a scalar expectation: integer with Go base prefixes, else a float.
fn parse_scalar(s: &str) -> Option<f64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&body[1..], 8).ok()
    } else if !body.is_empty() && body.bytes().all(|c| c.is_ascii_digit()) {
        body.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        let v = i as f64;
        return Some(if neg { -v } else { v });
    }
    match body.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Some(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if !body
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
    {
        return None;
    }
    let v: f64 = body.replace('_', "").parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Parses a whole script.
pub fn parse_script(text: &str) -> Result<Vec<Command>, TestParseError> {
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') {
                String::new()
            } else {
                t.to_string()
            }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let first = l
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if first == "clear" {
            cmds.push(Command::Clear);
            i += 1;
        } else if first.starts_with("load") {
            let (c, ni) = parse_load(&lines, i)?;
            cmds.push(Command::Load(c));
            i = ni;
        } else if first.starts_with("eval") {
            let (c, ni) = parse_eval(&lines, i)?;
            cmds.push(Command::Eval(Box::new(c)));
            i = ni;
        } else {
            return Err(perr(i + 1, format!("invalid command {l:?}")));
        }
    }
    Ok(cmds)
}

fn parse_load(lines: &[String], i: usize) -> Result<(LoadCmd, usize), TestParseError> {
    let header = &lines[i];
    let mut parts = header.split_whitespace();
    let kw = parts.next().unwrap_or("");
    let with_nhcb = match kw {
        "load" => false,
        "load_with_nhcb" => true,
        _ => return Err(perr(i + 1, format!("invalid load command {header:?}"))),
    };
    let iv = parts
        .next()
        .ok_or_else(|| perr(i + 1, "missing load interval"))?;
    let interval =
        parse_duration(iv, false).ok_or_else(|| perr(i + 1, format!("invalid interval {iv:?}")))?;
    let mut series: Vec<SeriesDef> = Vec::new();
    let mut j = i + 1;
    let mut pending_st: Option<(Labels, Vec<Option<i64>>)> = None;
    while j < lines.len() && !lines[j].is_empty() {
        let (desc, vals) = split_series(&lines[j]);
        if let Some(d) = desc.strip_suffix("@st") {
            let labels = parse_labels(d, j + 1)?;
            pending_st = Some((labels, parse_st_values(vals, j + 1)?));
            j += 1;
            continue;
        }
        let labels = parse_labels(desc, j + 1)?;
        let values = parse_values(vals, j + 1)?;
        let st = match pending_st.take() {
            Some((l, st)) if l == labels => Some(st),
            Some(_) => return Err(perr(j + 1, "@st line not followed by its series")),
            None => None,
        };
        let pos = series.len() + 1;
        series.retain(|s| s.labels != labels);
        series.push(SeriesDef {
            labels,
            values,
            position: pos,
            start_offsets: st,
        });
        j += 1;
    }
    Ok((
        LoadCmd {
            line: i + 1,
            interval,
            with_nhcb,
            series,
        },
        j,
    ))
}

fn parse_st_values(s: &str, line: usize) -> Result<Vec<Option<i64>>, TestParseError> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        if tok == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| perr(line, "invalid count"))?;
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        let (base, count) = match tok.rfind('x') {
            Some(i) => (&tok[..i], Some(&tok[i + 1..])),
            None => (tok, None),
        };
        let n: usize = match count {
            Some(c) => c.parse().map_err(|_| perr(line, "invalid count"))?,
            None => 0,
        };
        if let Some(d) = parse_duration(base.strip_prefix('+').unwrap_or(base), true) {
            out.extend(std::iter::repeat_n(Some(d), n + 1));
            continue;
        }
        let b = base.as_bytes();
        let mut ok = false;
        for k in 1..b.len() {
            if b[k] == b'+' || b[k] == b'-' {
                if let (Some(a), Some(d)) = (
                    parse_duration(&base[..k], true),
                    parse_duration(&base[k + 1..], false),
                ) {
                    let d = if b[k] == b'-' { -d } else { d };
                    for m in 0..=n as i64 {
                        out.push(Some(a + m * d));
                    }
                    ok = true;
                    break;
                }
            }
        }
        if !ok {
            return Err(perr(line, format!("invalid start timestamp item {tok:?}")));
        }
    }
    Ok(out)
}

fn parse_match(rest: Option<&str>, line: usize) -> Result<MsgMatch, TestParseError> {
    let Some(r) = rest else {
        return Ok(MsgMatch::Any);
    };
    let r = r.trim();
    if r.is_empty() {
        return Ok(MsgMatch::Any);
    }
    if let Some(m) = r.strip_prefix("msg:") {
        return Ok(MsgMatch::Exact(m.trim().to_string()));
    }
    if let Some(m) = r.strip_prefix("regex:") {
        return Ok(MsgMatch::Regex(m.trim().to_string()));
    }
    Err(perr(line, format!("invalid expect match {r:?}")))
}

fn parse_eval(lines: &[String], i: usize) -> Result<(EvalCmd, usize), TestParseError> {
    let header = lines[i].as_str();
    let line = i + 1;
    let (kw, rest) = header
        .split_once(char::is_whitespace)
        .ok_or_else(|| perr(line, "invalid eval"))?;
    let rest = rest.trim();
    let modifier = match kw {
        "eval" => None,
        "eval_fail" => Some(ExpectKind::Fail),
        "eval_warn" => Some(ExpectKind::Warn),
        "eval_info" => Some(ExpectKind::Info),
        "eval_ordered" => Some(ExpectKind::Ordered),
        _ => return Err(perr(line, format!("invalid eval command {kw:?}"))),
    };
    let (kind, expr) = if let Some(r) = rest.strip_prefix("instant") {
        let r = r.trim_start();
        let r = r
            .strip_prefix("at")
            .ok_or_else(|| perr(line, "missing 'at' in instant eval"))?;
        let r = r.trim_start();
        let (t, e) = r
            .split_once(char::is_whitespace)
            .ok_or_else(|| perr(line, "missing expression"))?;
        (
            EvalKind::Instant(parse_time(t, line)?),
            e.trim().to_string(),
        )
    } else if let Some(r) = rest.strip_prefix("range") {
        if modifier == Some(ExpectKind::Ordered) {
            return Err(perr(line, "eval_ordered is only valid for instant queries"));
        }
        let re = regex::Regex::new(r"^\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
            .expect("static regex");
        let caps = re
            .captures(r)
            .ok_or_else(|| perr(line, "invalid range eval"))?;
        let start = parse_time(caps[1].trim(), line)?;
        let end = parse_time(caps[2].trim(), line)?;
        let step =
            parse_duration(caps[3].trim(), false).ok_or_else(|| perr(line, "invalid step"))?;
        if end < start {
            return Err(perr(
                line,
                "invalid test definition, end timestamp is before start timestamp",
            ));
        }
        let expr = caps[4].trim().to_string();
        (EvalKind::Range { start, end, step }, expr)
    } else {
        return Err(perr(line, format!("invalid eval header {header:?}")));
    };
    let mut cmd = EvalCmd {
        line,
        expr,
        kind,
        expects: Vec::new(),
        range_vector: None,
        string: None,
        series: Vec::new(),
        scalar: None,
    };
    if let Some(m) = modifier {
        cmd.expects.push((m, MsgMatch::Any));
    }
    let mut j = i + 1;
    let mut pos = 0;
    while j < lines.len() && !lines[j].is_empty() {
        let l = lines[j].as_str();
        let ln = j + 1;
        j += 1;
        if l.split(' ').next() == Some("expect") {
            let r = l["expect".len()..].trim_start();
            if let Some(rv) = r.strip_prefix("range vector") {
                let w: Vec<&str> = rv.split_whitespace().collect();
                if w.len() != 6 || w[0] != "from" || w[2] != "to" || w[4] != "step" {
                    return Err(perr(ln, "invalid expect range vector"));
                }
                let s = parse_time(w[1], ln)?;
                let e = parse_time(w[3], ln)?;
                let st = parse_duration(w[5], false).ok_or_else(|| perr(ln, "invalid step"))?;
                cmd.range_vector = Some((s, e, st));
                continue;
            }
            if let Some(sv) = r.strip_prefix("string") {
                let v =
                    series::unquote(sv.trim()).ok_or_else(|| perr(ln, "invalid expect string"))?;
                cmd.string = Some(v);
                continue;
            }
            let (k, tail) = match r.split_once(char::is_whitespace) {
                Some((k, t)) => (k, Some(t)),
                None => (r, None),
            };
            let kind = match k {
                "fail" => ExpectKind::Fail,
                "warn" => ExpectKind::Warn,
                "no_warn" => ExpectKind::NoWarn,
                "info" => ExpectKind::Info,
                "no_info" => ExpectKind::NoInfo,
                "ordered" => ExpectKind::Ordered,
                _ => return Err(perr(ln, format!("invalid expect line {l:?}"))),
            };
            cmd.expects.push((kind, parse_match(tail, ln)?));
            continue;
        }
        if let Some(m) = l.strip_prefix("expected_fail_message") {
            cmd.expects.retain(|e| e.0 != ExpectKind::Fail);
            cmd.expects
                .push((ExpectKind::Fail, MsgMatch::Exact(m.trim().to_string())));
            break;
        }
        if let Some(m) = l.strip_prefix("expected_fail_regexp") {
            cmd.expects.retain(|e| e.0 != ExpectKind::Fail);
            cmd.expects
                .push((ExpectKind::Fail, MsgMatch::Regex(m.trim().to_string())));
            break;
        }
        if let Some(v) = parse_scalar(l) {
            cmd.scalar = Some(v);
            break;
        }
        let (desc, vals) = split_series(l);
        let labels = parse_labels(desc, ln)?;
        let values = parse_values(vals, ln)?;
        if matches!(cmd.kind, EvalKind::Instant(_))
            && cmd.range_vector.is_none()
            && values.len() != 1
        {
            return Err(perr(
                ln,
                "expecting multiple values in instant evaluation not allowed",
            ));
        }
        pos += 1;
        cmd.series.push(SeriesDef {
            labels,
            values,
            position: pos,
            start_offsets: None,
        });
    }
    // Skip to the end of the block.
    while j < lines.len() && !lines[j].is_empty() {
        j += 1;
    }
    if let Some((_, e, _)) = cmd.range_vector {
        if let EvalKind::Instant(_) = cmd.kind {
            cmd.kind = EvalKind::Instant(e);
        }
    }
    Ok((cmd, j))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s", false), Some(90_000));
        assert_eq!(parse_duration("10s53ms", false), Some(10_053));
        assert_eq!(parse_duration("0", false), Some(0));
        assert_eq!(parse_duration("30s1m", false), None);
        assert_eq!(parse_duration("-1m", true), Some(-60_000));
    }

    #[test]
    fn scalars() {
        assert_eq!(parse_scalar("010"), Some(8.0));
        assert_eq!(parse_scalar("0x10"), Some(16.0));
        assert_eq!(parse_scalar("1e3"), Some(1000.0));
        assert_eq!(parse_scalar("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_scalar("foo"), None);
    }

    #[test]
    fn parses_blocks() {
        let s = "load 5m\n  a{x=\"1\"} 1+1x3\n\n# c\neval instant at 10m a\n  expect no_warn\n  a{x=\"1\"} 3\n\neval range from 0 to 10m step 5m a\n  a{x=\"1\"} 1 2 3\n";
        let c = parse_script(s).unwrap();
        assert_eq!(c.len(), 3);
        let Command::Eval(e) = &c[2] else { panic!() };
        assert_eq!(
            e.kind,
            EvalKind::Range {
                start: 0,
                end: 600_000,
                step: 300_000
            }
        );
        assert_eq!(e.expr, "a");
    }
}
