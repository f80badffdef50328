"""``make bench``: sidecars per second, latency per sidecar, NFS calls per sidecar and Lambda billed
milliseconds, for the warm handler in direct mode (one SNS record per invocation), the warm handler
with SQS batches of 10, and the naive way (new mount per message, path-based stat + create +
write), all in one run against a real nfs-ganesha: on loopback, and through a proxy adding a fixed
delay each way. Every figure printed is measured in this run, the round trips included. Also the
cold start: import plus first mount, in fresh processes.

Writes the report to stdout and its Markdown table to .tmp/bench.md (``make bench-readme`` puts that
into docs/design.md).

Environment: BENCH_MESSAGES (sidecars per mode and scenario, default 600), BENCH_BLOCK (sidecars
per interleaved block, a multiple of 10), BENCH_DELAYS_MS (one-way delays, default "0.25,1"),
BENCH_COLD_RUNS (default 7), BENCH_PYTHONS (interpreters for the cold start, default this one;
`make bench` passes the Lambda Pythons found), BENCH_RTT_CALLS (default 200),
BENCH_IDLE_NOTIFICATIONS (the idle-gaps run: notifications one every 2 x its NFS_TIMEOUT_MS,
default 10), BENCH_MARKDOWN (default .tmp/bench.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from nfs_sidecar.config import Config
from nfs_sidecar.handler import Handler
from nfs_sidecar.message import from_envelope
from tests.bench.naive import write_sidecar_naive
from tests.bench.report import (
    BATCH,
    DEFAULT_ONE_WAY_MS,
    MODES,
    ColdStart,
    IdleGaps,
    ModeResult,
    Scenario,
    markdown_header,
    render_markdown,
    render_text,
)
from tests.bundled_libnfs import NATIVE_ARCH, WORK, load_bundled_libnfs
from tests.nfs_server import NfsServer

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = "-sidecar.json"
TIMEOUT_MS = 5000
SETTLE_S = 0.2  # the function's last REMOVE is not waited for: let it reach the counter
COUNTED_PASS = 50  # sidecars per mode counted on loopback (where the timings go direct)
IDLE_TIMEOUT_MS = 1500  # the idle-gaps run: one notification every 2 x this

# Runs invocations of one mode for some files: [(duration_s, records), ...] per invocation.
Runner = Callable[[list[str], int], list[tuple[float, int]]]


def envelope(filename: str, seq: int) -> dict:
    published = f"2026-11-24T12:{seq // 60000 % 60:02d}:{seq // 1000 % 60:02d}.{seq % 1000:03d}Z"
    return {
        "MessageId": f"bench-{seq}",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:bench",
        "Timestamp": published,
        "Message": json.dumps({"filename": filename, "results": {"status": "ok", "seq": seq}}),
    }


def sns_event(filename: str, seq: int) -> dict:
    return {"Records": [{"EventSource": "aws:sns", "Sns": envelope(filename, seq)}]}


def sqs_event(files: list[str], seq0: int) -> dict:
    """What the event source mapping sends: raw message delivery off, an SNS envelope per body."""
    return {
        "Records": [
            {
                "eventSource": "aws:sqs",
                "messageId": f"sqs-{seq0 + i}",
                "body": json.dumps(envelope(name, seq0 + i)),
            }
            for i, name in enumerate(files)
        ]
    }


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


class Modes:
    """One runner per mode; ``ports`` gives each mode's (NFS, MOUNT) ports. The two handlers are
    two execution environments: each mounts once and keeps its mount."""

    def __init__(self, server: NfsServer, ports: dict[str, tuple[int, int]]) -> None:
        self.handlers = [
            handler_for(server, *ports["direct"]),
            handler_for(server, *ports["batch"]),
        ]
        direct_handler, batch_handler = self.handlers
        self.run: dict[str, Runner] = {
            "direct": lambda files, seq0: direct(direct_handler, files, seq0),
            "batch": lambda files, seq0: batch(batch_handler, files, seq0),
            "naive": lambda files, seq0: naive(url_for(server, *ports["naive"]), files, seq0),
        }

    def reconnects(self) -> int:
        return sum(h.reconnects for h in self.handlers)


def handler_for(
    server: NfsServer, nfs_port: int, mount_port: int, timeout_ms: int = TIMEOUT_MS
) -> Handler:
    config = Config(
        server.host,
        server.open.path,
        nfs_port=nfs_port,
        mount_port=mount_port,
        timeout_ms=timeout_ms,
        suffix=SUFFIX,
    )
    return Handler(config)


def url_for(server: NfsServer, nfs_port: int, mount_port: int) -> str:
    return f"nfs://{server.host}{server.open.path}?nfsport={nfs_port}&mountport={mount_port}"


def direct(handler: Handler, files: list[str], seq0: int) -> list[tuple[float, int]]:
    timings = []
    for i, name in enumerate(files):
        event = sns_event(name, seq0 + i)
        with contextlib.redirect_stdout(io.StringIO()):  # its log line is part of the work
            started = time.perf_counter()
            handler(event)
            timings.append((time.perf_counter() - started, 1))
    return timings


def batch(handler: Handler, files: list[str], seq0: int) -> list[tuple[float, int]]:
    timings = []
    for start in range(0, len(files), BATCH):
        event = sqs_event(files[start : start + BATCH], seq0 + start)
        with contextlib.redirect_stdout(io.StringIO()) as log:
            started = time.perf_counter()
            result = handler(event)
            timings.append((time.perf_counter() - started, len(event["Records"])))
        if result != {"batchItemFailures": []}:
            raise RuntimeError(f"the batch failed records: {result}\n{log.getvalue()}")
    return timings


def naive(url: str, files: list[str], seq0: int) -> list[tuple[float, int]]:
    timings = []
    for i, name in enumerate(files):
        note = from_envelope(envelope(name, seq0 + i), SUFFIX)
        started = time.perf_counter()
        write_sidecar_naive(url, note, SUFFIX, TIMEOUT_MS)
        timings.append((time.perf_counter() - started, 1))
    return timings


def interleaved(
    run: dict[str, Runner], files: dict[str, list[str]], block: int
) -> dict[str, ModeResult]:
    """Every mode in turn, a block at a time: all see the same machine noise."""
    results = {mode: ModeResult() for mode in MODES}
    total = len(files["direct"])
    for start in range(0, total, block):
        for mode in MODES:
            for duration, records in run[mode](files[mode][start : start + block], start):
                results[mode].durations_s.append(duration)
                results[mode].records.append(records)
    return results


class Proxy:
    """The counting (and delaying) proxy in a process of its own, one port pair per label."""

    def __init__(self, server: NfsServer, one_way_s: float, labels: list[str]) -> None:
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.bench.rpc_counter", server.host, str(one_way_s)),
                *(",".join(labels), str(server.nfs_port), str(server.mount_port)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        mapping = json.loads(self._line())
        self.ports = {
            label: (int(p[str(server.nfs_port)]), int(p[str(server.mount_port)]))
            for label, p in mapping.items()
        }

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the proxy exited")
        return line

    def counts(self) -> dict[str, dict[str, int]]:
        """The calls each label saw since the last time, once the last unwaited ones are in."""
        time.sleep(SETTLE_S)
        assert self.proc.stdin is not None
        self.proc.stdin.write("counts\n")
        self.proc.stdin.flush()
        return json.loads(self._line())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def rtt(host: str, port: int, calls: int) -> float:
    """Median round trip of NFS NULL calls, one at a time on one connection (ms)."""
    call = struct.pack(">10I", 0, 0, 2, 100003, 3, 0, 0, 0, 0, 0)
    times = []
    with socket.create_connection((host, port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for xid in range(1, calls + 1):
            request = struct.pack(">I", 0x80000000 | len(call)) + struct.pack(">I", xid) + call[4:]
            started = time.perf_counter()
            s.sendall(request)
            reply = b""
            while len(reply) < 28:
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError("the server closed the connection during the NULL calls")
                reply += chunk
            times.append(time.perf_counter() - started)
            if struct.unpack(">I", reply[4:8])[0] != xid or len(reply) != 28:
                raise RuntimeError("unexpected NULL reply")
    return statistics.median(times) * 1000


def warm_up(modes: Modes, export: Path, name: str, proxy: Proxy | None) -> dict[str, int]:
    """A fresh handler's first invocation (counted when there is a proxy), then 20 sidecars more
    per mode, outside the measurement."""
    first = {"direct": 1, "batch": BATCH, "naive": 1}
    for mode in MODES:
        modes.run[mode](make_files(export, f"{name}-first-{mode}", first[mode]), 800_000)
    first_calls = proxy.counts()["direct"] if proxy else {}
    for mode in MODES:
        modes.run[mode](make_files(export, f"{name}-warm-{mode}", 2 * BATCH), 900_000)
    if proxy:
        proxy.counts()
    return first_calls


def with_counts(results: dict[str, ModeResult], counts: dict[str, dict[str, int]]) -> None:
    for mode, result in results.items():
        result.calls, result.calls_sidecars = counts[mode], result.sidecars


def loopback(server: NfsServer, export: Path, total: int, block: int, rtt_calls: int) -> Scenario:
    """Timed straight against the server; the calls counted in a pass through a pass-through
    proxy right after (same modes, same handlers' code, fresh handlers)."""
    direct_ports = (server.nfs_port, server.mount_port)
    modes = Modes(server, dict.fromkeys(MODES, direct_ports))
    warm_up(modes, export, "loopback", None)
    files = {mode: make_files(export, f"loopback-{mode}", total) for mode in MODES}
    results = interleaved(modes.run, files, block)
    round_trip = rtt(server.host, server.nfs_port, rtt_calls)

    proxy = Proxy(server, 0.0, list(MODES))
    try:
        counted_modes = Modes(server, proxy.ports)
        first_calls = warm_up(counted_modes, export, "counted", proxy)
        n = min(COUNTED_PASS, total)
        counted_files = {mode: make_files(export, f"counted-{mode}", n) for mode in MODES}
        counted = interleaved(counted_modes.run, counted_files, block)
        counts = proxy.counts()
        for mode in MODES:
            results[mode].calls = counts[mode]
            results[mode].calls_sidecars = counted[mode].sidecars
        # The same files again, newer: each sidecar replaces an existing one (lock, read, rename).
        counted_modes.run["direct"](counted_files["direct"], 10_000)
        replace = sum(proxy.counts()["direct"].values()) / n
        if counted_modes.reconnects():
            raise RuntimeError("a handler reconnected during the counted pass")
    finally:
        proxy.close()
    return Scenario(
        "loopback",
        0.0,
        round_trip,
        rtt_calls,
        f"counted in a pass of {n} sidecars per mode through a pass-through proxy",
        results,
        first_calls,
        replace,
    )


def delayed(
    server: NfsServer,
    export: Path,
    one_way_ms: float,
    total: int,
    block: int,
    rtt_calls: int,
) -> Scenario:
    """Timed and counted in the same run, through the delaying proxy."""
    proxy = Proxy(server, one_way_ms / 1000, [*MODES, "probe"])
    try:
        round_trip = rtt(server.host, proxy.ports["probe"][0], rtt_calls)
        modes = Modes(server, proxy.ports)
        name = f"delay{one_way_ms:g}"
        first_calls = warm_up(modes, export, name, proxy)
        files = {mode: make_files(export, f"{name}-{mode}", total) for mode in MODES}
        results = interleaved(modes.run, files, block)
        with_counts(results, proxy.counts())
        if modes.reconnects():
            raise RuntimeError("a handler reconnected during the measurement")
    finally:
        proxy.close()
    return Scenario(
        f"+{one_way_ms:g} ms",
        one_way_ms,
        round_trip,
        rtt_calls,
        "counted in the measured run",
        results,
        first_calls,
    )


def idle_gaps(server: NfsServer, export: Path, notifications: int) -> IdleGaps:
    """A warm environment through the counting proxy, one notification every 2 x NFS_TIMEOUT_MS:
    it keeps its mount across the gaps (no MOUNT call, no reconnect)."""
    gap_s = 2 * IDLE_TIMEOUT_MS / 1000
    proxy = Proxy(server, 0.0, ["idle"])
    try:
        handler = handler_for(server, *proxy.ports["idle"], timeout_ms=IDLE_TIMEOUT_MS)
        direct(handler, make_files(export, "idle-warm", 1), 950_000)  # mounts
        proxy.counts()
        durations = []
        next_at = time.monotonic()
        for i, name in enumerate(make_files(export, "idle", notifications)):
            next_at += gap_s
            time.sleep(max(0.0, next_at - time.monotonic()))  # idle: the point of this run
            ((duration, _),) = direct(handler, [name], 960_000 + i)
            durations.append(duration)
        calls = proxy.counts()["idle"]
    finally:
        proxy.close()
    return IdleGaps(IDLE_TIMEOUT_MS, gap_s, durations, calls, handler.reconnects)


COLD_START = """
import json, sys, time
t0 = time.perf_counter()
import nfs_sidecar.handler
from nfs_sidecar.nfs.libnfs import load_libnfs
from nfs_sidecar.nfs.client import NfsClient
t1 = time.perf_counter()
load_libnfs()  # the package's own lib/, as in Lambda
t2 = time.perf_counter()
client = NfsClient(sys.argv[1], sys.argv[2], nfs_port=int(sys.argv[3]),
                   mount_port=int(sys.argv[4]), timeout_ms=5000)
t3 = time.perf_counter()
client.close()
print(json.dumps([(t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000]))
"""


def cold_start(
    server: NfsServer, zip_path: Path, work: Path, runs: int, pythons: list[str]
) -> list[ColdStart]:
    """The zip's contents in a fresh interpreter each time, as Lambda runs them: the package
    imported (from the zip's .pyc files; nothing is written, as /var/task is read-only), libnfs
    loaded, one mount. Then the import once more without the .pyc files (compiled each time), to
    show what they save."""
    task = work / "task"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(task)
    source_only = work / "task-source-only"
    shutil.copytree(task, source_only, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    argv = [server.host, server.open.path, str(server.nfs_port), str(server.mount_port)]
    results = []
    for python in pythons:
        version = subprocess.run(
            [python, "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        results.append(cold_runs(python, version, task, source_only, argv, env, runs))
    return results


def cold_runs(
    python: str, version: str, task: Path, source_only: Path, argv: list[str], env: dict, runs: int
) -> ColdStart:
    result = ColdStart(version, [], [], [], [])
    for _ in range(runs):
        for folder, imports in ((task, result.import_ms), (source_only, result.import_source_ms)):
            out = subprocess.run(
                [python, "-c", COLD_START, *argv],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
            imported, loaded, mounted = json.loads(out)
            imports.append(imported)
            if folder == task:
                result.load_ms.append(loaded)
                result.mount_ms.append(mounted)
    return result


def built_zip() -> Path:
    """The zip load_bundled_libnfs() built from this checkout (for this machine's architecture)."""
    (path,) = (WORK / "dist").glob(f"nfs-sidecar-*-{NATIVE_ARCH}.zip")
    return path


def main() -> int:
    total = int(os.environ.get("BENCH_MESSAGES", "600"))
    block = int(os.environ.get("BENCH_BLOCK", "50"))
    default_delays = ",".join(f"{d:g}" for d in DEFAULT_ONE_WAY_MS)
    delays = [float(d) for d in os.environ.get("BENCH_DELAYS_MS", default_delays).split(",") if d]
    runs = int(os.environ.get("BENCH_COLD_RUNS", "7"))
    pythons = os.environ.get("BENCH_PYTHONS", "").split() or [sys.executable]
    rtt_calls = int(os.environ.get("BENCH_RTT_CALLS", "200"))
    idle_notifications = int(os.environ.get("BENCH_IDLE_NOTIFICATIONS", "10"))
    if block % BATCH or total % block:
        raise SystemExit(f"BENCH_BLOCK must be a multiple of {BATCH} dividing BENCH_MESSAGES")
    started = time.monotonic()
    library = load_bundled_libnfs()  # every mode runs on the zip's own libnfs
    with (
        tempfile.TemporaryDirectory(prefix="nfs-sidecar-bench-") as tmp,
        NfsServer(Path(tmp)) as server,
    ):
        export = server.open.local
        cold = cold_start(server, built_zip(), Path(tmp) / "cold-start", runs, pythons)
        scenarios = [loopback(server, export, total, block, rtt_calls)]
        for one_way_ms in delays:
            scenarios.append(delayed(server, export, one_way_ms, total, block, rtt_calls))
        idle = idle_gaps(server, export, idle_notifications)

    sha = hashlib.sha256(library.read_bytes()).hexdigest()[:12]
    python = sys.version.split()[0]
    print(
        render_text(
            f"nfs-sidecar benchmark: {total} sidecars per mode and scenario, nfs-ganesha on this "
            f"machine, files two folders deep, Python {python}, the zip's libnfs ({library.name}, "
            f"sha256 {sha})",
            scenarios,
            cold,
            idle,
        )
    )
    markdown = render_markdown(markdown_header(total, python), scenarios, cold, idle)
    out = Path(os.environ.get("BENCH_MARKDOWN", ROOT / ".tmp" / "bench.md"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown)
    took = time.monotonic() - started
    print(
        f"Markdown report written to {out} (make bench-readme: into docs/design.md); "
        f"took {took:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
