"""A generic StoreAPI client: generates Python stubs from our .proto files with grpcio-tools
(independently of our Rust code), calls thanos.Store/Series on the given address and prints,
per chunk, the series' labels, the chunk's sample count (its 2-byte header), its time range
and encoding; then a summary line."""

import os
import struct
import sys
import tempfile

import grpc
from grpc_tools import protoc


def main():
    addr, proto_dir = sys.argv[1], sys.argv[2]
    gen = tempfile.mkdtemp()
    rc = protoc.main([
        "protoc",
        f"-I{proto_dir}",
        f"-I{os.path.join(os.path.dirname(protoc.__file__), '_proto')}",
        f"--python_out={gen}",
        f"--grpc_python_out={gen}",
        os.path.join(proto_dir, "thanos/store.proto"),
    ])
    if rc != 0:
        sys.exit(f"protoc failed: {rc}")
    sys.path.insert(0, gen)
    from thanos import store_pb2, store_pb2_grpc  # noqa: E402

    stub = store_pb2_grpc.StoreStub(grpc.insecure_channel(addr))
    req = store_pb2.SeriesRequest(
        min_time=-(2**63),
        max_time=2**63 - 1,
        matchers=[store_pb2.LabelMatcher(type=store_pb2.LabelMatcher.RE, name="__name__", value=".+")],
    )
    series = chunks = 0
    for frame in stub.Series(req):
        if not frame.HasField("series"):
            continue
        series += 1
        labels = {l.name: l.value for l in frame.series.labels}
        for c in frame.series.chunks:
            chunks += 1
            n = struct.unpack(">H", c.raw.data[:2])[0]
            name = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            print(name, n, c.min_time, c.max_time, c.raw.type)
    print(f"series={series} chunks={chunks}")


if __name__ == "__main__":
    main()
