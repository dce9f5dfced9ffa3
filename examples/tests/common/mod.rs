//! Locating the shared fixtures and the reference Prometheus binaries.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared directory (env `SHARED_DIR`, else `../../shared` from the crate).
pub fn shared_dir() -> PathBuf {
    let p = std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    assert!(
        p.join("fixtures").is_dir(),
        "shared fixtures not found at {} (set SHARED_DIR)",
        p.display()
    );
    p
}

/// The fixture blocks written by Prometheus.
pub fn prom_blocks() -> PathBuf {
    shared_dir().join("fixtures/prom-blocks")
}

/// `promtool` (env `PROMETHEUS_BIN`, else `$HOME/.cache/prometheus-ref/usr/bin`).
pub fn promtool() -> PathBuf {
    let dir = std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME not set"))
                .join(".cache/prometheus-ref/usr/bin")
        });
    let p = dir.join("promtool");
    assert!(
        p.is_file(),
        "promtool not found at {} (run shared/tools/install-prometheus or set PROMETHEUS_BIN)",
        p.display()
    );
    p
}

/// Our `tsdb` binary.
pub fn tsdb_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tsdb"))
}

/// Runs a command and returns its stdout, panicking with stderr on failure.
pub fn run(cmd: &mut std::process::Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Copies a directory tree (the fixtures are read-only; servers and tools need writable copies).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}
