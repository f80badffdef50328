"""``make bench``: for the whole workload of the function - new sidecars and replacements of
existing ones, one SNS record per invocation and SQS batches of 10, batches mixing the two, and a
warm environment after idle gaps - and for the naive way (new mount per message, path-based stat +
create + write): sidecars per second, latency per sidecar, NFS calls per sidecar (counted by a
proxy), round trips per sidecar (the waits the handler's engine counts) and Lambda billed
milliseconds, all in one run against a real nfs-ganesha: on loopback, and through a proxy adding
a fixed delay each way. Then where the time goes per sidecar: waiting on the network, of which the
server (the proxy's view), the function's own CPU and its parts (render, NFS calls with their
marshalling, logging, the rest). Every figure printed is measured in this run, the round trips
included. Also the cold start: import plus first mount, in fresh processes.

The handler runs under a Lambda Python, as in production: the Terraform module's default runtime
(BENCH_RUNTIME overrides it: 3.12 or 3.13), found by build/pythons.py; run by another Python, the
bench runs itself again under that one.

Writes the report to stdout and its Markdown tables to .tmp/bench.md (``make bench-readme`` puts
them into docs/design.md).

Environment: BENCH_MESSAGES (sidecars per workload and scenario, default 600), BENCH_BLOCK
(sidecars per interleaved block, a multiple of 10), BENCH_DELAYS_MS (one-way delays, default
"0.25,1"), BENCH_COLD_RUNS (default 7), BENCH_PYTHONS (interpreters for the cold start, default
this one; `make bench` passes the Lambda Pythons found), BENCH_RTT_CALLS (default 200),
BENCH_IDLE_NOTIFICATIONS (the idle-gaps row: notifications one every 2 x its NFS_TIMEOUT_MS,
default 10), BENCH_RUNTIME, BENCH_MARKDOWN (default .tmp/bench.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
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
from tests.bench.cpu_parts import CpuParts
from tests.bench.naive import write_sidecar_naive
from tests.bench.report import (
    BATCH,
    DEFAULT_ONE_WAY_MS,
    IDLE,
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
COUNTED_PASS = 50  # sidecars per workload counted (and profiled) on loopback
IDLE_TIMEOUT_MS = 1500  # the idle-gaps run: one notification every 2 x this
HANDLER_MODES = [mode for mode in MODES if mode != "naive"]  # each a warm handler of its own
REPLACING = {"replace": 1, "replace-batch": 1, "mixed": 2}  # every n-th file has a sidecar
WRITTEN = '"outcome": "written"'  # in the log line of each sidecar written

# One invocation: its duration, its records, the process CPU time it took.
Timing = tuple[float, int, float]
# Runs invocations of one workload for some files, numbered from a sequence number.
Runner = Callable[[list[str], int], list[Timing]]


def envelope(filename: str, seq: int, day: int = 24) -> dict:
    """A notification published on that day of November (the replacements' sidecars exist from
    an earlier day): later sequence numbers, later times."""
    published = (
        f"2026-11-{day:02d}T12:{seq // 60000 % 60:02d}:{seq // 1000 % 60:02d}.{seq % 1000:03d}Z"
    )
    return {
        "MessageId": f"bench-{day}-{seq}",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:bench",
        "Timestamp": published,
        "Message": json.dumps({"filename": filename, "results": {"status": "ok", "seq": seq}}),
    }


def sns_event(filename: str, seq: int) -> dict:
    return {"Records": [{"EventSource": "aws:sns", "Sns": envelope(filename, seq)}]}


def sqs_event(files: list[str], seq0: int, day: int = 24) -> dict:
    """What the event source mapping sends: raw message delivery off, an SNS envelope per body."""
    return {
        "Records": [
            {
                "eventSource": "aws:sqs",
                "messageId": f"sqs-{day}-{seq0 + i}",
                "body": json.dumps(envelope(name, seq0 + i, day)),
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


def workload_files(
    server: NfsServer, export: Path, prefix: str, count: int
) -> dict[str, list[str]]:
    """Each workload's files; those a replacing workload replaces get a sidecar first (an older
    one, written by a handler of its own, straight to the server: nothing of it counted)."""
    files = {mode: make_files(export, f"{prefix}-{mode}", count) for mode in MODES}
    setup = handler_for(server, server.nfs_port, server.mount_port)
    for mode, every in REPLACING.items():
        existing = files[mode][::every]
        batch(setup, existing, 0, day=23)
    setup.disconnect()
    return files


class Modes:
    """One runner per workload; ``ports`` gives each workload's (NFS, MOUNT) ports. The handlers
    are execution environments: each mounts once and keeps its mount."""

    def __init__(self, server: NfsServer, ports: dict[str, tuple[int, int]]) -> None:
        self.handlers = {mode: handler_for(server, *ports[mode]) for mode in HANDLER_MODES}
        h = self.handlers
        self.run: dict[str, Runner] = {
            "direct": lambda files, seq0: direct(h["direct"], files, seq0),
            "batch": lambda files, seq0: batch(h["batch"], files, seq0),
            "replace": lambda files, seq0: direct(h["replace"], files, seq0),
            "replace-batch": lambda files, seq0: batch(h["replace-batch"], files, seq0),
            "mixed": lambda files, seq0: batch(h["mixed"], files, seq0),
            "naive": lambda files, seq0: naive(url_for(server, *ports["naive"]), files, seq0),
        }

    def reconnects(self) -> int:
        return sum(h.reconnects for h in self.handlers.values())

    def engine_counts(self) -> dict[str, tuple[int, float]]:
        """Each handler's round trips and time blocked on the network, so far."""
        return {mode: (h.round_trips, h.waited_s) for mode, h in self.handlers.items()}


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


