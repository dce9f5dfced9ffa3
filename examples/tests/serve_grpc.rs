//! `tsdb serve --grpc-listen` speaks Thanos' StoreAPI to a client that knows nothing of our
//! code: Python stubs generated at test time from our `.proto` files by `grpcio-tools`
//! (installed by `scripts/test`) read every series of Prometheus' fixture blocks, with the
//! external labels, and chunk headers that add up to the fixture's samples.

mod common;
mod serve_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serve_common::Server;

#[test]
fn a_generic_grpc_client_reads_series_from_our_storeapi() {
    let fixture = common::prom_blocks();
    let data = tempfile::tempdir().unwrap();
    common::copy_dir(&fixture, data.path());
    let server = Server::start_with(
        data.path(),
        &[
            "--grpc-listen",
            "127.0.0.1:0",
            "--external-label",
            "cluster=eu",
        ],
    );
    let grpc = server.grpc_addr.clone().unwrap();
    let proto_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../storeapi/proto");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/storeapi_client.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(&script)
        .arg(&grpc)
        .arg(&proto_dir)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python client failed (needs grpcio-tools, which scripts/test installs): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();

    // Samples per series, from the fixture's dump.
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for line in std::fs::read_to_string(fixture.join("expected.dump"))
        .unwrap()
        .lines()
    {
        let labels = &line[..line.find("} ").unwrap() + 1];
        *want.entry(labels.to_string()).or_default() += 1;
    }
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    let mut summary = "";
    for line in text.lines() {
        if line.starts_with("series=") {
            summary = line;
            continue;
        }
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 5, "{line}");
        let (n, min_t, max_t, enc): (usize, i64, i64, i32) = (
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
            f[4].parse().unwrap(),
        );
        assert!(n > 0 && n <= 120 && min_t <= max_t && enc == 0, "{line}");
        // `a=b,c=d` back to the dump's `{a="b", c="d"}`, without the external label.
        let pairs: Vec<(&str, &str)> = f[0]
            .split(',')
            .map(|p| p.split_once('=').unwrap())
            .collect();
        assert!(pairs.contains(&("cluster", "eu")), "{line}");
        let shown: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| *k != "cluster")
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        *got.entry(format!("{{{}}}", shown.join(", "))).or_default() += n;
    }
    assert_eq!(got, want);
    assert_eq!(
        summary,
        format!("series={} chunks={}", want.len(), text.lines().count() - 1)
    );
    assert!(server.stop().success());
}
