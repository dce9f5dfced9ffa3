//! The node's own metrics, exposed on `/metrics` in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters of the serving node.
#[derive(Default)]
pub struct Metrics {
    /// Remote-write requests answered, by status code.
    write_requests: Mutex<BTreeMap<u16, u64>>,
    /// Float and histogram samples acknowledged through remote write.
    pub samples_written: AtomicU64,
    /// Series in requests skipped or rejected.
    pub samples_rejected: AtomicU64,
    /// HTTP API requests answered, by handler and status code.
    api_requests: Mutex<BTreeMap<(String, u16), u64>>,
}

impl Metrics {
    /// Counts a remote-write answer.
    pub fn write_request(&self, code: u16) {
        *self
            .write_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(code)
            .or_default() += 1;
    }

    /// Counts an API answer.
    pub fn api_request(&self, handler: &str, code: u16) {
        *self
            .api_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((handler.to_string(), code))
            .or_default() += 1;
    }

    /// Renders every metric; `per_tenant` adds `(tenant, head series)` gauges.
    pub fn render(&self, per_tenant: &[(String, usize)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP tsdb_remote_write_requests_total Remote-write requests answered, by status code.\n");
        out.push_str("# TYPE tsdb_remote_write_requests_total counter\n");
        for (code, n) in self
            .write_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "tsdb_remote_write_requests_total{{code=\"{code}\"}} {n}"
            );
        }
        out.push_str("# HELP tsdb_remote_write_samples_total Float and histogram samples acknowledged through remote write.\n");
        out.push_str("# TYPE tsdb_remote_write_samples_total counter\n");
        let _ = writeln!(
            out,
            "tsdb_remote_write_samples_total {}",
            self.samples_written.load(Ordering::Relaxed)
        );
        out.push_str("# HELP tsdb_remote_write_rejected_samples_total Samples of rejected remote-write requests.\n");
        out.push_str("# TYPE tsdb_remote_write_rejected_samples_total counter\n");
        let _ = writeln!(
            out,
            "tsdb_remote_write_rejected_samples_total {}",
            self.samples_rejected.load(Ordering::Relaxed)
        );
        out.push_str("# HELP tsdb_http_api_requests_total Query API requests answered, by handler and status code.\n");
        out.push_str("# TYPE tsdb_http_api_requests_total counter\n");
        for ((handler, code), n) in self
            .api_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "tsdb_http_api_requests_total{{handler=\"{handler}\",code=\"{code}\"}} {n}"
            );
        }
        out.push_str("# HELP tsdb_head_series Series in the head block, by tenant.\n");
        out.push_str("# TYPE tsdb_head_series gauge\n");
        for (tenant, n) in per_tenant {
            let _ = writeln!(out, "tsdb_head_series{{tenant=\"{tenant}\"}} {n}");
        }
        out
    }
}
