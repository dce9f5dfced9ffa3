//! FastRegexMatcher, side by side with the plain anchored automaton and with Prometheus'
//! own Go `FastRegexMatcher` (via the go-peer), on the same 100k label values.
//!
//! ```sh
//! eval "$(../shared/tools/install-prometheus-go)"   # once
//! (cd ../shared/tools/go-peer && go build -o /tmp/go-peer .)
//! GO_PEER=/tmp/go-peer cargo bench -p tsdb-benches --bench fast_regex
//! ```
//!
//! Without `GO_PEER` the values come from the same generator as the go-peer's (its recipe,
//! reimplemented; the checksum printed must equal the go-peer's) and the Go column is empty.
//! With it, the values are the go-peer's own `-dump-values` output, the go-peer is run on the
//! same patterns right after ours, and a table of ns/match and ratios is printed. Then
//! criterion measures each pattern (set `FAST_REGEX_TABLE_ONLY=1` to skip that part).
//! `FAST_REGEX_ONLY=set3,literal` restricts the patterns, `FAST_REGEX_REPS` sets the number of
//! repetitions (best is reported, default 21, also passed to the go-peer).

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use tsdb_index::fast_regex::{plain_regex, FastRegexMatcher};

/// The pattern classes measured, with a short name each.
fn patterns() -> Vec<(&'static str, String)> {
    let mut hundred: Vec<String> = ["foo", "bar", "a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    hundred.extend((0..90).map(|i| format!("instance-{}:9090", i * 97)));
    vec![
        ("literal", "foo".to_string()),
        ("prefix", "foo.*".to_string()),
        ("suffix", ".*foo".to_string()),
        ("contains", ".*foo.*".to_string()),
        ("set3", "a|b|c".to_string()),
        ("fold", "(?i)foo".to_string()),
        ("fold-prefix", "(?i)foo.*".to_string()),
        ("set100", hundred.join("|")),
        ("non-empty", ".+".to_string()),
        ("complex1", "instance-[0-9]+:9090".to_string()),
        ("complex2", "[a-z]{5,10}bar".to_string()),
        ("complex3", "foo[a-e]+.*z".to_string()),
    ]
}

/// splitmix64, as the go-peer's generator.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn intn(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn letters(&mut self, min: usize, max: usize) -> String {
        let n = min + self.intn(max - min + 1);
        (0..n)
            .map(|_| (b'a' + self.intn(26) as u8) as char)
            .collect()
    }
}

/// The go-peer's label values (its `genValues` recipe: eight kinds of value).
fn generate_values(seed: u64, n: usize) -> Vec<String> {
    let mut r = SplitMix(seed ^ 0x5eed);
    (0..n)
        .map(|_| match r.intn(8) {
            0 => format!("foo{}", r.letters(0, 10)),
            1 => format!("{}bar", r.letters(3, 12)),
            2 => ((b'a' + r.intn(8) as u8) as char).to_string(),
            3 => {
                let p = if r.intn(2) == 1 { "Foo" } else { "FOO" };
                format!("{p}{}", r.letters(0, 8))
            }
            4 => r.letters(5, 20),
            5 => format!("instance-{}:9090", r.intn(10000)),
            6 => String::new(),
            _ => r.letters(50, 100),
        })
        .collect()
}

/// FNV-1a over the values with a 0xff separator, as the go-peer's `stringsChecksum`.
fn checksum(values: &[String]) -> u64 {
    let mut h: u64 = 14695981039346656037;
    for v in values {
        for &b in v.as_bytes() {
            h = (h ^ b as u64).wrapping_mul(1099511628211);
        }
        h = (h ^ 0xff).wrapping_mul(1099511628211);
    }
    h
}

