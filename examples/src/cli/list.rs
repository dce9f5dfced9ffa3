//! `tsdb list DIR`: one line per block, formatted as `promtool tsdb list` prints it (Go's
//! tabwriter with min width 13 and padding 2).

use std::io::Write;
use std::path::Path;

use tsdb_core::block::reader::Block;

use super::gotime::go_duration_ms;
use super::CliError;

/// Renders rows as Go's `tabwriter.NewWriter(w, 13, 0, 2, ' ', 0)` does: every tab-terminated
/// cell padded to its column's width (widest cell + 2, at least 13); the last cell unpadded.
pub fn tabwrite(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            widths[i] = widths[i].max((c.chars().count() + 2).max(13));
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                for _ in c.chars().count()..widths[i] {
                    out.push(' ');
                }
            }
        }
        out.push('\n');
    }
    out
}

/// The header row of the block table.
pub fn header() -> Vec<String> {
    [
        "BLOCK ULID",
        "MIN TIME",
        "MAX TIME",
        "DURATION",
        "NUM SAMPLES",
        "NUM CHUNKS",
        "NUM SERIES",
        "SIZE",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// One block's row.
pub fn row(b: &Block, human: bool) -> Vec<String> {
    let m = b.meta();
    let time = |t: i64| {
        if human {
            human_time(t)
        } else {
            t.to_string()
        }
    };
    vec![
        m.ulid.to_string(),
        time(m.min_time),
        time(m.max_time),
        go_duration_ms(m.max_time - m.min_time),
        m.stats.num_samples.to_string(),
        m.stats.num_chunks.to_string(),
        m.stats.num_series.to_string(),
        if human {
            human_bytes(b.size())
        } else {
            b.size().to_string()
        },
    ]
}

/// Go's `time.Unix(ms/1000, 0).UTC().String()`: `2023-11-14 22:13:20 +0000 UTC`.
fn human_time(ms: i64) -> String {
    let secs = ms / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `units.Base2Bytes(n).String()` of Go's alecthomas/units: each non-zero power of 1024 from
/// the largest down (`29KiB670B`, `1MiB`, `512B`).
fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u32); 6] = [
        ("EiB", 6),
        ("PiB", 5),
        ("TiB", 4),
        ("GiB", 3),
        ("MiB", 2),
        ("KiB", 1),
    ];
    let mut rest = n;
    let mut out = String::new();
    for (name, pow) in UNITS {
        let base = 1024u64.pow(pow);
        if rest >= base {
            out.push_str(&format!("{}{name}", rest / base));
            rest %= base;
        }
    }
    if rest > 0 || out.is_empty() {
        out.push_str(&format!("{rest}B"));
    }
    out
}

/// Runs `tsdb list`.
pub fn run(dir: &Path, human: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let blocks = tsdb_core::block::reader::open_blocks(dir)?;
    let mut rows = vec![header()];
    rows.extend(blocks.iter().map(|b| row(b, human)));
    out.write_all(tabwrite(&rows).as_bytes())?;
    Ok(())
}
