//! `chunks_head/` against the real Prometheus 3.5, both ways.
//!
//! * A real `prometheus` (remote-write receiver, no scrape targets) takes 1 000 samples per
//!   series over remote write, cuts and m-maps its chunks, and is stopped: our `Db` opens the
//!   directory and reads exactly what `promtool tsdb dump` prints for it, taking the full
//!   chunks from `chunks_head/`.
//! * Our `Db` writes the same workload: `promtool tsdb dump` prints exactly our samples.
//!
//! In both cases a copy whose WAL keeps only the series records proves that the chunk files
//! themselves are read: both readers then see exactly the samples of the m-mapped chunks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tsdb_core::db::{Db, DbOptions};
use tsdb_core::gofloat::go_g;
use tsdb_core::record::RecordType;
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_core::wlog::{SegmentReader, WalOptions, WalWriter};
use tsdb_index::{Labels, Matcher};

const SERIES: usize = 6;
const SAMPLES: i64 = 1000;

fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME"))
                .join(".cache/prometheus-ref/usr/bin")
        });
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{name} not found at {}: run shared/tools/install-prometheus and set PROMETHEUS_BIN",
        p.display()
    );
    p
}

/// Every float sample of the directory, in promtool's line format and order.
fn dump(db: &dyn Queryable) -> String {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let all = Matcher::new(tsdb_index::MatchType::Regexp, "__name__", ".+").unwrap();
    let mut set = q.select(false, None, &[all]).unwrap();
    let mut out = String::new();
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let labels = s.labels().to_string();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            writeln!(out, "{labels} {} {t}", go_g(v)).unwrap();
        }
        assert!(it.err().is_none(), "{:?}", it.err());
    }
    out
}

