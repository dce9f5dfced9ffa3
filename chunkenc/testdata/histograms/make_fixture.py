#!/usr/bin/env python3
"""Makes the native histogram chunk fixtures with a real Prometheus 3.5.

Starts `prometheus` on loopback with the remote-write receiver and no scrape jobs, sends it
native histograms (integer, float, gauge, counter resets, schema / zero-threshold / custom
bound changes, new and vanishing buckets, stale markers) as remote-write v1 requests, then
stops it with SIGTERM and copies every chunk it m-mapped to `chunks_head/` into a small file
here, with `fixture.json` listing each chunk and the samples that were sent for every series.

Usage: make_fixture.py [PROMETHEUS_BINARY]   (default $PROMETHEUS_BIN/prometheus or
~/.cache/prometheus-ref/usr/bin/prometheus). Only the Python standard library is used: the
protobuf is encoded by hand and the snappy block holds literal elements only.
"""
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
STALE_NAN = struct.unpack(">d", bytes.fromhex("7ff0000000000002"))[0]
STALE_BITS = 0x7FF0000000000002
BASE = 1_700_006_400_000  # a 2 h boundary
STEPS = 160

# ---------------------------------------------------------------- protobuf encoding

def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)

def zigzag(n):
    return (n << 1) ^ (n >> 63)

def key(field, wire):
    return uvarint((field << 3) | wire)

def f_bytes(field, b):
    return key(field, 2) + uvarint(len(b)) + b

def f_uvarint(field, n):
    return key(field, 0) + uvarint(n & 0xFFFFFFFFFFFFFFFF)

def f_double(field, v, bits=None):
    if bits is None:
        bits = struct.unpack("<Q", struct.pack("<d", v))[0]
    return key(field, 1) + struct.pack("<Q", bits)

def packed_sint(field, vals):
    return f_bytes(field, b"".join(uvarint(zigzag(v) & 0xFFFFFFFFFFFFFFFF) for v in vals)) if vals else b""

def packed_double(field, vals):
    return f_bytes(field, b"".join(struct.pack("<d", v) for v in vals)) if vals else b""

def span_msg(s):
    return f_uvarint(1, zigzag(s[0]) & 0xFFFFFFFF) + f_uvarint(2, s[1])

HINTS = {"unknown": 0, "reset": 1, "no_reset": 2, "gauge": 3}

def histogram_msg(h, t):
    out = b""
    if h["float"]:
        out += f_double(2, h["count"])
    else:
        out += f_uvarint(1, h["count"])
    out += f_double(3, 0.0, bits=h["sum_bits"])
    out += f_uvarint(4, zigzag(h["schema"]) & 0xFFFFFFFF)
    out += f_double(5, h["zero_threshold"])
    if h["float"]:
        out += f_double(7, h["zero_count"])
    else:
        out += f_uvarint(6, h["zero_count"])
    for s in h["negative_spans"]:
        out += f_bytes(8, span_msg(s))
    if h["float"]:
        out += packed_double(10, h["negative_buckets"])
    else:
        out += packed_sint(9, h["negative_buckets"])
    for s in h["positive_spans"]:
        out += f_bytes(11, span_msg(s))
    if h["float"]:
        out += packed_double(13, h["positive_buckets"])
    else:
        out += packed_sint(12, h["positive_buckets"])
    out += f_uvarint(14, HINTS[h["hint"]])
    out += f_uvarint(15, t)
    out += packed_double(16, h["custom_values"])
    return out

def write_request(series_batch):
    req = b""
    for labels, t, h in series_batch:
        ts = b""
        for k, v in labels:
            ts += f_bytes(1, f_bytes(1, k.encode()) + f_bytes(2, v.encode()))
        ts += f_bytes(4, histogram_msg(h, t))
        req += f_bytes(1, ts)
    return req