def direct(handler: Handler, files: list[str], seq0: int) -> list[Timing]:
    timings = []
    for i, name in enumerate(files):
        event = sns_event(name, seq0 + i)
        with contextlib.redirect_stdout(io.StringIO()) as log:  # its log line is part of the work
            cpu, started = time.process_time(), time.perf_counter()
            handler(event)
            timings.append((time.perf_counter() - started, 1, time.process_time() - cpu))
        if log.getvalue().count(WRITTEN) != 1:
            raise RuntimeError(f"the sidecar was not written:\n{log.getvalue()}")
    return timings


def batch(handler: Handler, files: list[str], seq0: int, day: int = 24) -> list[Timing]:
    timings = []
    for start in range(0, len(files), BATCH):
        event = sqs_event(files[start : start + BATCH], seq0 + start, day)
        records = len(event["Records"])
        with contextlib.redirect_stdout(io.StringIO()) as log:
            cpu, started = time.process_time(), time.perf_counter()
            result = handler(event)
            timings.append((time.perf_counter() - started, records, time.process_time() - cpu))
        if result != {"batchItemFailures": []} or log.getvalue().count(WRITTEN) != records:
            raise RuntimeError(f"the batch did not write every sidecar: {result}\n{log.getvalue()}")
    return timings


def naive(url: str, files: list[str], seq0: int) -> list[Timing]:
    timings = []
    for i, name in enumerate(files):
        note = from_envelope(envelope(name, seq0 + i), SUFFIX)
        cpu, started = time.process_time(), time.perf_counter()
        write_sidecar_naive(url, note, SUFFIX, TIMEOUT_MS)
        timings.append((time.perf_counter() - started, 1, time.process_time() - cpu))
    return timings


