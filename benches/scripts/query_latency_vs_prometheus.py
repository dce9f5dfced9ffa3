#!/usr/bin/env python3
"""Query latency through the HTTP API, `tsdb serve` against Prometheus 3.5, on the same data.

Starts both servers on fresh directories, remote-writes the same workload into both with the
`remote_write_bench` example (so both hold identical samples), then sends each query of a set of
dashboard-style query classes N times to each server, alternating, and prints the median
latency per class and the ratio. Checks that both servers return the same number of result
series for each query.

Usage (from the repository root, after `cargo build --release -p tsdb-examples --bin tsdb
--example remote_write_bench`):
    PROMETHEUS_BIN=~/.cache/prometheus-ref/usr/bin benches/scripts/query_latency_vs_prometheus.py [INSTANCES] [RUNS]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

INSTANCES = int(sys.argv[1]) if len(sys.argv) > 1 else 500
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 30
PROM_BIN = os.path.join(
    os.environ.get("PROMETHEUS_BIN", os.path.expanduser("~/.cache/prometheus-ref/usr/bin")),
    "prometheus",
)
QUERIES = {
    "selector": "up",
    "rate": "rate(http_requests_total[5m])",
    "sum by": "sum by (job, code) (rate(http_requests_total[5m]))",
    "regex": 'sum(rate(http_requests_total{handler=~"/api/.*",code!="500"}[5m]))',
    "histogram_quantile": "histogram_quantile(0.9, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))",
    "binary join": "rate(http_requests_total[5m]) / on (instance, job) group_left up",
    "subquery": "max_over_time(sum(rate(http_requests_total[1m]))[30m:1m])",
    "topk": "topk(5, max_over_time(process_resident_memory_bytes[30m]))",
}


def wait_ready(url):
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"{url} did not come up")


def query(base, q, start, end):
    params = urllib.parse.urlencode({"query": q, "start": start, "end": end, "step": 60})
    t = time.perf_counter()
    body = urllib.request.urlopen(f"{base}/api/v1/query_range?{params}", timeout=60).read()
    elapsed = time.perf_counter() - t
    data = json.loads(body)
    assert data["status"] == "success", data
    return elapsed, len(data["data"]["result"])


def main():
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "prom.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1h\n")
    ours = subprocess.Popen(
        ["target/release/tsdb", "serve", "--data", f"{tmp}/ours", "--listen", "127.0.0.1:19600", "--no-wal-fsync"],
        stderr=subprocess.DEVNULL,
    )
    prom = subprocess.Popen(
        [PROM_BIN, f"--config.file={tmp}/prom.yml", f"--storage.tsdb.path={tmp}/prom",
         "--web.listen-address=127.0.0.1:19601", "--web.enable-remote-write-receiver"],
        stderr=subprocess.DEVNULL,
    )
    try:
        servers = {"ours": "http://127.0.0.1:19600", "prometheus": "http://127.0.0.1:19601"}
        for base in servers.values():
            wait_ready(f"{base}/-/ready")
        for base in servers.values():
            subprocess.run(
                ["target/release/examples/remote_write_bench", f"{base}/api/v1/write", str(INSTANCES), "4"],
                check=True, stdout=subprocess.DEVNULL,
            )
        end = time.time()
        start = end - 3600
        print(f"{INSTANCES * 16} series, 1 h at 15 s; query_range over 1 h, step 60 s; median of {RUNS}")
        print(f"{'class':<20} {'ours ms':>9} {'prom ms':>9} {'ratio':>6}")
        for name, q in QUERIES.items():
            times = {k: [] for k in servers}
            counts = {}
            for _ in range(RUNS):
                for k, base in servers.items():
                    t, n = query(base, q, start, end)
                    times[k].append(t)
                    counts[k] = n
            if counts["ours"] != counts["prometheus"]:
                print(f"  {name}: series count differs: {counts}")
            o = statistics.median(times["ours"]) * 1000
            p = statistics.median(times["prometheus"]) * 1000
            print(f"{name:<20} {o:>9.2f} {p:>9.2f} {p / o:>5.2f}x")
        for k, proc in (("ours", ours), ("prometheus", prom)):
            with open(f"/proc/{proc.pid}/status") as f:
                rss = [l.split()[1] for l in f if l.startswith("VmHWM")][0]
            print(f"peak RSS {k}: {int(rss) // 1024} MB")
    finally:
        for p in (ours, prom):
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
