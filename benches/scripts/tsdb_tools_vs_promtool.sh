#!/usr/bin/env bash
# Side by side: `tsdb import openmetrics` vs `promtool tsdb create-blocks-from openmetrics`, and
# `tsdb dump` vs `promtool tsdb dump`, on a ~1M-sample OpenMetrics file (1 040 series x 960
# samples, 4 h). Whole-process wall time with hyperfine, peak RSS with /usr/bin/time -v.
# Usage: benches/scripts/tsdb_tools_vs_promtool.sh  (after `cargo build --release -p tsdb-examples`)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tsdb=${TSDB:-$root/target/release/tsdb}
promtool=${PROMETHEUS_BIN:-$HOME/.cache/prometheus-ref/usr/bin}/promtool
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/big.om" <<'PY'
import random, sys
random.seed(1)
start = 1700000000
out = ["# HELP http_requests_total Requests.", "# TYPE http_requests_total counter"]
for s in range(700):
    v = 0
    lbl = f'job="job{s%7}",instance="10.0.{s//250}.{s%250}:9100",code="{200 if s%3 else 500}"'
    for i in range(960):
        v += random.randint(0, 20)
        out.append(f'http_requests_total{{{lbl}}} {v}.0 {start+i*15}.{random.randint(0,999):03d}')
out.append("# TYPE temp gauge")
for s in range(340):
    for i in range(960):
        out.append(f'temp{{room="r{s}"}} {20+random.random()*5:.4f} {start+i*15}')
out.append("# EOF")
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
hyperfine -w 1 -r 5 --prepare "rm -rf $work/out && mkdir -p $work/out" \
  "$tsdb import openmetrics -q $work/big.om $work/out" \
  "$promtool tsdb create-blocks-from openmetrics $work/big.om $work/out"
rm -rf "$work/out"; mkdir -p "$work/out/wal"
/usr/bin/time -v "$tsdb" import openmetrics -q "$work/big.om" "$work/out" 2>&1 | grep -E 'Elapsed|Maximum resident'
rm -rf "$work/p"; mkdir -p "$work/p"
/usr/bin/time -v "$promtool" tsdb create-blocks-from openmetrics "$work/big.om" "$work/p" 2>&1 >/dev/null | grep -E 'Elapsed|Maximum resident'
hyperfine -w 1 -r 5 "$tsdb dump $work/out > /dev/null" "$promtool tsdb dump $work/out > /dev/null"
/usr/bin/time -v "$tsdb" dump "$work/out" 2>&1 >/dev/null | grep -E 'Elapsed|Maximum resident'
/usr/bin/time -v "$promtool" tsdb dump "$work/out" 2>&1 >/dev/null | grep -E 'Elapsed|Maximum resident'
