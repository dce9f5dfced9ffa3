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