fn promtool_dump(dir: &Path) -> String {
    let out = Command::new(bin("promtool"))
        .args(["tsdb", "dump"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Lines grouped by series, for an order-independent comparison (promtool prints head series
/// in reference order, which differs between writers).
fn by_series(dump: &str) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in dump.lines() {
        let cut = l.rfind('}').expect("labels") + 1;
        m.entry(l[..cut].to_string())
            .or_default()
            .push(l[cut..].to_string());
    }
    m
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Rewrites `dir/wal` keeping only its series records: what remains readable is what
/// `chunks_head/` holds.
fn strip_wal_samples(dir: &Path) {
    let wal = dir.join("wal");
    let mut series = Vec::new();
    let mut r = SegmentReader::open_dir(&wal).unwrap();
    while let Some(rec) = r.next_record().unwrap() {
        if RecordType::of(rec) == Some(RecordType::Series) {
            series.push(rec.to_vec());
        }
    }
    assert!(!series.is_empty());
    std::fs::remove_dir_all(&wal).unwrap();
    std::fs::create_dir_all(&wal).unwrap();
    let mut w = WalWriter::open(&wal, WalOptions::default()).unwrap();
    let recs: Vec<&[u8]> = series.iter().map(|r| r.as_slice()).collect();
    w.commit(&recs).unwrap();
    w.close().unwrap();
}

fn labels(s: usize) -> Vec<(String, String)> {
    vec![
        ("__name__".into(), "chunks_head_test".into()),
        ("series".into(), format!("s{s}")),
    ]
}

fn value(s: usize, i: i64) -> f64 {
    ((i * 7919 + s as i64 * 104_729) % 1_000_003) as f64 / 8.0
}

// --- a minimal remote-write client (protobuf by hand, snappy block, HTTP/1.1) ---

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    put_varint(out, field << 3 | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A `prometheus.WriteRequest` with `SERIES` series and samples `from..to`.
fn write_request(from: i64, to: i64, t0: i64) -> Vec<u8> {
    let mut req = Vec::new();
    for s in 0..SERIES {
        let mut ts = Vec::new();
        for (n, v) in labels(s) {
            let mut l = Vec::new();
            put_bytes(&mut l, 1, n.as_bytes());
            put_bytes(&mut l, 2, v.as_bytes());
            put_bytes(&mut ts, 1, &l);
        }
        for i in from..to {
            let mut smp = Vec::new();
            put_varint(&mut smp, 1 << 3 | 1);
            smp.extend_from_slice(&value(s, i).to_le_bytes());
            put_varint(&mut smp, 2 << 3);
            put_varint(&mut smp, (t0 + i * 1000) as u64);
            put_bytes(&mut ts, 2, &smp);
        }
        put_bytes(&mut req, 1, &ts);
    }
    req
}

fn http(port: u16, method: &str, path: &str, headers: &str, body: &[u8]) -> (u16, String) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    c.write_all(body).unwrap();
    let mut resp = String::new();
    let _ = c.read_to_string(&mut resp);
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, resp)
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the real Prometheus on `dir`, feeds it the workload over remote write, stops it
/// with SIGTERM (a clean shutdown flushes its chunk files).
fn run_prometheus(dir: &Path, t0: i64) {
    let cfg = dir.parent().unwrap().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1m\n").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.parent().unwrap().join("prometheus.log")).unwrap();
    let child = Command::new(bin("prometheus"))
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut prom = Prometheus(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http(port, "GET", "/-/ready", "", b"").0 == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "prometheus did not become ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    let headers = "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n";
    for from in (0..SAMPLES).step_by(50) {
        let body = snap::raw::Encoder::new()
            .compress_vec(&write_request(from, from + 50, t0))
            .unwrap();
        let (code, resp) = http(port, "POST", "/api/v1/write", headers, &body);
        assert!(code == 204 || code == 200, "remote write: {resp}");
    }
    // A clean shutdown (SIGTERM) writes out the chunks Prometheus still buffers.
    let st = Command::new("kill")
        .args(["-TERM", &prom.0.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = prom.0.try_wait().unwrap() {
            assert!(st.success(), "prometheus exited with {st}");
            break;
        }
        assert!(Instant::now() < deadline, "prometheus did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn chunk_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("chunks_head"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Now, rounded to the second, minus the workload's span: every sample is recent.
fn start_time() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (now / 1000 - SAMPLES - 60) * 1000
}

fn expected_dump(t0: i64) -> BTreeMap<String, Vec<String>> {
    let mut want = String::new();
    for s in 0..SERIES {
        let l = Labels::from_pairs(labels(s).iter().map(|(n, v)| (n.as_str(), v.as_str())));
        for i in 0..SAMPLES {
            writeln!(want, "{l} {} {}", go_g(value(s, i)), t0 + i * 1000).unwrap();
        }
    }
    by_series(&want)
}

#[test]
fn we_read_the_chunks_head_prometheus_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let t0 = start_time();
    run_prometheus(&data, t0);
    assert!(
        chunk_files(&data).iter().any(|f| f == "000001"),
        "prometheus wrote no head chunk file: {:?}",
        chunk_files(&data)
    );
    let want = expected_dump(t0);

    // The whole directory: WAL and chunk files.
    let (theirs, ours) = (tmp.path().join("theirs"), tmp.path().join("ours"));
    copy_dir(&data, &theirs);
    copy_dir(&data, &ours);
    let promtool = by_series(&promtool_dump(&theirs));
    assert_eq!(promtool, want, "promtool over prometheus' directory");
    let db = Db::open(&ours, DbOptions::default()).unwrap();
    let rep = db.open_report().clone();
    assert!(
        rep.chunks_head_repaired.is_none(),
        "{:?}",
        rep.chunks_head_repaired
    );
    assert!(rep.replay.mmapped_chunks >= SERIES * 7, "{:?}", rep.replay);
    assert!(rep.replay.samples_in_mmapped_chunks > 0);
    assert_eq!(
        by_series(&dump(&db)),
        want,
        "our Db over prometheus' directory"
    );
    db.close().unwrap();

    // Only the chunk files hold samples now: both readers must agree on them.
    let (theirs, ours) = (tmp.path().join("theirs-c"), tmp.path().join("ours-c"));
    copy_dir(&data, &theirs);
    strip_wal_samples(&theirs);
    copy_dir(&theirs, &ours);
    let promtool = promtool_dump(&theirs);
    let db = Db::open(&ours, DbOptions::default()).unwrap();
    let got = dump(&db);
    db.close().unwrap();
    assert_eq!(
        got.lines().count(),
        rep.replay.samples_in_mmapped_chunks,
        "our Db reads the m-mapped samples only"
    );
    assert!(got.lines().count() < SERIES * SAMPLES as usize);
    assert_eq!(by_series(&got), by_series(&promtool));
}

#[test]
fn prometheus_reads_the_chunks_head_we_write() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let t0 = start_time();
    let db = Db::open(&data, DbOptions::default()).unwrap();
    for from in (0..SAMPLES).step_by(50) {
        let mut app = db.appender();
        for i in from..from + 50 {
            for s in 0..SERIES {
                let l = Labels::from_pairs(labels(s).iter().map(|(n, v)| (n.as_str(), v.as_str())));
                app.append(&l, t0 + i * 1000, value(s, i)).unwrap();
            }
        }
        app.commit().unwrap();
    }
    assert!(db.head().chunk_mapper().is_some());
    db.close().unwrap();
    assert_eq!(chunk_files(&data), vec!["000001".to_string()]);
    let want = expected_dump(t0);

    let copy = tmp.path().join("copy");
    copy_dir(&data, &copy);
    assert_eq!(
        by_series(&promtool_dump(&copy)),
        want,
        "promtool over our directory"
    );

    let stripped = tmp.path().join("stripped");
    copy_dir(&data, &stripped);
    strip_wal_samples(&stripped);
    let theirs = promtool_dump(&stripped);
    let db = Db::open(&stripped, DbOptions::default()).unwrap();
    let mapped = db.open_report().replay.mmapped_chunks;
    let ours = dump(&db);
    db.close().unwrap();
    assert!(mapped >= SERIES * 7, "{mapped} chunks");
    assert!(!theirs.is_empty() && theirs.lines().count() < SERIES * SAMPLES as usize);
    assert_eq!(by_series(&theirs), by_series(&ours));
    // Every line promtool read from our chunk files is one we appended.
    for (series, lines) in by_series(&theirs) {
        assert_eq!(want[&series][..lines.len()], lines[..], "{series}");
    }
}