def snappy_literal_block(data):
    """Snappy block format with literal elements only (valid input for any decoder)."""
    out = bytearray(uvarint(len(data)))
    pos = 0
    while pos < len(data):
        chunk = data[pos:pos + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
        pos += len(chunk)
    return bytes(out)

# ---------------------------------------------------------------- histogram construction

def layout(buckets, deltas):
    """Spans and bucket values from {index: count} (sorted). deltas: integer delta coding."""
    spans, vals = [], []
    last = None
    prev = 0
    for idx in sorted(buckets):
        if last is not None and idx == last + 1:
            spans[-1][1] += 1
        else:
            spans.append([idx if last is None else idx - last - 1, 1])
        last = idx
        c = buckets[idx]
        vals.append(c - prev if deltas else c)
        prev = c
    return spans, vals

def make(pos, neg, *, is_float, schema, zt=2.0 ** -128, zc=0, custom=(), hint="unknown", stale=False):
    ps, pv = layout(pos, not is_float)
    ns, nv = layout(neg, not is_float)
    count = zc + sum(pos.values()) + sum(neg.values())
    total = sum(k * v for k, v in pos.items()) - sum(k * v for k, v in neg.items())
    s = float(total) * 0.37 + 0.125
    sum_bits = STALE_BITS if stale else struct.unpack("<Q", struct.pack("<d", s))[0]
    return {
        "float": is_float, "count": count, "sum_bits": sum_bits, "schema": schema,
        "zero_threshold": zt, "zero_count": zc, "positive_spans": ps, "positive_buckets": pv,
        "negative_spans": ns, "negative_buckets": nv, "hint": hint, "custom_values": list(custom),
    }

def grow(d, rng, frac):
    for k in d:
        d[k] += rng.randint(0, 5) if not frac else rng.randint(0, 20) * 0.25

def series_int_plain(rng, i):
    if i == 0:
        series_int_plain.p = {k: rng.randint(0, 30) for k in range(-5, 15)}
        series_int_plain.n = {k: rng.randint(0, 10) for k in range(0, 4)}
        series_int_plain.z = 3
    grow(series_int_plain.p, rng, False)
    grow(series_int_plain.n, rng, False)
    series_int_plain.z += rng.randint(0, 2)
    return make(series_int_plain.p, series_int_plain.n, is_float=False, schema=3, zc=series_int_plain.z)

def series_grow(is_float):
    def gen(rng, i):
        st = gen.__dict__
        if i == 0:
            st["p"] = {0: 1, 1: 2, 2: 3}
            st["n"] = {}
        if i % 10 == 9:
            # A new bucket: before, inside a gap, or after the existing ones.
            choice = [min(st["p"]) - rng.randint(1, 3), max(st["p"]) + rng.randint(1, 4)]
            gaps = [k for k in range(min(st["p"]), max(st["p"])) if k not in st["p"]]
            if gaps:
                choice.append(rng.choice(gaps))
            st["p"][rng.choice(choice)] = 1
            if i % 20 == 19:
                st["n"][rng.randint(-2, 6)] = 1
        grow(st["p"], rng, is_float)
        grow(st["n"], rng, is_float)
        return make(st["p"], st["n"], is_float=is_float, schema=0, zc=0 if is_float else 1)
    return gen

def series_reset(is_float):
    def gen(rng, i):
        st = gen.__dict__
        if i in (0, 50, 110):
            st["p"] = {k: 1 for k in range(-2, 6)}
        grow(st["p"], rng, is_float)
        hint = "reset" if i == 80 else "unknown"
        return make(st["p"], {}, is_float=is_float, schema=1, hint=hint)
    return gen

def series_int_schema(rng, i):
    st = series_int_schema.__dict__
    if i == 0:
        st["p"] = {k: 2 for k in range(0, 8)}
    grow(st["p"], rng, False)
    schema = 2 if i < 60 else 1
    zt = 2.0 ** -128 if i < 120 else 0.001
    return make(st["p"], {}, is_float=False, schema=schema, zt=zt)

def series_int_vanish(rng, i):
    st = series_int_vanish.__dict__
    if i == 0:
        st["p"] = {0: 3, 1: 0, 2: 5, 3: 0, 5: 1}
    for k in st["p"]:
        if k not in (1, 3):
            st["p"][k] += rng.randint(0, 3)
    sent = dict(st["p"])
    if 30 <= i < 90:
        del sent[1]  # empty bucket left out: a backward insert
    if i >= 60:
        del sent[3]
    if i == 100:
        del st["p"][5]  # a non-empty bucket disappears: counter reset
    if i > 100:
        sent.pop(5, None)
    return make(sent, {}, is_float=False, schema=0)

def series_gauge(is_float):
    def gen(rng, i):
        st = gen.__dict__
        if i == 0:
            st["p"] = {0: 5, 1: 5, 2: 5}
        p = st["p"]
        for k in list(p):
            p[k] = max(0, p[k] + rng.randint(-3, 3) * (0.5 if is_float else 1))
        if i % 15 == 7:
            p[rng.randint(-4, 8)] = 1
        if i % 15 == 12 and len(p) > 2:
            del p[rng.choice(sorted(p))]
        return make(p, {-1: 2} if i % 30 < 10 else {}, is_float=is_float, schema=2, hint="gauge", zc=1)
    return gen

CUSTOM_A = [0.0001, 0.005, 0.01, 0.25, 1, 2.5, 10, 33554.43, 1e6]
CUSTOM_B = [0.1, 0.5, 1, 5, 10]

def series_nhcb(is_float):
    def gen(rng, i):
        st = gen.__dict__
        custom = CUSTOM_A if i < 100 else CUSTOM_B
        if i in (0, 100):
            st["p"] = {k: 1 for k in range(0, len(custom) + 1) if k != 3}
        grow(st["p"], rng, is_float)
        return make(st["p"], {}, is_float=is_float, schema=-53, zt=0.0, custom=custom)
    return gen

def series_int_stale(rng, i):
    st = series_int_stale.__dict__
    if i == 0:
        st["p"] = {k: 1 for k in range(3)}
    grow(st["p"], rng, False)
    return make(st["p"], {}, is_float=False, schema=0, stale=(40 <= i < 43))

def series_float_plain(rng, i):
    st = series_float_plain.__dict__
    if i == 0:
        st["p"] = {k: rng.random() * 10 for k in range(-3, 17)}
        st["n"] = {k: rng.random() for k in range(-2, 2)}
    for d in (st["p"], st["n"]):
        for k in d:
            d[k] += rng.random() * 3
    return make(st["p"], st["n"], is_float=True, schema=3, zc=0.5 * i)

SERIES = [
    ("int_plain", series_int_plain),
    ("int_grow", series_grow(False)),
    ("int_reset", series_reset(False)),
    ("int_schema", series_int_schema),
    ("int_vanish", series_int_vanish),
    ("int_gauge", series_gauge(False)),
    ("int_nhcb", series_nhcb(False)),
    ("int_stale", series_int_stale),
    ("float_plain", series_float_plain),
    ("float_grow", series_grow(True)),
    ("float_reset", series_reset(True)),
    ("float_gauge", series_gauge(True)),
    ("float_nhcb", series_nhcb(True)),
]

# ---------------------------------------------------------------- running Prometheus

CRC_TABLE = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    CRC_TABLE.append(c)

def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF

def read_uvarint(b, pos):
    shift = n = 0
    while True:
        x = b[pos]
        pos += 1
        n |= (x & 0x7F) << shift
        if x < 0x80:
            return n, pos
        shift += 7

def read_head_chunks(path):
    """Parses a chunks_head file: (series_ref, mint, maxt, encoding, data) per record."""
    b = open(path, "rb").read()
    assert b[:4] == bytes.fromhex("0130BC91") and b[4] == 1, "not a head chunks file"
    pos, out = 8, []
    while pos + 25 <= len(b):
        ref, mint, maxt = struct.unpack(">Qqq", b[pos:pos + 24])
        if ref == 0 and mint == 0 and maxt == 0:
            break  # zero padding after the last record
        enc = b[pos + 24]
        n, dpos = read_uvarint(b, pos + 25)
        data = b[dpos:dpos + n]
        crc = struct.unpack(">I", b[dpos + n:dpos + n + 4])[0]
        assert crc == crc32c(b[pos:dpos + n]), "bad CRC in chunks_head"
        out.append((ref, mint, maxt, enc, data))
        pos = dpos + n + 4
    return out

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

def main():
    default_bin = os.path.join(os.environ.get("PROMETHEUS_BIN", os.path.expanduser("~/.cache/prometheus-ref/usr/bin")), "prometheus")
    prom = sys.argv[1] if len(sys.argv) > 1 else default_bin
    version = subprocess.run([prom, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    rng = random.Random(20261124)

    # The samples, in send order.
    samples = {name: [] for name, _ in SERIES}
    t = BASE + 1000
    for i in range(STEPS):
        for name, gen in SERIES:
            ts = t + (rng.randint(-300, 300) if i % 7 == 3 else 0)
            samples[name].append((ts, gen(rng, i)))
        t += 15000 if i % 5 else 15000 + rng.randint(1, 40000)
    # One more sample per series past the next 2 h boundary cuts (and m-maps) every open chunk.
    final_t = BASE + 7_200_000 + 60_000
    for name, gen in SERIES:
        samples[name].append((final_t, gen(rng, STEPS)))

    tmp = tempfile.mkdtemp(prefix="hist-fixture-")
    cfg = os.path.join(tmp, "prometheus.yml")
    open(cfg, "w").write("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = free_port()
    proc = subprocess.Popen(
        [prom, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/data", f"--web.listen-address=127.0.0.1:{port}",
         "--web.enable-remote-write-receiver", "--enable-feature=native-histograms"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "log"), "w"))
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1)
                break
            except Exception:
                time.sleep(0.2)
        for i in range(STEPS + 1):
            batch = [((("__name__", name), ("fixture", "hist")), *samples[name][i]) for name, _ in SERIES]
            body = snappy_literal_block(write_request(batch))
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/write", data=body, method="POST",
                headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                         "X-Prometheus-Remote-Write-Version": "0.1.0"})
            with urllib.request.urlopen(req) as resp:
                assert resp.status == 204, resp.status
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    # Series refs are handed out in creation order: the order of the first request.
    names = [name for name, _ in SERIES]
    chunks = []
    head_dir = os.path.join(tmp, "data", "chunks_head")
    for f in sorted(os.listdir(head_dir)):
        chunks += read_head_chunks(os.path.join(head_dir, f))
    for old in os.listdir(HERE):
        if old.endswith(".chunk"):
            os.remove(os.path.join(HERE, old))
    manifest_chunks = []
    per_series = {}
    for ref, mint, maxt, enc, data in chunks:
        name = names[ref - 1]
        ts = [t for t, _ in samples[name] if mint <= t <= maxt]
        assert ts and ts[0] == mint and ts[-1] == maxt, f"chunk of {name} does not match its samples"
        assert int.from_bytes(data[:2], "big") == len(ts), f"{name}: sample count mismatch"
        per_series[name] = per_series.get(name, 0) + 1
        fname = f"{name}-{per_series[name]:02d}.chunk"
        open(os.path.join(HERE, fname), "wb").write(data)
        manifest_chunks.append({"file": fname, "series": name, "encoding": enc & 0x7F, "mint": mint, "maxt": maxt})

    def jf(v):
        if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
            return str(v)
        return v

    manifest = {
        "made_by": version,
        "chunks": manifest_chunks,
        "series": {
            name: [{"t": t, **{k: (jf(v) if not isinstance(v, list) else v) for k, v in h.items()}} for t, h in samples[name]]
            for name in names
        },
    }
    with open(os.path.join(HERE, "fixture.json"), "w") as f:
        json.dump(manifest, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"{len(manifest_chunks)} chunks from {version}; log in {tmp}/log")
    shutil.rmtree(os.path.join(tmp, "data"))

if __name__ == "__main__":
    main()
