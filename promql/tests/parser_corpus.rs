//! Every query of the upstream promqltest corpus (`eval` lines of
//! `$SHARED_DIR/promqltest/testdata/*.test`) must parse with all features on, since Prometheus'
//! test runner parses them before running anything; and printing a parsed query must give a
//! query that parses back to the same tree.

mod parser_common;

use std::path::PathBuf;

use parser_common::normalize;
use promql::parser::{parse_with, Options};

fn shared_dir() -> PathBuf {
    match std::env::var_os("SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
    }
}

/// The query of an `eval` header line, per the corpus' header regexes.
fn eval_query(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("eval")?;
    let rest = ["_fail", "_warn", "_ordered", "_info"]
        .iter()
        .find_map(|s| rest.strip_prefix(s))
        .unwrap_or(rest);
    let rest = rest.trim_start();
    if let Some(r) = rest.strip_prefix("instant") {
        // instant [at <time>] <expr>
        let r = r.trim_start();
        let r = r
            .strip_prefix("at")
            .expect("instant evals have `at <time>`");
        let r = r.trim_start();
        let (_, q) = r.split_once(char::is_whitespace)?;
        return Some(q.trim());
    }
    // range from <t> to <t> step <d> <expr>
    let mut r = rest.strip_prefix("range")?;
    for keyword in ["from", "to", "step"] {
        r = r.trim_start().strip_prefix(keyword)?.trim_start();
        let (_, after) = r.split_once(char::is_whitespace)?;
        r = after;
    }
    Some(r.trim())
}

fn corpus() -> Vec<(String, usize, String)> {
    let dir = shared_dir().join("promqltest/testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("promqltest corpus missing at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the full corpus in {}",
        dir.display()
    );
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.starts_with("eval") {
                continue;
            }
            let q = eval_query(line).unwrap_or_else(|| panic!("{name}:{}: {line}", i + 1));
            out.push((name.clone(), i + 1, q.to_string()));
        }
    }
    out
}

#[test]
fn every_corpus_query_parses() {
    let queries = corpus();
    assert!(queries.len() > 2000, "only {} queries found", queries.len());
    let mut failures = Vec::new();
    for (file, line, q) in &queries {
        if let Err(e) = parse_with(q, Options::all()) {
            failures.push(format!("{file}:{line}: {q}\n    {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries failed:\n{}",
        failures.len(),
        queries.len(),
        failures.join("\n")
    );
}

#[test]
fn every_corpus_query_round_trips_through_the_printer() {
    let mut failures = Vec::new();
    for (file, line, q) in corpus() {
        let Ok(ast) = parse_with(&q, Options::all()) else {
            continue;
        };
        let printed = ast.to_string();
        match parse_with(&printed, Options::all()) {
            Ok(again) => {
                if normalize(again.clone()) != normalize(ast) {
                    failures.push(format!("{file}:{line}: {q}\n    printed {printed}"));
                } else if again.to_string() != printed {
                    failures.push(format!(
                        "{file}:{line}: printing is not idempotent: {printed}"
                    ));
                }
            }
            Err(e) => failures.push(format!(
                "{file}:{line}: {q}\n    printed {printed}\n    {e}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
