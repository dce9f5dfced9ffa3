//! The shipper, the bucket store and the compactor against an S3 API: moto's S3 server
//! (`pip install 'moto[server]'`, which `scripts/test` does) on a local port, reached through
//! `s3://bucket/prefix?endpoint=...` URLs. Runs when the `aws` feature is on (the `tsdb`
//! binary turns it on, so the workspace tests run it).
#![cfg(feature = "aws")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tsdb_bucket::compactor::sync::BucketState;
use tsdb_bucket::compactor::{BucketCompactor, CompactorConfig, ResolutionRetention};
use tsdb_bucket::{Bucket, BucketStore, Shipper};
use tsdb_core::gofloat::go_g;
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_index::{MatchType, Matcher};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fixture() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("fixtures/prom-blocks")
}

/// Starts moto's S3 server and creates `bucket`; returns it and its address.
fn start_moto(bucket: &str) -> (Moto, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-p",
            &port.to_string(),
            "-H",
            "127.0.0.1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m moto.server (pip install 'moto[server]')");
    let moto = Moto(child);
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        // S3's CreateBucket: `PUT /bucket`.
        if let Ok(mut s) = TcpStream::connect(&addr) {
            let req = format!(
                "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            s.write_all(req.as_bytes()).unwrap();
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            if resp.starts_with("HTTP/1.1 200") {
                return (moto, addr);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "moto did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn dump(q: &dyn Queryable) -> Vec<String> {
    let querier = q.querier(i64::MIN, i64::MAX).unwrap();
    let all = Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap();
    let mut set = querier.select(true, None, &[all]).unwrap();
    let mut out = Vec::new();
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let labels = s.labels().without(&["cluster"]).to_string();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            out.push(format!("{labels} {} {t}", go_g(v)));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ship_query_and_clean_a_bucket_over_the_s3_api() {
    let (_moto, addr) = start_moto("tsdb");
    let url = format!(
        "s3://tsdb/tenant-a?endpoint=http://{addr}&access_key_id=test&secret_access_key=test&region=us-east-1"
    );
    let bucket = Bucket::from_url(&url).unwrap();

    let report = Shipper::new(fixture(), bucket.clone())
        .with_labels([("cluster".to_string(), "eu-1".to_string())].into())
        .with_upload_compacted(true)
        .without_state_file()
        .sync()
        .await
        .unwrap();
    assert_eq!(report.uploaded.len(), 3);
    // Every object is there, under the prefix, with the local file's size.
    for id in &report.uploaded {
        let local = std::fs::metadata(fixture().join(id.to_string()).join("index"))
            .unwrap()
            .len();
        assert_eq!(
            bucket.size(&format!("{id}/index")).await.unwrap(),
            Some(local)
        );
    }

    // The store gateway reads the blocks in place, through range requests.
    let cache = tempfile::tempdir().unwrap();
    let b = bucket.clone();
    let cache_dir = cache.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let store = BucketStore::new(b, cache_dir).unwrap();
        assert_eq!(store.sync().unwrap().serving, 3);
        let expected: Vec<String> = std::fs::read_to_string(fixture().join("expected.dump"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(dump(&store), expected);
        assert!(
            store
                .stats()
                .requests
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0
        );
    })
    .await
    .unwrap();

    // The compactor's retention marks everything (the fixture is from 2023), then deletes.
    let work = tempfile::tempdir().unwrap();
    let mut cfg = CompactorConfig::new(work.path());
    cfg.delete_delay_secs = 0;
    cfg.retention = ResolutionRetention {
        raw_ms: 24 * 3_600_000,
        ..Default::default()
    };
    let r = BucketCompactor::new(bucket.clone(), cfg)
        .run()
        .await
        .unwrap();
    assert_eq!(r.marked_by_retention.len(), 3, "{r:?}");
    assert_eq!(r.deleted.len(), 3, "{r:?}");
    assert!(BucketState::load(&bucket).await.unwrap().blocks.is_empty());
    assert!(bucket.list("").await.unwrap().is_empty());
}

/// A Thanos objstore configuration (`type: S3`, endpoint as `host:port`, `insecure`, a
/// prefix) reaches the same objects as the equivalent URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thanos_objstore_config_opens_the_s3_bucket() {
    let (_moto, addr) = start_moto("thanos");
    let yaml = format!(
        "type: S3\nconfig:\n  bucket: thanos\n  endpoint: {addr}\n  insecure: true\n  access_key: test\n  secret_key: test\n  http_config:\n    idle_conn_timeout: 90s\nprefix: team-a\n"
    );
    let config = tsdb_bucket::ObjstoreConfig::parse(&yaml).unwrap();
    assert_eq!(config.ignored, vec!["http_config.idle_conn_timeout"]);
    let bucket = config.open().unwrap();
    bucket
        .put("01ABC/meta.json", bytes::Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let by_url = Bucket::from_url(&format!(
        "s3://thanos?endpoint=http://{addr}&access_key_id=test&secret_access_key=test"
    ))
    .unwrap();
    assert_eq!(
        by_url
            .get("team-a/01ABC/meta.json")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"{}"[..])
    );
    assert_eq!(bucket.list_dirs().await.unwrap(), vec!["01ABC".to_string()]);
}
