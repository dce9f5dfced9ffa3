//! Round trip through the real promtool: an OpenMetrics file imported by `tsdb import
//! openmetrics` and by `promtool tsdb create-blocks-from openmetrics` gives the same blocks
//! (same dump, byte-identical index, chunk and tombstones files, same meta apart from ULIDs),
//! and promtool reads, dumps, lists and analyzes our blocks.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Counters with resets, gauges (fractions, exponents, negative, NaN, ±Inf), a classic
/// histogram and a summary, label values needing escapes, millisecond jitter; ~5 h so that
/// several 2 h blocks are cut, and one series that only exists in the middle.
fn generate_openmetrics() -> String {
    let mut r = SplitMix64(42);
    let start: i64 = 1_700_000_123; // not block-aligned
    let mut out = String::new();
    let steps = 5 * 3600 / 30;
    out.push_str("# HELP reqs_total Requests.\n# TYPE reqs_total counter\n");
    for (i, path) in ["/a", "/b\"q\"", "/c\\d", "/e\nf"].iter().enumerate() {
        let esc = path
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let mut v = 0u64;
        for s in 0..steps {
            if r.below(500) == 0 {
                v = 0;
            }
            v += r.below(30);
            let ms = r.below(1000);
            let _ = writeln!(
                out,
                "reqs_total{{path=\"{esc}\",shard=\"{i}\"}} {v}.0 {}.{ms:03}",
                start + s * 30
            );
        }
    }
    out.push_str("# TYPE temp gauge\n");
    for room in ["a", "b", "c"] {
        for s in 0..steps {
            let v = match r.below(200) {
                0 => "NaN".to_string(),
                1 => "+Inf".to_string(),
                2 => "-Inf".to_string(),
                3 => format!("{:e}", r.unit() * 1e-9),
                4 => format!("{}", -(r.unit() * 1e12).round()),
                _ => format!("{:.4}", 20.0 + 10.0 * (s as f64 / 40.0).sin() + r.unit()),
            };
            let _ = writeln!(out, "temp{{room=\"{room}\"}} {v} {}", start + s * 30);
        }
    }
    out.push_str("# TYPE mid gauge\n");
    for s in steps / 3..steps / 2 {
        let _ = writeln!(out, "mid {} {}.5", s, start + s * 30);
    }
    out.push_str("# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n");
    let les = ["0.1", "1", "10", "+Inf"];
    let mut counts = [0u64; 4];
    let mut sum = 0.0;
    for s in 0..steps / 2 {
        let t = start + s * 60;
        for _ in 0..r.below(8) {
            let x = r.unit() * 12.0;
            sum += x;
            for (j, le) in les.iter().enumerate() {
                let bound: f64 = if *le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                if x <= bound {
                    counts[j] += 1;
                }
            }
        }
        for (j, le) in les.iter().enumerate() {
            let _ = writeln!(out, "lat_seconds_bucket{{le=\"{le}\"}} {} {t}", counts[j]);
        }
        let _ = writeln!(out, "lat_seconds_sum {sum:.6} {t}");
        let _ = writeln!(out, "lat_seconds_count {} {t}", counts[3]);
    }
    out.push_str("# TYPE rpc summary\n");
    for s in 0..steps / 4 {
        let t = start + s * 120;
        for q in ["0.5", "0.99", "1"] {
            let _ = writeln!(out, "rpc{{quantile=\"{q}\"}} {:.3} {t}", r.unit());
        }
    }
    out.push_str("# EOF\n");
    out
}

fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("meta.json").is_file())
        .collect();
    // Order by min time (ULIDs made within one millisecond need not sort in creation order).
    v.sort_by_key(|p| {
        let meta = std::fs::read_to_string(p.join("meta.json")).unwrap();
        let at = meta.find("\"minTime\": ").unwrap() + 11;
        meta[at..]
            .split(',')
            .next()
            .unwrap()
            .trim()
            .parse::<i64>()
            .unwrap()
    });
    v
}

fn without_ulids(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            if w.len() == 26 && w.starts_with("01") {
                "ULID"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn import_matches_promtool_create_blocks_from() {
    let promtool = common::promtool();
    let tmp = tempfile::tempdir().unwrap();
    let om = tmp.path().join("input.om");
    std::fs::write(&om, generate_openmetrics()).unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    // promtool's read-only DB wants a wal/ directory next to the blocks.
    std::fs::create_dir_all(ours.join("wal")).unwrap();
    std::fs::create_dir_all(theirs.join("wal")).unwrap();

    let our_table = common::run(
        Command::new(common::tsdb_bin())
            .args(["import", "openmetrics"])
            .arg(&om)
            .arg(&ours),
    );
    let their_table = common::run(
        Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&om)
            .arg(&theirs),
    );
    assert_eq!(
        without_ulids(&String::from_utf8_lossy(&our_table)),
        without_ulids(&String::from_utf8_lossy(&their_table)),
        "block tables differ"
    );

    let promtool_dump_ours = common::run(Command::new(&promtool).args(["tsdb", "dump"]).arg(&ours));
    let promtool_dump_theirs =
        common::run(Command::new(&promtool).args(["tsdb", "dump"]).arg(&theirs));
    let our_dump_ours = common::run(Command::new(common::tsdb_bin()).arg("dump").arg(&ours));
    assert!(
        promtool_dump_theirs.len() > 100_000,
        "suspiciously small dump"
    );
    assert!(
        promtool_dump_ours == promtool_dump_theirs,
        "promtool dump of our blocks differs from promtool's blocks"
    );
    assert!(
        our_dump_ours == promtool_dump_ours,
        "tsdb dump differs from promtool dump"
    );

    let a = block_dirs(&ours);
    let b = block_dirs(&theirs);
    assert!(a.len() >= 3, "expected several 2h blocks, got {}", a.len());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        for f in ["index", "chunks/000001", "tombstones"] {
            assert!(
                std::fs::read(x.join(f)).unwrap() == std::fs::read(y.join(f)).unwrap(),
                "{f} differs between {} and {}",
                x.display(),
                y.display()
            );
        }
        let mx = String::from_utf8(std::fs::read(x.join("meta.json")).unwrap()).unwrap();
        let my = String::from_utf8(std::fs::read(y.join("meta.json")).unwrap()).unwrap();
        let ux = x.file_name().unwrap().to_str().unwrap();
        let uy = y.file_name().unwrap().to_str().unwrap();
        assert_eq!(mx.replace(ux, "ULID"), my.replace(uy, "ULID"));
    }

    let pl = common::run(Command::new(&promtool).args(["tsdb", "list"]).arg(&ours));
    let ol = common::run(Command::new(common::tsdb_bin()).arg("list").arg(&ours));
    assert_eq!(String::from_utf8_lossy(&pl), String::from_utf8_lossy(&ol));

    let analyze = common::run(
        Command::new(&promtool)
            .args(["tsdb", "analyze", "--extended"])
            .arg(&ours),
    );
    let analyze = String::from_utf8_lossy(&analyze);
    assert!(analyze.contains("Total Series: "), "{analyze}");
    let ours_analyze = common::run(Command::new(common::tsdb_bin()).arg("analyze").arg(&ours));
    let head = |s: &str| s.lines().take(6).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        head(&String::from_utf8_lossy(&ours_analyze)),
        head(&analyze)
    );
}
