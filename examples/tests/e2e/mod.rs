//! A small end-to-end framework in the manner of Cortex' and Thanos' `e2e` packages, with
//! processes on loopback instead of containers: a [`Stack`] owns a temporary directory and
//! every process started in it (the real Prometheus, moto's S3 server, `tsdb` roles). Each
//! process logs to its own file in that directory; dropping the stack, also while a test
//! panics, kills every process, waits for it, prints the tail of each log when the test
//! failed, and removes the directory. On Linux each child also asks the kernel to kill it
//! should the test process itself die (`PR_SET_PDEATHSIG`), so not even a killed test run
//! leaves a process behind.
//!
//! Also here: a scrape target serving what a closure renders ([`MetricsTarget`]), polling
//! with a deadline ([`wait_for`]), free loopback ports, and HTTP helpers.

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A set of processes sharing a temporary directory; all killed, and the directory removed,
/// on drop.
pub struct Stack {
    procs: Vec<Proc>,
    dir: tempfile::TempDir,
}

struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Stack {
    pub fn new() -> Stack {
        sweep_abandoned_dirs();
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .expect("temporary directory");
        std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string()).unwrap();
        Stack {
            procs: Vec::new(),
            dir,
        }
    }

    /// The stack's temporary directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A new directory `name` under the stack's directory.
    pub fn dir(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Starts `cmd` as process `name` (unique), stdout and stderr to `<name>.log`.
    pub fn spawn(&mut self, name: &str, mut cmd: Command) {
        assert!(
            self.procs.iter().all(|p| p.name != name),
            "two processes named {name}"
        );
        let log = self.dir.path().join(format!("{name}.log"));
        let out = File::create(&log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({cmd:?}): {e}"));
        self.procs.push(Proc {
            name: name.to_string(),
            child,
            log,
        });
    }

    /// Starts `tsdb ARGS` as `name` and waits for one log line per prefix of `announce`
    /// (`"tsdb store: listening on "`, ...); returns the rest of each line (an address).
    pub fn spawn_tsdb(&mut self, name: &str, args: &[&str], announce: &[&str]) -> Vec<String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tsdb"));
        cmd.args(args);
        self.spawn(name, cmd);
        wait_for(name, Duration::from_secs(60), || {
            self.assert_running(name);
            let log = self.log(name);
            announce
                .iter()
                .map(|p| {
                    log.lines()
                        .find_map(|l| l.strip_prefix(p))
                        .map(|a| a.trim().to_string())
                })
                .collect::<Option<Vec<String>>>()
        })
    }

    /// Runs `tsdb ARGS` to completion (output in `<name>.log`); its output if it succeeded.
    pub fn run_tsdb(&self, name: &str, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_tsdb"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(self.dir.path().join(format!("{name}.log")), &text).unwrap();
        assert!(out.status.success(), "tsdb {args:?} failed: {text}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What process `name` has logged so far.
    pub fn log(&self, name: &str) -> String {
        let p = self.proc(name);
        std::fs::read(&p.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Panics (with its log) if process `name` has exited.
    pub fn assert_running(&mut self, name: &str) {
        let i = self.index(name);
        if let Ok(Some(status)) = self.procs[i].child.try_wait() {
            panic!("{name} exited ({status}):\n{}", tail(&self.log(name), 40));
        }
    }

    /// Kills process `name` (SIGKILL) and waits for it; its log stays.
    pub fn kill(&mut self, name: &str) {
        let i = self.index(name);
        let p = &mut self.procs[i];
        let _ = p.child.kill();
        let _ = p.child.wait();
    }

    fn index(&self, name: &str) -> usize {
        self.procs
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("no process named {name}"))
    }

    fn proc(&self, name: &str) -> &Proc {
        &self.procs[self.index(name)]
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Newest first: clients before the servers they talk to.
        for p in self.procs.iter_mut().rev() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        if std::thread::panicking() {
            for p in &self.procs {
                let log = std::fs::read(&p.log)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                eprintln!("----- {} (last lines) -----\n{}", p.name, tail(&log, 25));
            }
        }
        // The directory goes when `self.dir` drops, after every process is gone.
    }
}

const DIR_PREFIX: &str = "tsdb-e2e-";
/// The file in a stack's directory naming the test process that owns it.
const OWNER_FILE: &str = "owner.pid";

/// Removes the directories of stacks whose test process was killed before it could clean
/// up (SIGKILL runs no destructor; the kernel killed their children, see `die_with_parent`).
fn sweep_abandoned_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let owner = std::fs::read_to_string(e.path().join(OWNER_FILE)).unwrap_or_default();
        let alive = owner
            .trim()
            .parse::<u32>()
            .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !owner.is_empty() && !alive && cfg!(target_os = "linux") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Asks the kernel to SIGKILL the child when the thread that started it (the test) dies.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    extern "C" {
        fn prctl(option: std::ffi::c_int, ...) -> std::ffi::c_int;
    }
    const PR_SET_PDEATHSIG: std::ffi::c_int = 1;
    const SIGKILL: std::ffi::c_ulong = 9;
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// Calls `f` every 200 ms until it returns something; panics after `timeout`, naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A loopback port free right now (for programs that cannot announce the one they bound).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A millisecond timestamp as the API's `time` parameter (`1700000000.123`).
pub fn api_time(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// GET `url` with query parameters: status and body (a transport error is status 0).
pub fn http_get(url: &str, params: &[(&str, &str)]) -> (u16, String) {
    let mut req = ureq::get(url).timeout(Duration::from_secs(30));
    for (k, v) in params {
        req = req.query(k, v);
    }
    match req.call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// GET `url` and parse a 200 answer as JSON; `None` otherwise.
pub fn get_json(url: &str, params: &[(&str, &str)]) -> Option<serde_json::Value> {
    match http_get(url, params) {
        (200, body) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

/// Starts the real Prometheus 3.5 (`$PROMETHEUS_BIN/prometheus`) as `name` with `config`
/// (YAML) on a free port, storage under the stack, and `extra` flags (`--agent` runs it as
/// an agent); waits until it is ready and returns its `host:port`.
pub fn start_prometheus(stack: &mut Stack, name: &str, config: &str, extra: &[&str]) -> String {
    let dir = stack.dir(name);
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    let storage = if extra.contains(&"--agent") {
        "--storage.agent.path"
    } else {
        "--storage.tsdb.path"
    };
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(prometheus_bin().join("prometheus"));
    cmd.arg(format!("--config.file={}", config_file.display()))
        .arg(format!("{storage}={}", dir.join("data").display()))
        .arg(format!("--web.listen-address={addr}"))
        .args(extra);
    stack.spawn(name, cmd);
    wait_for(&format!("{name} ready"), Duration::from_secs(60), || {
        stack.assert_running(name);
        (http_get(&format!("http://{addr}/-/ready"), &[]).0 == 200).then_some(())
    });
    addr
}

/// The directory of the reference `prometheus` and `promtool` (env `PROMETHEUS_BIN`, else
/// `$HOME/.cache/prometheus-ref/usr/bin`).
pub fn prometheus_bin() -> PathBuf {
    let dir = std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME not set"))
                .join(".cache/prometheus-ref/usr/bin")
        });
    assert!(
        dir.join("prometheus").is_file(),
        "prometheus not found in {} (run shared/tools/install-prometheus or set PROMETHEUS_BIN)",
        dir.display()
    );
    dir
}

/// Starts moto's S3 server (`python3 -m moto.server`, which `scripts/test` installs) as
/// `name` and creates `bucket` in it; returns its `host:port`.
pub fn start_moto(stack: &mut Stack, name: &str, bucket: &str) -> String {
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "moto.server",
        "-H",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ]);
    stack.spawn(name, cmd);
    let addr = format!("127.0.0.1:{port}");
    wait_for(
        &format!("{name} to create {bucket}"),
        Duration::from_secs(60),
        || {
            stack.assert_running(name);
            // S3's CreateBucket: `PUT /bucket`.
            let mut s = TcpStream::connect(&addr).ok()?;
            let req = format!(
            "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
            s.write_all(req.as_bytes()).ok()?;
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            resp.starts_with("HTTP/1.1 200").then_some(())
        },
    );
    addr
}

/// Starts a memcached server (which `scripts/test` installs) as `name` on a free loopback
/// port; returns its `host:port` once it accepts connections.
pub fn start_memcached(stack: &mut Stack, name: &str) -> String {
    let port = free_port();
    let mut cmd = Command::new("memcached");
    cmd.args([
        "-l",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "0",
        "-m",
        "64",
    ]);
    // memcached refuses to run as root without a user to switch to.
    cmd.args(["-u", "root"]);
    stack.spawn(name, cmd);
    let addr = format!("127.0.0.1:{port}");
    wait_for(
        &format!("{name} to listen"),
        Duration::from_secs(30),
        || {
            stack.assert_running(name);
            TcpStream::connect(&addr).ok().map(|_| ())
        },
    );
    addr
}

/// An HTTP server on loopback answering every GET with what `render(now_ms)` returns, as
/// Prometheus' text exposition format; stopped on drop.
pub struct MetricsTarget {
    pub addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsTarget {
    pub fn start(render: impl Fn(i64) -> String + Send + 'static) -> MetricsTarget {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = serve_one(conn, &render);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        MetricsTarget {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

/// Reads one request (up to its blank line) and answers it, closing the connection.
fn serve_one(conn: TcpStream, render: &impl Fn(i64) -> String) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let body = render(now_ms());
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

impl Drop for MetricsTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A query answer (`/api/v1/query`, `/query_range`) as sorted lines `labels values`, each
/// series' labels without `strip`; scalars and strings as one line.
pub fn result_lines(answer: &serde_json::Value, strip: &[&str]) -> Vec<String> {
    let data = &answer["data"];
    let result = &data["result"];
    let Some(series) = result
        .as_array()
        .filter(|_| matches!(data["resultType"].as_str(), Some("vector" | "matrix")))
    else {
        return vec![result.to_string()];
    };
    let mut out: Vec<String> = series
        .iter()
        .map(|s| {
            let mut metric = s["metric"].as_object().cloned().unwrap_or_default();
            for k in strip {
                metric.remove(*k);
            }
            let values = if s["values"].is_array() {
                s["values"].to_string()
            } else {
                s["value"].to_string()
            };
            format!("{} {values}", serde_json::Value::Object(metric))
        })
        .collect();
    out.sort();
    out
}
