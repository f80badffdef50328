"""Shared helpers of the function tests (standard library only: they also run under the other
Lambda Python versions with nothing but pytest installed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nfs_sidecar.config import Config
from nfs_sidecar.handler import Handler
from tests.bundled_libnfs import bundled_library
from tests.nfs_server import Export, NfsServer

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "function"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:processing-complete"


# The NFS calls of the write protocol's two paths, by round trip, in the order they are sent, as
# procedure#occurrence (the folder's handle already cached, one level below the export's root):
# what the fault matrix and the crash tests go through.
PROTOCOL_ROUND_TRIPS = {
    "new": [
        # the file, the temp file, the sidecar (not there), the cached folder (checked)
        ["LOOKUP#1", "CREATE#1", "LOOKUP#2", "LOOKUP#3"],
        ["WRITE#1"],
        ["LINK#1"],
        ["REMOVE#1"],  # the temp name, not waited for
    ],
    "replace": [
        ["LOOKUP#1", "CREATE#1", "LOOKUP#2", "LOOKUP#3"],  # the sidecar is there
        ["WRITE#1", "CREATE#2", "READ#1"],  # the lock taken, the sidecar read ahead
        ["LOOKUP#4"],  # the sidecar under the lock: still the file read
        ["RENAME#1"],
        ["REMOVE#1"],  # the lock, not waited for
    ],
}
PROTOCOL_CALLS = {
    path: [call for trip in trips for call in trip] for path, trips in PROTOCOL_ROUND_TRIPS.items()
}


def envelope(
    filename: Any,
    message_id: str = "m-1",
    published: str = "2026-11-24T10:00:00.000Z",
    results: Any = None,
    message: str | None = None,
) -> dict[str, Any]:
    body = {"filename": filename, "results": {"status": "ok"} if results is None else results}
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC,
        "Timestamp": published,
        "Message": json.dumps(body) if message is None else message,
    }


def sns_event(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"Records": [{"EventSource": "aws:sns", "Sns": envelope(*args, **kwargs)}]}


def sqs_event(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:sqs",
                "messageId": f"sqs-{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
            }
            for i, body in enumerate(bodies)
        ]
    }


def config_for(server: NfsServer, export: Export | None = None, **overrides: Any) -> Config:
    export = export or server.open
    values: dict[str, Any] = {
        "server": server.host,
        "export": export.path,
        "nfs_port": server.nfs_port,
        "mount_port": server.mount_port,
        "timeout_ms": 3000,
    }
    values.update(overrides)
    return Config(**values)


def handler_for(server: NfsServer, export: Export | None = None, **overrides: Any) -> Handler:
    return Handler(config_for(server, export, **overrides))


def env_for(config: Config) -> dict[str, str]:
    env = {
        "NFS_SERVER": config.server,
        "NFS_EXPORT": config.export,
        "NFS_TIMEOUT_MS": str(config.timeout_ms),
    }
    if config.nfs_port:
        env["NFS_PORT"] = str(config.nfs_port)
    if config.mount_port:
        env["NFS_MOUNT_PORT"] = str(config.mount_port)
    return env


def leftovers(folder: Path, settle_s: float = 2.0) -> list[str]:
    """Temp and lock files left in a folder tree.

    Once a sidecar is published the writer sends the removal of its temp name without waiting
    for the reply, so the name can outlive the handler's return by a moment: allow ``settle_s``.
    """
    deadline = time.monotonic() + settle_s
    while True:
        found = sorted(
            str(p.relative_to(folder))
            for p in folder.rglob(".*")
            if p.name.endswith((".tmp", ".lock"))
        )
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


# Runs the handler in a child process that drops to uid/gid 65534 (nobody) before it mounts, so
# libnfs binds a non-privileged source port, like a Lambda. Everything is imported while still
# root, because the interpreter's own files may not be readable by nobody.
UNPRIVILEGED = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
import lambda_function
from nfs_sidecar.nfs import libnfs
libnfs.load_libnfs(sys.argv[3])
os.setgroups([]); os.setgid(65534); os.setuid(65534)
try:
    result = lambda_function.lambda_handler(json.loads(sys.argv[2]), None)
    print(json.dumps({"ok": True, "result": result}))
except Exception as exc:
    print(json.dumps({"ok": False, "error_type": type(exc).__name__, "error": str(exc)}))
"""


