//! Request parameters of Prometheus' HTTP API: form values from the query string and, for
//! POST, from an `application/x-www-form-urlencoded` body; timestamps and durations in the
//! forms Prometheus accepts.

/// The form values of one request, in order, repeated names kept (`match[]`).
#[derive(Debug, Default, Clone)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Parses a URL query string and an optional urlencoded body; body values come after the
    /// query's, but [`Form::get`] prefers the body as Go's `FormValue` does.
    pub fn parse(query: Option<&str>, body: Option<&[u8]>) -> Form {
        let mut pairs = Vec::new();
        if let Some(b) = body {
            pairs.extend(form_urlencoded::parse(b).map(|(k, v)| (k.into_owned(), v.into_owned())));
        }
        if let Some(q) = query {
            pairs.extend(
                form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())),
            );
        }
        Form { pairs }
    }

    /// The first value of `name`, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Earliest time the API accepts as a default start (Prometheus' `MinTime`), in ms.
pub const MIN_TIME_MS: i64 = -9_223_372_036_854_775 + 1;
/// Latest time the API accepts as a default end (Prometheus' `MaxTime`), in ms.
pub const MAX_TIME_MS: i64 = 9_223_372_036_854_775 - 1;

/// Parses a timestamp as Prometheus does: float seconds since the epoch (rounded to ms), or
/// RFC 3339.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 9.2e15 {
            let whole = secs.trunc();
            let frac = ((secs - whole) * 1000.0).round();
            return Ok(whole as i64 * 1000 + frac as i64);
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    Err(format!("cannot parse {s:?} to a valid timestamp"))
}

/// Parses a duration as Prometheus does: float seconds, or a Prometheus duration (`5m`).
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        let ms = secs * 1000.0;
        if !ms.is_finite() || ms.abs() >= 9.2e15 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ms.round() as i64);
    }
    promql::parser::parse_duration_ms(s)
        .map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

/// Parses a boolean as Go's `strconv.ParseBool` does (`1 t T TRUE true True` and
/// `0 f F FALSE false False`), with Go's error text.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_prometheus_does() {
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("1435781451"), Ok(1_435_781_451_000));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Ok(1_435_781_451_781)
        );
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration_ms("15"), Ok(15_000));
        assert_eq!(parse_duration_ms("0.5"), Ok(500));
        assert_eq!(parse_duration_ms("1m30s"), Ok(90_000));
        assert!(parse_duration_ms("soon").is_err());
    }

    #[test]
    fn form_prefers_body_and_keeps_repeats() {
        let f = Form::parse(Some("query=up&match[]=a&match[]=b"), Some(b"query=down"));
        assert_eq!(f.get("query"), Some("down"));
        assert_eq!(f.all("match[]"), vec!["a", "b"]);
        assert_eq!(f.get("missing"), None);
    }
}
