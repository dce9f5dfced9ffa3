//! Helpers of the `tsdb serve` tests: start the real binary, talk HTTP to it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `tsdb serve` process, killed when dropped.
pub struct Server {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    /// `host:port` of its StoreAPI gRPC endpoint, when started with one.
    pub grpc_addr: Option<String>,
}

impl Server {
    /// Starts `tsdb serve --data DIR --listen 127.0.0.1:0` and waits until it listens.
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    /// Starts `tsdb serve` with extra arguments; with `--grpc-listen`, also waits for the
    /// gRPC endpoint.
    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        let want_grpc = extra.contains(&"--grpc-listen");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tsdb"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start tsdb serve");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let (mut addr, mut grpc_addr) = (None, None);
        while addr.is_none() || (want_grpc && grpc_addr.is_none()) {
            match lines.next() {
                Some(Ok(l)) => {
                    if let Some(a) = l.strip_prefix("tsdb serve: listening on ") {
                        addr = Some(a.trim().to_string());
                    }
                    if let Some(a) = l.strip_prefix("tsdb serve: StoreAPI gRPC listening on ") {
                        grpc_addr = Some(a.trim().to_string());
                    }
                }
                other => {
                    let _ = child.kill();
                    panic!("tsdb serve did not start: {other:?}");
                }
            }
        }
        let addr = addr.unwrap_or_default();
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr,
            grpc_addr,
        }
    }

    /// `http://addr` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tsdb serve did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `tsdb` child process (any role), killed when dropped, with the addresses it announced.
pub struct Proc {
    child: Child,
    /// One address per announcement asked for, in order.
    pub addrs: Vec<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tsdb ARGS` and waits for one stderr line per prefix of `announce` (`"tsdb store:
/// listening on "`, ...); the rest of each line is taken as an address.
pub fn start_tsdb(args: &[&str], announce: &[&str]) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tsdb"))
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut addrs = vec![String::new(); announce.len()];
    while addrs.iter().any(String::is_empty) {
        let line = match lines.next() {
            Some(Ok(l)) => l,
            other => panic!("tsdb {args:?} exited: {other:?}"),
        };
        for (i, p) in announce.iter().enumerate() {
            if let Some(a) = line.strip_prefix(p) {
                addrs[i] = a.trim().to_string();
            }
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Proc { child, addrs }
}

/// An HTTP answer: status, body, headers of interest.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn answer(r: Result<ureq::Response, ureq::Error>) -> Answer {
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("HTTP transport error: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.header(&n).unwrap_or_default().to_string();
            (n, v)
        })
        .collect();
    let body = resp.into_string().unwrap_or_default();
    Answer {
        status,
        body,
        headers,
    }
}

/// POSTs `body` with `headers`.
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut req = ureq::post(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    answer(req.send_bytes(body))
}

/// GETs `url` with query parameters and headers.
pub fn get(url: &str, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
    let mut req = ureq::get(url);
    for (k, v) in params {
        req = req.query(k, v);
    }
    for (k, v) in headers {
        req = req.set(k, v);
    }
    answer(req.call())
}

/// Snappy block compression, as remote write uses.
pub fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}