fn best_of<F: FnMut()>(reps: usize, mut f: F) -> Duration {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

struct GoResult {
    ns_per_match: f64,
    compile_ns: f64,
    matches: usize,
}

/// Runs the go-peer on the same values and patterns; one JSON line per pattern.
fn run_go_peer(
    go_peer: &str,
    values_file: &str,
    patterns: &[String],
    reps: usize,
) -> Vec<Option<GoResult>> {
    let mut cmd = Command::new(go_peer);
    let reps = reps.to_string();
    cmd.args(["-only", "regex", "-values", values_file, "-reps", &reps]);
    for p in patterns {
        cmd.arg("-pattern").arg(p);
    }
    let out = cmd.output().expect("run go-peer");
    assert!(
        out.status.success(),
        "go-peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    patterns
        .iter()
        .map(|p| {
            let line = lines.iter().find(|l| l["pattern"].as_str() == Some(p))?;
            Some(GoResult {
                ns_per_match: line["ns_per_match"].as_f64()?,
                compile_ns: line["compile_ns"].as_f64()?,
                matches: line["matches"].as_u64()? as usize,
            })
        })
        .collect()
}

fn load_values() -> (Vec<String>, Option<(String, String)>) {
    match std::env::var("GO_PEER") {
        Ok(go_peer) if !go_peer.is_empty() => {
            let file =
                std::env::temp_dir().join(format!("fast-regex-values-{}.txt", std::process::id()));
            let file = file.to_string_lossy().to_string();
            let st = Command::new(&go_peer)
                .args(["-dump-values", &file])
                .status()
                .expect("run go-peer -dump-values");
            assert!(st.success(), "go-peer -dump-values failed");
            let text = std::fs::read_to_string(&file).expect("read dumped values");
            // The go-peer splits on "\n" after trimming one trailing newline; do the same.
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let values = text.split('\n').map(str::to_string).collect();
            (values, Some((go_peer, file)))
        }
        _ => (generate_values(1, 100_000), None),
    }
}

/// Prints the side-by-side table and returns the values for criterion.
fn side_by_side() -> Vec<String> {
    let (values, go) = load_values();
    println!(
        "fast_regex: {} values, checksum {} (must equal the go-peer's)",
        values.len(),
        checksum(&values)
    );
    let only = std::env::var("FAST_REGEX_ONLY").ok();
    let pats: Vec<_> = patterns()
        .into_iter()
        .filter(|(name, _)| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|x| x == *name))
        })
        .collect();
    let reps: usize = std::env::var("FAST_REGEX_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(21);
    let mut rows = Vec::new();
    for (name, p) in &pats {
        let fast = FastRegexMatcher::new(p).expect("pattern compiles");
        let plain = plain_regex(p).expect("pattern compiles");
        let n_fast = values.iter().filter(|v| fast.matches(v)).count();
        let n_plain = values.iter().filter(|v| plain.is_match(v.as_str())).count();
        assert_eq!(n_fast, n_plain, "{name}: match counts differ");
        let t_fast = best_of(reps, || {
            black_box(values.iter().filter(|v| fast.matches(black_box(v))).count());
        });
        let t_plain = best_of(reps, || {
            black_box(
                values
                    .iter()
                    .filter(|v| plain.is_match(black_box(v.as_str())))
                    .count(),
            );
        });
        const NB: u32 = 200;
        let t_build = best_of(7, || {
            for _ in 0..NB {
                black_box(
                    FastRegexMatcher::new(black_box(p))
                        .map(|m| m.matches(""))
                        .ok(),
                );
            }
        }) / NB;
        rows.push((
            *name,
            n_fast,
            t_fast.as_nanos() as f64 / values.len() as f64,
            t_plain.as_nanos() as f64 / values.len() as f64,
            t_build.as_nanos() as f64,
            fast.strategy(),
        ));
    }
    let go_results = match &go {
        Some((go_peer, file)) => {
            let ps: Vec<String> = pats.iter().map(|(_, p)| p.clone()).collect();
            let r = run_go_peer(go_peer, file, &ps, reps);
            let _ = std::fs::remove_file(file);
            r
        }
        None => pats.iter().map(|_| None).collect(),
    };
    println!(
        "{:<12} {:>7} {:>9} {:>9} {:>9} {:>8} {:>8} {:>10} {:>10}  strategy",
        "pattern", "matches", "ours", "plain", "go", "go/ours", "plain/o", "build", "go build"
    );
    for (row, go) in rows.iter().zip(&go_results) {
        let (name, n, fast, plain, build, strategy) = row;
        let (go_ns, go_build, ratio) = match go {
            Some(g) => {
                assert_eq!(
                    g.matches, *n,
                    "{name}: Go matched {} values, we {}",
                    g.matches, n
                );
                (
                    format!("{:.2}", g.ns_per_match),
                    format!("{:.0}", g.compile_ns),
                    format!("{:.1}x", g.ns_per_match / fast),
                )
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{name:<12} {n:>7} {fast:>9.2} {plain:>9.2} {go_ns:>9} {ratio:>8} {:>7.1}x {build:>10.0} {go_build:>10}  {strategy}",
            plain / fast
        );
    }
    println!("(ns per match; build = construction ns; ratios > 1 mean ours is faster)");
    values
}

fn bench_patterns(c: &mut Criterion, values: &[String]) {
    let mut group = c.benchmark_group("fast_regex");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(20);
    for (name, p) in patterns() {
        let fast = FastRegexMatcher::new(&p).expect("pattern compiles");
        let plain = plain_regex(&p).expect("pattern compiles");
        group.bench_function(format!("{name}/fast"), |b| {
            b.iter(|| values.iter().filter(|v| fast.matches(black_box(v))).count())
        });
        group.bench_function(format!("{name}/plain"), |b| {
            b.iter(|| {
                values
                    .iter()
                    .filter(|v| plain.is_match(black_box(v.as_str())))
                    .count()
            })
        });
    }
    group.finish();
}

fn criterion_benches(c: &mut Criterion) {
    let values = side_by_side();
    if std::env::var_os("FAST_REGEX_TABLE_ONLY").is_none() {
        bench_patterns(c, &values);
    }
}

criterion_group!(benches, criterion_benches);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
