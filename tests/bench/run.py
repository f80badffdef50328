"""``make bench``: sidecars per second and latency per message, this function (warm) against the
naive way (new mount per message, path-based stat + create + write), in one run, on a loopback
nfs-ganesha. Also counts the NFS/MOUNT RPCs each spends per message through a counting proxy.

Environment: BENCH_MESSAGES (per side, default 600), BENCH_BLOCK (messages per interleaved block).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from nfs_sidecar.config import Config
from nfs_sidecar.handler import Handler
from nfs_sidecar.message import from_envelope
from tests.bench.naive import write_sidecar_naive
from tests.bench.rpc_counter import RpcCounter
from tests.bundled_libnfs import load_bundled_libnfs
from tests.nfs_server import NfsServer, rpc_null_ok

SUFFIX = "-sidecar.json"
# One-way delay of the "network" scenario: about 0.5 ms round trip, as between a Lambda and a
# storage cluster in the same AWS region (loopback alone has almost no latency).
NETWORK_ONE_WAY_S = 0.00025
TIMEOUT_MS = 5000


def sns_event(filename: str, seq: int) -> dict:
    published = f"2026-11-24T12:{seq // 60000 % 60:02d}:{seq // 1000 % 60:02d}.{seq % 1000:03d}Z"
    envelope = {
        "MessageId": f"bench-{seq}",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:bench",
        "Timestamp": published,
        "Message": json.dumps({"filename": filename, "results": {"status": "ok", "seq": seq}}),
    }
    return {"Records": [{"EventSource": "aws:sns", "Sns": envelope}]}


def make_files(export: Path, prefix: str, count: int) -> list[str]:
    """Files two folders deep, 50 per folder."""
    names = []
    for i in range(count):
        name = f"{prefix}/batch-{i // 50:03d}/file-{i:05d}.dat"
        path = export / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1024)
        names.append(name)
    return names


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_side(send: Callable[[str, int], None], files: list[str], seq0: int) -> list[float]:
    latencies = []
    for i, name in enumerate(files):
        started = time.perf_counter()
        send(name, seq0 + i)
        latencies.append(time.perf_counter() - started)
    return latencies


def sides(
    server: NfsServer, nfs_port: int, mount_port: int
) -> dict[str, Callable[[str, int], None]]:
    config = Config(
        server.host,
        server.open.path,
        nfs_port=nfs_port,
        mount_port=mount_port,
        timeout_ms=TIMEOUT_MS,
        suffix=SUFFIX,
    )
    handler = Handler(config)
    url = f"nfs://{server.host}{server.open.path}?nfsport={nfs_port}&mountport={mount_port}"

    def function(name: str, seq: int) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # its log line is part of the work
            handler(sns_event(name, seq))

    def naive(name: str, seq: int) -> None:
        note = from_envelope(sns_event(name, seq)["Records"][0]["Sns"], SUFFIX)
        write_sidecar_naive(url, note, SUFFIX, TIMEOUT_MS)

    return {"function": function, "naive": naive}


def count_rpcs(server: NfsServer, export: Path) -> dict[str, tuple[float, dict[str, float]]]:
    counter = RpcCounter(server.host, [server.nfs_port, server.mount_port])
    try:
        runners = sides(server, counter.ports[server.nfs_port], counter.ports[server.mount_port])
        result = {}
        n = 20
        for label, send in runners.items():
            files = make_files(export, f"count-{label}", n + 1)
            send(files[-1], 0)  # warm: the function mounts once per environment
            counter.reset()
            run_side(send, files[:n], 1)
            result[label] = counter.reset()
        # The function again, replacing existing sidecars (adds the READ of the current one).
        files = make_files(export, "count-function", n + 1)
        counter.reset()
        run_side(runners["function"], files[:n], 10_000)
        result["function (replace)"] = counter.reset()
        return {
            label: (sum(c.values()) / n, {k: v / n for k, v in sorted(c.items())})
            for label, c in result.items()
        }
    finally:
        counter.close()


def measure(
    server: NfsServer,
    export: Path,
    nfs_port: int,
    mount_port: int,
    total: int,
    block: int,
    scenario: str,
) -> dict[str, list[float]]:
    runners = sides(server, nfs_port, mount_port)
    files = {label: make_files(export, f"{scenario}-{label}", total) for label in runners}
    for label, send in runners.items():  # warm-up outside the measurement
        run_side(send, make_files(export, f"{scenario}-warm-{label}", 20), 900_000)
    latencies: dict[str, list[float]] = {label: [] for label in runners}
    for start in range(0, total, block):  # interleaved: both see the same machine noise
        for label, send in runners.items():
            latencies[label] += run_side(send, files[label][start : start + block], start)
    return latencies


def null_rtt_ms(host: str, port: int, n: int = 50) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        rpc_null_ok(host, port)  # includes the TCP connect: a lower bound of two round trips
        times.append(time.perf_counter() - started)
    return percentile(times, 0.5) * 1000 / 2


def delaying_proxy(server: NfsServer) -> tuple[subprocess.Popen[str], dict[int, int]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.bench.rpc_counter",
            server.host,
            str(NETWORK_ONE_WAY_S),
            str(server.nfs_port),
            str(server.mount_port),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ports = {int(k): v for k, v in json.loads(proc.stdout.readline()).items()}
    return proc, ports


def report(title: str, latencies: dict[str, list[float]], rpcs: dict) -> None:
    print(f"\n{title}")
    print(f"  {'':20} {'sidecars/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'RPCs/msg':>9}")
    stats = {}
    for label, values in latencies.items():
        rate = len(values) / sum(values)
        p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
        stats[label] = (rate, p50, p99)
        print(f"  {label:20} {rate:10.0f} {p50:8.2f} {p99:8.2f} {rpcs[label][0]:9.1f}")
    (f_rate, _f50, f_p99), (n_rate, n_p50, _n99) = stats["function"], stats["naive"]
    print(
        f"  throughput function/naive: {f_rate / n_rate:.2f}x;  "
        f"function p99 / naive p50: {f_p99 / n_p50:.2f}"
    )


def main() -> int:
    total = int(os.environ.get("BENCH_MESSAGES", "600"))
    block = int(os.environ.get("BENCH_BLOCK", "50"))
    library = load_bundled_libnfs()  # both sides run on the zip's own libnfs
    with (
        tempfile.TemporaryDirectory(prefix="nfs-sidecar-bench-") as tmp,
        NfsServer(Path(tmp)) as server,
    ):
        export = server.open.local
        rpcs = count_rpcs(server, export)
        loopback = measure(
            server, export, server.nfs_port, server.mount_port, total, block, "loopback"
        )
        proxy, ports = delaying_proxy(server)
        try:
            rtt = null_rtt_ms(server.host, ports[server.nfs_port])
            network = measure(
                server,
                export,
                ports[server.nfs_port],
                ports[server.mount_port],
                total,
                block,
                "network",
            )
        finally:
            proxy.kill()
            proxy.wait()

    print(
        f"\nnfs-sidecar benchmark: {total} messages per side, nfs-ganesha on this machine, "
        f"files two folders deep, Python {sys.version.split()[0]}, the zip's libnfs "
        f"({library.name}, sha256 {hashlib.sha256(library.read_bytes()).hexdigest()[:12]})"
    )
    print(
        "function = warm handler (one mount, cached folder handles, pipelined RPCs, atomic "
        "write, ordering check)\nnaive    = new mount per message, path-based stat, plain "
        "create + write"
    )
    report("loopback (no network latency):", loopback, rpcs)
    report(
        f"through a proxy adding {NETWORK_ONE_WAY_S * 1e3:.2f} ms each way "
        f"(measured round trip {rtt:.2f} ms), like a same-region network:",
        network,
        rpcs,
    )
    replace = rpcs["function (replace)"][0]
    print(
        f"\nfunction replacing an existing sidecar (lock + read + rename): {replace:.1f} RPCs/msg"
    )
    print("RPCs per message by procedure:")
    for label, (_total, by_proc) in rpcs.items():
        print(f"  {label:20} " + ", ".join(f"{k} {v:g}" for k, v in by_proc.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
