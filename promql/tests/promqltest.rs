//! Runs every file of Prometheus' PromQL test corpus (`$SHARED_DIR/promqltest/testdata`)
//! through the engine and compares the failures with the committed baseline
//! (`tests/promqltest-baseline.txt`): a case that newly fails, or a listed case that now
//! passes, fails this test, so nothing regresses or is skipped silently.
//!
//! Regenerate the baseline after an improvement with
//! `PROMQLTEST_UPDATE_BASELINE=1 cargo test -p promql --release --test promqltest`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use promql::ast::Expr;
use promql::parser::{parse_with, Options};
use promql::promqltest::{run_file, Hooks};

fn shared_dir() -> PathBuf {
    match std::env::var("SHARED_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
    }
}

fn parse(q: &str) -> Result<Expr, String> {
    parse_with(q, Options::all()).map_err(|e| e.to_string())
}

fn print(e: &Expr) -> String {
    e.to_string()
}

fn baseline_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/promqltest-baseline.txt"
    ))
}

/// `file:line` -> reason category, from the baseline file.
fn read_baseline() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(baseline_path()).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next().unwrap_or("").to_string()))
        })
        .collect()
}

#[test]
fn promql_test_corpus() {
    let dir = shared_dir().join("promqltest/testdata");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("promqltest corpus not found at {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let hooks = Hooks {
        parse,
        print: Some(print),
    };
    let mut failures: BTreeMap<String, (String, String)> = BTreeMap::new();
    let (mut total_pass, mut total_fail) = (0, 0);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let report = run_file(f, &hooks);
        if let Some(e) = &report.script_error {
            println!("{name}: SCRIPT ERROR {e}");
            failures.insert(format!("{name}:0"), ("script".into(), e.clone()));
            total_fail += 1;
        }
        println!(
            "{name}: {} passed, {} failed",
            report.passed(),
            report.failed()
        );
        total_pass += report.passed();
        total_fail += report.failed();
        for c in &report.cases {
            if let Some((k, msg)) = &c.failure {
                failures.insert(
                    format!("{name}:{}", c.line),
                    (k.as_str().to_string(), format!("{} -- {msg}", c.expr)),
                );
            }
        }
    }
    println!("{total_pass} passed, {total_fail} failed");
    if std::env::var_os("PROMQLTEST_VERBOSE").is_some() {
        for (k, (cat, msg)) in &failures {
            println!("FAIL {k} [{cat}] {msg}");
        }
    }
    if std::env::var_os("PROMQLTEST_UPDATE_BASELINE").is_some() {
        let mut out = String::from(
            "# Cases of the promqltest corpus known to fail: `file:line category`.\n\
             # Regenerate with PROMQLTEST_UPDATE_BASELINE=1 (see tests/promqltest.rs).\n",
        );
        for (k, (cat, _)) in &failures {
            out.push_str(&format!("{k} {cat}\n"));
        }
        std::fs::write(baseline_path(), out).expect("write baseline");
        return;
    }
    let baseline = read_baseline();
    let mut problems = Vec::new();
    for (k, (cat, msg)) in &failures {
        if !baseline.contains_key(k) {
            problems.push(format!("newly failing: {k} [{cat}] {msg}"));
        }
    }
    for k in baseline.keys() {
        if !failures.contains_key(k) {
            problems.push(format!("now passing (remove from baseline): {k}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
