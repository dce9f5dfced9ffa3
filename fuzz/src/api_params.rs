//! Fuzz body for the request parameters of the Prometheus HTTP API: urlencoded forms,
//! timestamps (float seconds, RFC 3339) and durations (float seconds, Prometheus units).

use tsdb_examples::http_api::params::{parse_duration_ms, parse_time, Form};

/// The input is split at the first NUL into a query string and a body. Properties: no panic;
/// every form value parses or fails cleanly as time and as duration; a parsed duration of
/// float seconds is the rounded product.
pub fn api_params(data: &[u8]) {
    let (query, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let query = String::from_utf8_lossy(query);
    let form = Form::parse(Some(&query), body);
    for name in ["query", "time", "start", "end", "step", "match[]"] {
        for v in form.all(name) {
            let _ = parse_time(v);
            if let (Ok(ms), Ok(secs)) = (parse_duration_ms(v), v.parse::<f64>()) {
                assert_eq!(ms, (secs * 1000.0).round() as i64, "{v:?}");
            }
        }
    }
    let _ = form.get("time");
}