def interleaved(modes: Modes, files: dict[str, list[str]], block: int) -> dict[str, ModeResult]:
    """Every workload in turn, a block at a time: all see the same machine noise. With the round
    trips and network wait each handler's engine counted meanwhile."""
    results = {mode: ModeResult() for mode in MODES}
    before = modes.engine_counts()
    for start in range(0, len(files["direct"]), block):
        for mode in MODES:
            for duration, records, cpu in modes.run[mode](
                files[mode][start : start + block], start
            ):
                results[mode].durations_s.append(duration)
                results[mode].records.append(records)
                results[mode].cpu_s += cpu
    for mode, (round_trips, waited_s) in modes.engine_counts().items():
        results[mode].round_trips = round_trips - before[mode][0]
        results[mode].waited_s = waited_s - before[mode][1]
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

    def counts(self) -> dict[str, dict]:
        """Each label's calls and time at the server since the last time ({"calls": {call:
        count}, "server_s": seconds}), once the last unwaited calls are in."""
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
    """A fresh handler's first invocation (counted when there is a proxy), then 20 new sidecars
    more per workload, outside the measurement."""
    for mode in MODES:
        first = BATCH if "batch" in mode or mode == "mixed" else 1
        modes.run[mode](make_files(export, f"{name}-first-{mode}", first), 800_000)
    first_calls = proxy.counts()["direct"]["calls"] if proxy else {}
    for mode in MODES:
        modes.run[mode](make_files(export, f"{name}-warm-{mode}", 2 * BATCH), 900_000)
    if proxy:
        proxy.counts()
    return first_calls


def with_counts(results: dict[str, ModeResult], counts: dict[str, dict], sidecars: dict) -> None:
    for mode, result in results.items():
        result.calls, result.server_s = counts[mode]["calls"], counts[mode]["server_s"]
        result.calls_sidecars = sidecars[mode]


