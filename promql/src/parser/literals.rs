//! Literal conversions with Go's semantics: numbers (`strconv.ParseInt(s, 0, 64)` falling back
//! to `strconv.ParseFloat`), Prometheus durations (`model.ParseDuration`) and formatting
//! (`model.Duration.String`, `strconv.FormatFloat(v, 'f', -1, 64)`), and string unquoting
//! (Prometheus' `strutil.Unquote`).

/// Go's `math.NaN()` bit pattern, which Prometheus' NaN literals carry.
pub const GO_NAN_BITS: u64 = 0x7FF8_0000_0000_0001;

/// Parses a number token as Prometheus does: an integer first (decimal, hexadecimal `0x`,
/// octal with a leading `0`), else a float. The error text is Go's.
pub fn parse_number(s: &str) -> Result<f64, String> {
    if let Some(i) = parse_go_int(s) {
        return Ok(i as f64);
    }
    parse_go_float(s)
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (digits, radix) = if let Some(rest) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        (rest.trim_start_matches('_'), 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    i64::from_str_radix(&clean, radix).ok()
}

fn parse_go_float(s: &str) -> Result<f64, String> {
    let syntax = || format!("strconv.ParseFloat: parsing {}: invalid syntax", go_q(s));
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Ok(f64::INFINITY),
        "-inf" | "-infinity" => return Ok(f64::NEG_INFINITY),
        "nan" => return Ok(f64::from_bits(GO_NAN_BITS)),
        _ => {}
    }
    if lower.starts_with("0x") || lower.contains("inf") || lower.contains("nan") {
        // Hexadecimal floats need a `p` exponent, which the lexer never produces.
        return Err(syntax());
    }
    if s.contains('_') && !underscores_ok(s) {
        return Err(syntax());
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let v: f64 = clean.parse().map_err(|_| syntax())?;
    if v.is_infinite() {
        return Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_q(s)
        ));
    }
    Ok(v)
}

/// Go allows `_` only between digits.
fn underscores_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'_'
            || (i > 0
                && i + 1 < b.len()
                && b[i - 1].is_ascii_hexdigit()
                && b[i + 1].is_ascii_hexdigit())
    })
}

fn go_q(s: &str) -> String {
    tsdb_index::labels::go_quote(s)
}

/// Parses a Prometheus duration (`1h30m`, `5m`, `100ms`, `0`) to milliseconds, as
/// `model.ParseDuration` does: `<digits><unit>` groups, units `y w d h m s ms` each at most
/// once and from the biggest to the smallest, within Go's `time.Duration` range.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", go_q(s));
    // (unit, order, nanoseconds)
    const UNITS: [(&str, u32, u64); 7] = [
        ("ms", 7, 1_000_000),
        ("s", 6, 1_000_000_000),
        ("m", 5, 60 * 1_000_000_000),
        ("h", 4, 3600 * 1_000_000_000),
        ("d", 3, 24 * 3600 * 1_000_000_000),
        ("w", 2, 7 * 24 * 3600 * 1_000_000_000),
        ("y", 1, 365 * 24 * 3600 * 1_000_000_000),
    ];
    let mut rest = s;
    let mut last_pos = 0;
    let mut total_ns: u64 = 0;
    while !rest.is_empty() {
        let nd = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if nd == 0 {
            return Err(invalid());
        }
        let v: u64 = rest[..nd].parse().map_err(|_| invalid())?;
        rest = &rest[nd..];
        let nu = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        if nu == 0 {
            return Err(invalid());
        }
        let unit = &rest[..nu];
        rest = &rest[nu..];
        let Some(&(_, pos, mult)) = UNITS.iter().find(|(u, _, _)| *u == unit) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                go_q(unit),
                go_q(s)
            ));
        };
        if pos <= last_pos {
            return Err(invalid());
        }
        last_pos = pos;
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".into());
        }
        total_ns += v * mult;
        if total_ns > i64::MAX as u64 {
            return Err("duration out of range".into());
        }
    }
    Ok((total_ns / 1_000_000) as i64)
}

/// Formats milliseconds as `model.Duration.String()` does (`1h30m`, `90d`, `0s`, `-5m`).
pub fn format_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut ms = ms;
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
        ms = ms.saturating_neg();
    }
    let mut unit = |name: &str, mult: i64, exact: bool| {
        if exact && ms % mult != 0 {
            return;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&v.to_string());
            out.push_str(name);
            ms -= v * mult;
        }
    };
    unit("y", 365 * 24 * 3600 * 1000, true);
    unit("w", 7 * 24 * 3600 * 1000, true);
    unit("d", 24 * 3600 * 1000, false);
    unit("h", 3600 * 1000, false);
    unit("m", 60 * 1000, false);
    unit("s", 1000, false);
    unit("ms", 1, false);
    out
}

