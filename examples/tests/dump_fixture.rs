//! `tsdb dump` and `tsdb list` of the Prometheus-written fixture blocks equal promtool's output.

mod common;

use tsdb_examples::cli;

#[test]
fn dump_equals_promtool_expected_dump_byte_for_byte() {
    let dir = common::prom_blocks();
    let expected = std::fs::read(dir.join("expected.dump")).unwrap();
    let mut out = Vec::new();
    cli::dump::run(&dir, &[], i64::MIN, i64::MAX, &mut out).unwrap();
    assert!(out == expected, "dump differs from expected.dump");
}

#[test]
fn dump_with_matchers_and_time_range_filters_like_promtool() {
    let dir = common::prom_blocks();
    let expected = String::from_utf8(std::fs::read(dir.join("expected.dump")).unwrap()).unwrap();
    let (mint, maxt) = (1_700_003_000_000i64, 1_700_010_000_000i64);
    // Expected: lines of the selected series within the range, from promtool's full dump.
    let want: String = expected
        .lines()
        .filter(|l| {
            (l.starts_with("{__name__=\"temperature_celsius\"") && l.contains("room=\"lab-"))
                || l.starts_with("{__name__=\"req_duration_seconds_count\"")
        })
        .filter(|l| {
            let t: i64 = l.rsplit(' ').next().unwrap().parse().unwrap();
            (mint..=maxt).contains(&t)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let mut out = Vec::new();
    cli::dump::run(
        &dir,
        &[
            r#"temperature_celsius{room=~"lab-.*"}"#.to_string(),
            r#"{__name__="req_duration_seconds_count"}"#.to_string(),
            r#"{__name__="temperature_celsius", room="lab-dev"}"#.to_string(),
        ],
        mint,
        maxt,
        &mut out,
    )
    .unwrap();
    assert!(!want.is_empty());
    assert_eq!(String::from_utf8(out).unwrap(), want);
}

#[test]
fn list_equals_promtool_list() {
    let dir = common::prom_blocks();
    let mut out = Vec::new();
    cli::list::run(&dir, false, &mut out).unwrap();
    // Captured from `promtool tsdb list` over a copy of the fixture directory.
    let want = "\
BLOCK ULID                  MIN TIME       MAX TIME       DURATION      NUM SAMPLES  NUM CHUNKS   NUM SERIES   SIZE
01M87WF4HJ3VKBT462E4NRF9ZN  1700000000000  1700006390467  1h46m30.467s  7478         58           30           30366
01M87WF4JC440CWPVWMWBXC07T  1700006405021  1700013590437  1h59m45.416s  8400         70           30           33575
01M87WF4K5752F9Y5W20DR52AX  1700013605026  1700014385490  13m0.464s     922          30           30           6904
";
    assert_eq!(String::from_utf8(out).unwrap(), want);
}

/// A native histogram with a zero bucket, negative and positive buckets, growing with `i`.
fn histogram(i: i64, custom: bool) -> chunkenc::Histogram {
    use chunkenc::{Histogram, Span};
    let base = i + 1;
    Histogram {
        schema: if custom {
            chunkenc::model::CUSTOM_BUCKETS_SCHEMA
        } else {
            1
        },
        zero_threshold: if custom { 0.0 } else { 0.001 },
        zero_count: if custom { 0 } else { base as u64 },
        count: if custom {
            3 * base as u64
        } else {
            6 * base as u64
        },
        sum: base as f64 * 1.5,
        positive_spans: vec![Span {
            offset: if custom { 0 } else { -2 },
            length: 3,
        }],
        positive_buckets: vec![base, 0, 0],
        negative_spans: if custom {
            vec![]
        } else {
            vec![Span {
                offset: 1,
                length: 2,
            }]
        },
        negative_buckets: if custom { vec![] } else { vec![base, -base] },
        custom_values: if custom { vec![0.1, 1.0, 10.0] } else { vec![] },
        ..Default::default()
    }
}

/// A data directory holding one block of integer, float and custom-bucket histogram series
/// and a float series (no WAL left, so promtool reads the block alone).
fn histogram_block() -> tempfile::TempDir {
    use tsdb_core::db::{Db, DbOptions};
    use tsdb_index::Labels;
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    let l = |name: &str| Labels::from_pairs([("__name__", name), ("job", "h")]);
    for i in 0..300i64 {
        let t = i * 60_000;
        let mut app = db.appender();
        app.append_histogram(&l("exp_int"), t, &histogram(i, false))
            .unwrap();
        app.append_histogram(&l("custom_int"), t, &histogram(i, true))
            .unwrap();
        let mut f = histogram(i, false).to_float();
        f.sum = i as f64 * 0.25;
        app.append_float_histogram(&l("exp_float"), t, &f).unwrap();
        app.append(&l("plain"), t, i as f64).unwrap();
        app.commit().unwrap();
    }
    db.compact().unwrap();
    db.close().unwrap();
    std::fs::remove_dir_all(tmp.path().join("wal")).unwrap();
    std::fs::create_dir(tmp.path().join("wal")).unwrap();
    tmp
}

#[test]
fn native_histograms_dump_as_promtool_prints_them() {
    let tmp = histogram_block();
    let mut ours = Vec::new();
    cli::dump::run(tmp.path(), &[], i64::MIN, i64::MAX, &mut ours).unwrap();
    let ours = String::from_utf8(ours).unwrap();
    let theirs = String::from_utf8(common::run(
        std::process::Command::new(common::promtool())
            .args(["tsdb", "dump"])
            .arg(tmp.path()),
    ))
    .unwrap();
    // promtool skips the first sample of float histogram series and the first two of integer
    // histogram series (its dump loops each call `Next` once more than they print).
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    let adjusted: String = ours
        .lines()
        .filter(|line| {
            let series = line.split(" {count").next().unwrap_or("").to_string();
            let skip = if !line.contains("{count:") {
                0
            } else if series.contains("float") {
                1
            } else {
                2
            };
            let n = seen.entry(series).or_default();
            *n += 1;
            *n > skip
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(ours.contains("{count:"), "no histogram in our dump");
    assert!(theirs.lines().count() > 200, "{theirs}");
    // Exponential bucket bounds may differ in the last digit: Prometheus takes them from a
    // precomputed table whose rounding we do not reproduce. Everything else is equal.
    let mut exact = 0;
    for (i, (a, b)) in adjusted.lines().zip(theirs.lines()).enumerate() {
        if a == b {
            exact += 1;
        } else {
            assert!(same_but_last_digits(a, b), "line {i} differs:\n{a}\n{b}");
        }
    }
    assert_eq!(adjusted.lines().count(), theirs.lines().count());
    assert!(exact * 2 > theirs.lines().count(), "{exact} exact lines");
}

/// Whether two lines are equal but for numbers within a relative 1e-15 of each other.
fn same_but_last_digits(a: &str, b: &str) -> bool {
    let split = |s: &str| -> Vec<String> {
        s.split(|c: char| "[](),:{} ".contains(c))
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (ta, tb) = (split(a), split(b));
    ta.len() == tb.len()
        && ta.iter().zip(&tb).all(|(x, y)| {
            x == y
                || match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(p), Ok(q)) => (p - q).abs() <= 1e-15 * p.abs().max(q.abs()),
                    _ => false,
                }
        })
}

/// The `--extended` compaction analysis of `tsdb analyze` and of `promtool tsdb analyze`.
fn compaction_sections(dir: &std::path::Path, block: &str) -> (String, String) {
    let mut ours = Vec::new();
    cli::analyze::run(dir, Some(block), 20, None, true, &mut ours).unwrap();
    let theirs = common::run(
        std::process::Command::new(common::promtool())
            .args(["tsdb", "analyze", "--extended"])
            .arg(dir)
            .arg(block),
    );
    let section = |b: Vec<u8>| {
        let s = String::from_utf8(b).unwrap();
        s[s.find("Compaction analysis:")
            .expect("no compaction analysis")..]
            .to_string()
    };
    (section(ours), section(theirs))
}

#[test]
fn extended_analysis_equals_promtool_for_float_and_histogram_chunks() {
    let dir = common::prom_blocks();
    for block in ["01M87WF4HJ3VKBT462E4NRF9ZN", "01M87WF4K5752F9Y5W20DR52AX"] {
        let (ours, theirs) = compaction_sections(&dir, block);
        assert_eq!(ours, theirs, "{block}");
        assert!(
            ours.contains("samples per float chunk (min/avg/max)"),
            "{ours}"
        );
    }
    let tmp = histogram_block();
    let block = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.len() == 26)
        .unwrap();
    let (ours, theirs) = compaction_sections(tmp.path(), &block);
    assert_eq!(ours, theirs);
    assert!(
        ours.contains("buckets per histogram chunk (min/avg/max)"),
        "{ours}"
    );
}