def loopback(server: NfsServer, export: Path, total: int, block: int, rtt_calls: int) -> Scenario:
    """Timed straight against the server; then a profiled pass (the function's CPU by part), and
    the calls and the server's time counted in a pass through a pass-through proxy (the same
    workloads and code, fresh handlers)."""
    direct_ports = (server.nfs_port, server.mount_port)
    modes = Modes(server, dict.fromkeys(MODES, direct_ports))
    warm_up(modes, export, "loopback", None)
    results = interleaved(modes, workload_files(server, export, "loopback", total), block)
    round_trip = rtt(server.host, server.nfs_port, rtt_calls)
    n = min(COUNTED_PASS, total)
    block = min(block, n)

    with CpuParts().installed() as parts:
        profiled = Modes(server, dict.fromkeys(MODES, direct_ports))
        warm_up(profiled, export, "profiled", None)
        files = workload_files(server, export, "profiled", n)
        parts.take()
        for mode in HANDLER_MODES:
            for start in range(0, n, block):
                profiled.run[mode](files[mode][start : start + block], start)
            results[mode].cpu_parts = parts.take()

    proxy = Proxy(server, 0.0, list(MODES))
    try:
        counted = Modes(server, proxy.ports)
        first_calls = warm_up(counted, export, "counted", proxy)
        files = workload_files(server, export, "counted", n)
        proxy.counts()
        passed = interleaved(counted, files, block)
        with_counts(results, proxy.counts(), {m: r.sidecars for m, r in passed.items()})
        if counted.reconnects():
            raise RuntimeError("a handler reconnected during the counted pass")
    finally:
        proxy.close()
    return Scenario(
        "loopback",
        0.0,
        round_trip,
        rtt_calls,
        f"counted in a pass of {n} sidecars per workload through a pass-through proxy",
        results,
        first_calls,
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
        files = workload_files(server, export, name, total)
        proxy.counts()
        results = interleaved(modes, files, block)
        with_counts(results, proxy.counts(), {m: r.sidecars for m, r in results.items()})
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


def idle_gaps(
    server: NfsServer, export: Path, scenarios: list[Scenario], notifications: int
) -> None:
    """A warm environment per scenario, through a counting proxy with the scenario's delay, one
    notification every 2 x NFS_TIMEOUT_MS: it keeps its mount across the gaps (no MOUNT call,
    no reconnect), and its first call after 2 s idle takes a NULL call along. The environments
    take turns, so the run lasts one set of gaps, whatever the number of scenarios."""
    gap_s = 2 * IDLE_TIMEOUT_MS / 1000
    proxies = [Proxy(server, s.one_way_ms / 1000, [IDLE]) for s in scenarios]
    try:
        handlers = [
            handler_for(server, *proxy.ports[IDLE], timeout_ms=IDLE_TIMEOUT_MS) for proxy in proxies
        ]
        for i, handler in enumerate(handlers):
            direct(handler, make_files(export, f"idle-warm-{i}", 1), 950_000)  # mounts
        for proxy in proxies:
            proxy.counts()
        results = [ModeResult() for _ in scenarios]
        before = [(h.round_trips, h.waited_s) for h in handlers]
        files = [make_files(export, f"idle-{i}", notifications) for i in range(len(scenarios))]
        next_at = time.monotonic()
        for n in range(notifications):
            next_at += gap_s
            time.sleep(max(0.0, next_at - time.monotonic()))  # idle: the point of this run
            for handler, result, names in zip(handlers, results, files, strict=True):
                ((duration, records, cpu),) = direct(handler, [names[n]], 960_000 + n)
                result.durations_s.append(duration)
                result.records.append(records)
                result.cpu_s += cpu
        for proxy, handler, result, (trips, waited) in zip(
            proxies, handlers, results, before, strict=True
        ):
            counts = proxy.counts()[IDLE]
            result.calls, result.server_s = counts["calls"], counts["server_s"]
            result.calls_sidecars = result.sidecars
            result.round_trips = handler.round_trips - trips
            result.waited_s = handler.waited_s - waited
    finally:
        for proxy in proxies:
            proxy.close()
    for scenario, result, handler in zip(scenarios, results, handlers, strict=True):
        scenario.modes[IDLE] = result
        scenario.idle = IdleGaps(IDLE_TIMEOUT_MS, gap_s, handler.reconnects)


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


def production_runtime() -> str:
    """The Lambda Python the bench runs the handler under: BENCH_RUNTIME, else the Terraform
    module's default runtime ("3.12")."""
    if runtime := os.environ.get("BENCH_RUNTIME"):
        return runtime
    variables = (ROOT / "terraform" / "variables.tf").read_text()
    found = re.search(r'variable "runtime" \{[^}]*?default\s*=\s*"python(3\.\d+)"', variables)
    if found is None:
        raise SystemExit("terraform/variables.tf: no default runtime found")
    return found[1]


def run_under_lambda_python() -> str:
    """This process's Python if it is the runtime's version; otherwise the bench starts again
    under the runtime's interpreter (build/pythons.py finds it) -> where it came from."""
    runtime = production_runtime()
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == runtime:
        return os.environ.get("BENCH_PYTHON_FROM", "this interpreter")
    sys.path.insert(0, str(ROOT / "build"))
    import pythons  # build/pythons.py

    found = pythons.discover((runtime,))
    if runtime not in found:
        raise SystemExit(
            f"the bench runs the handler under Python {runtime} (the Lambda runtime): none found "
            f"({pythons.how_to_install(runtime)})"
        )
    python, where = found[runtime]
    sys.stdout.flush()
    env = {**os.environ, "BENCH_PYTHON_FROM": f"{python}, from {where}"}
    os.execve(python, [python, "-m", "tests.bench.run"], env)
    raise AssertionError("unreachable")


def main() -> int:
    source = run_under_lambda_python()
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
    library = load_bundled_libnfs()  # every workload runs on the zip's own libnfs
    with (
        tempfile.TemporaryDirectory(prefix="nfs-sidecar-bench-") as tmp,
        NfsServer(Path(tmp)) as server,
    ):
        export = server.open.local
        cold = cold_start(server, built_zip(), Path(tmp) / "cold-start", runs, pythons)
        scenarios = [loopback(server, export, total, block, rtt_calls)]
        for one_way_ms in delays:
            scenarios.append(delayed(server, export, one_way_ms, total, block, rtt_calls))
        idle_gaps(server, export, scenarios, idle_notifications)

    sha = hashlib.sha256(library.read_bytes()).hexdigest()[:12]
    python = sys.version.split()[0]
    print(
        render_text(
            f"nfs-sidecar benchmark: {total} sidecars per workload and scenario, nfs-ganesha on "
            f"this machine, files two folders deep, the handler run by Python {python} (the "
            f"Lambda runtime python{production_runtime()}: {source}), the zip's libnfs "
            f"({library.name}, sha256 {sha})",
            scenarios,
            cold,
        )
    )
    markdown = render_markdown(markdown_header(total, python), scenarios, cold)
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