/// Formats a float as Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-trip
/// digits, never an exponent; `+Inf`, `-Inf`, `NaN`.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Seconds (as a float) to milliseconds, as Prometheus goes from a literal to its engine:
/// rounded to nanoseconds, then truncated to milliseconds.
pub fn seconds_to_ms(secs: f64) -> i64 {
    let ns = (secs * 1e9).round();
    // `as` saturates; out-of-range literals are rejected before this is called.
    (ns as i64) / 1_000_000
}

/// Resolves the quotes and escapes of a string token (`"..."`, `'...'` with Go escapes;
/// `` `...` `` raw). Returns the bytes: `\x` and octal escapes can produce invalid UTF-8.
pub fn unquote(s: &str) -> Result<Vec<u8>, String> {
    let bytes = s.as_bytes();
    if bytes.len() < 2 {
        return Err("invalid syntax".into());
    }
    let quote = bytes[0];
    if bytes[bytes.len() - 1] != quote {
        return Err("invalid syntax".into());
    }
    let inner = &s[1..s.len() - 1];
    match quote {
        b'`' => {
            if inner.contains('`') {
                return Err("invalid syntax".into());
            }
            Ok(inner.as_bytes().to_vec())
        }
        b'"' | b'\'' => {
            let mut out = Vec::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c as u32 == quote as u32 || c == '\n' {
                    return Err("invalid syntax".into());
                }
                if c != '\\' {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    continue;
                }
                let e = chars.next().ok_or("invalid syntax")?;
                let simple = match e {
                    'a' => Some(7u8),
                    'b' => Some(8),
                    'f' => Some(12),
                    'n' => Some(b'\n'),
                    'r' => Some(b'\r'),
                    't' => Some(b'\t'),
                    'v' => Some(11),
                    '\\' => Some(b'\\'),
                    c if c as u32 == quote as u32 => Some(quote),
                    _ => None,
                };
                if let Some(b) = simple {
                    out.push(b);
                    continue;
                }
                let (n, radix, is_byte) = match e {
                    '0'..='7' => (3, 8, true),
                    'x' => (2, 16, true),
                    'u' => (4, 16, false),
                    'U' => (8, 16, false),
                    _ => return Err("invalid syntax".into()),
                };
                let mut v: u32 = 0;
                let mut count = 0;
                if radix == 8 {
                    v = e.to_digit(8).unwrap_or(0);
                    count = 1;
                }
                while count < n {
                    let d = chars
                        .next()
                        .and_then(|c| c.to_digit(radix))
                        .ok_or("invalid syntax")?;
                    v = v * radix + d;
                    count += 1;
                }
                if is_byte {
                    if v > 255 {
                        return Err("invalid syntax".into());
                    }
                    out.push(v as u8);
                } else {
                    let c = char::from_u32(v).ok_or("invalid syntax")?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            Ok(out)
        }
        _ => Err("invalid syntax".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_go() {
        assert_eq!(parse_number("0x1F").unwrap(), 31.0);
        assert_eq!(parse_number("0755").unwrap(), 493.0);
        assert_eq!(parse_number("08").unwrap(), 8.0);
        assert_eq!(parse_number("1_000").unwrap(), 1000.0);
        assert_eq!(parse_number("1e3").unwrap(), 1000.0);
        assert_eq!(parse_number(".5").unwrap(), 0.5);
        assert_eq!(parse_number("5.").unwrap(), 5.0);
        assert!(parse_number("NaN").unwrap().is_nan());
        assert_eq!(parse_number("Inf").unwrap(), f64::INFINITY);
        assert!(parse_number(&"9".repeat(400))
            .unwrap_err()
            .ends_with("value out of range"));
    }

    #[test]
    fn durations_follow_prometheus() {
        assert_eq!(parse_duration_ms("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration_ms("5m").unwrap(), 300_000);
        assert_eq!(parse_duration_ms("1y").unwrap(), 31_536_000_000);
        assert_eq!(parse_duration_ms("10ms").unwrap(), 10);
        assert!(parse_duration_ms("1s1m").is_err());
        assert_eq!(format_duration_ms(5_400_000), "1h30m");
        assert_eq!(format_duration_ms(90 * 86_400_000), "90d");
        assert_eq!(format_duration_ms(14 * 86_400_000), "2w");
        assert_eq!(format_duration_ms(0), "0s");
        assert_eq!(format_duration_ms(1_500), "1s500ms");
    }

    #[test]
    fn unquoting() {
        assert_eq!(unquote(r#""a\nb""#).unwrap(), b"a\nb");
        assert_eq!(unquote(r#"'a\'b'"#).unwrap(), b"a'b");
        assert_eq!(unquote(r#""\xc5""#).unwrap(), vec![0xc5]);
        assert_eq!(unquote(r#""\u00e9""#).unwrap(), "é".as_bytes());
        assert_eq!(unquote(r"`a\n`").unwrap(), br"a\n");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(-0.5), "-0.5");
    }
}