def run_unprivileged(config: Config, event: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            UNPRIVILEGED,
            str(FUNCTION_DIR),
            json.dumps(event),
            str(bundled_library()),
        ],
        env={**env_for(config), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


class FakeContext:
    """Lambda's context, as far as the handler uses it: the time left before the timeout."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.ends - time.monotonic()) * 1000))


def slack(seconds: float) -> float:
    """A bound for a wall-clock wait on a loaded 2-core machine: the expected time, plus half of
    it, plus a second; loose enough for scheduling noise, tight enough to catch a hang."""
    return seconds * 1.5 + 1.0


def race_writers(
    folder: Path, handlers: list[Handler], per_writer: int, file: str = "hot.bin", batch: int = 1
) -> int:
    """Writers (each with its own mount) race on one sidecar, notifications in shuffled order
    (``batch`` > 1: in SQS batches of that many, all for the one file), while a reader polls the
    sidecar: every read must be complete JSON, never older than a read
    before it, and once there it never disappears. The newest wins and nothing is left behind.
    Returns the number of reads."""
    (folder / file).write_bytes(b"hot")
    sidecar = folder / (file.rsplit(".", 1)[0] + "-sidecar.json")
    writers, total = len(handlers), len(handlers) * per_writer
    assert writers % 7, "the shuffle below needs a writer count prime to 7"
    errors: list[BaseException] = []
    problems: list[str] = []
    reads = 0
    start = threading.Barrier(writers + 1)
    writing = threading.Event()
    writing.set()

    def write(w: int) -> None:
        start.wait()
        bodies = []
        for i in range(per_writer):
            seq = (i * writers + w * 7) % total  # a permutation of 0..total-1, interleaved
            published = f"2026-11-24T10:00:{seq // 1000:02d}.{seq % 1000:03d}Z"
            bodies.append(envelope(f"{folder.name}/{file}", f"m-{seq:03d}", published, seq))
        for i in range(0, per_writer, batch):
            if batch == 1:
                event: dict[str, Any] = {"Records": [{"EventSource": "aws:sns", "Sns": bodies[i]}]}
            else:
                event = sqs_event(*bodies[i : i + batch])
            try:
                result = handlers[w](event, FakeContext(60))
                if batch > 1 and result != {"batchItemFailures": []}:
                    errors.append(AssertionError(f"records failed: {result}"))
            except BaseException as exc:
                errors.append(exc)

    def read() -> None:
        nonlocal reads
        newest = -1
        start.wait()
        while writing.is_set():
            try:
                raw = sidecar.read_bytes()
            except FileNotFoundError:
                if newest >= 0:
                    problems.append("the sidecar disappeared")
                continue
            reads += 1
            try:
                seq = json.loads(raw)["results"]
            except (ValueError, KeyError) as exc:
                problems.append(f"partial or damaged sidecar ({exc!r}): {raw[:80]!r}")
                continue
            if seq < newest:
                problems.append(f"went back from {newest} to {seq}")
            newest = max(newest, seq)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    reader = threading.Thread(target=read)
    for t in [*threads, reader]:
        t.start()
    for t in threads:
        t.join(timeout=300)
    writing.clear()
    reader.join(timeout=30)
    for h in handlers:
        h.disconnect()
    assert not any(t.is_alive() for t in [*threads, reader]), "a writer or the reader hangs"
    assert errors == []
    assert problems == []
    assert reads > 0
    assert json.loads(sidecar.read_text())["results"] == total - 1
    assert leftovers(folder) == []
    return reads


def settle_removals(handler: Handler) -> None:
    """Waits for the replies to the removals the last write sent without waiting (the temp
    name, the lock): what follows (a count, an armed fault) then meets only its own calls."""
    writer = handler._writer
    if writer is not None and (in_flight := writer.in_flight()):
        writer.client.wait(*in_flight)


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Polls ``condition`` until it holds; fails after a generous deadline (loaded machines)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)
