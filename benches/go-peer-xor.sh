#!/usr/bin/env bash
# Side by side: Prometheus' Go XOR chunk code (go-peer, Prometheus 3.5.3) and ours, on the same
# 1.2 M generated samples in 120-sample chunks, measured the same way (best wall-clock time of
# REPS runs). The two alternate ROUNDS times so that both see the same machine load; the best
# figure of each is reported with the ratio.
#
# Usage: benches/go-peer-xor.sh [ROUNDS] [REPS]      (defaults: 3 rounds of 15 repetitions)
set -euo pipefail
rounds=${1:-3}
reps=${2:-15}
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED_DIR:-$here/../shared}
peer=/tmp/go-peer
if [[ ! -x $peer ]]; then
  eval "$(flock /tmp/go-install.lock "$shared/tools/install-prometheus-go")"
  (cd "$shared/tools/go-peer" && go build -o "$peer" .)
fi
cd "$here"
cargo bench -p tsdb-benches --bench chunkenc_xor --no-run >/dev/null 2>&1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$rounds"); do
  "$peer" -only xor -reps "$reps" >>"$out"
  XOR_GO_PEER_STYLE=1 XOR_GO_PEER_REPS=$reps cargo bench -q -p tsdb-benches --bench chunkenc_xor 2>/dev/null \
    | grep '^{' >>"$out"
done
python3 - "$out" <<'PY'
import json, sys
best = {}
checksums = set()
for line in open(sys.argv[1]):
    m = json.loads(line)
    key = (m["impl"], m["bench"])
    checksums.add(m["checksum"])
    if key not in best or m["ns_per_sample"] < best[key]["ns_per_sample"]:
        best[key] = m
assert len(checksums) == 1, f"the two sides used different data: {checksums}"
print(f"data checksum {checksums.pop()} (identical on both sides)")
print(f"{'bench':<12} {'go ns/sample':>13} {'rust ns/sample':>15} {'go/rust':>8} {'go B/sample':>12} {'rust B/sample':>14}")
for bench in ["xor_encode", "xor_decode"]:
    g, r = best[("prometheus-go", bench)], best[("rust", bench)]
    print(f"{bench:<12} {g['ns_per_sample']:>13.2f} {r['ns_per_sample']:>15.2f} "
          f"{g['ns_per_sample'] / r['ns_per_sample']:>7.2f}x {g['bytes_per_sample']:>12.3f} {r['bytes_per_sample']:>14.3f}")
for bench in ["xor2_encode", "xor2_decode"]:
    r = best[("rust", bench)]
    print(f"{bench:<12} {'-':>13} {r['ns_per_sample']:>15.2f} {'':>8} {'-':>12} {r['bytes_per_sample']:>14.3f}")
PY
