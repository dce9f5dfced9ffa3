//! Go's `time.Duration.String()` for millisecond durations, as `promtool tsdb list` prints
//! block durations (`2h0m0s`, `1h46m30.467s`, `500ms`).

/// Formats `ms` milliseconds like Go's `time.Duration(ms * 1e6).String()`.
///
/// ```
/// use tsdb_examples::cli::gotime::go_duration_ms;
/// assert_eq!(go_duration_ms(7_200_000), "2h0m0s");
/// assert_eq!(go_duration_ms(6_390_467), "1h46m30.467s");
/// assert_eq!(go_duration_ms(1), "1ms");
/// assert_eq!(go_duration_ms(0), "0s");
/// ```
pub fn go_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let mut u = ms.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if u < 1000 {
        out.push_str(&format!("{u}ms"));
        return out;
    }
    let frac = u % 1000;
    u /= 1000;
    let secs = u % 60;
    u /= 60;
    let mins = u % 60;
    let hours = u / 60;
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || mins > 0 {
        out.push_str(&format!("{mins}m"));
    }
    out.push_str(&secs.to_string());
    if frac > 0 {
        let f = format!("{frac:03}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('s');
    out
}
