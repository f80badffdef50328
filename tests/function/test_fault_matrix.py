"""Every NFS call of the write protocol, failing in every way: {call} x {fault}.

The fault proxy (tests/fault_proxy.py) stands between a warm handler and nfs-ganesha and hits one
occurrence of one procedure per cell. For each cell: the outcome is the one expected (written,
retried then written, or failed with a named reason), the sidecar is complete or absent (never
partial), a previous sidecar is intact when its replacement fails, no temp or lock file is left
where cleanup was possible, and the next invocation succeeds. The table of outcomes is printed and
written to .tmp/fault-matrix.md.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfs_sidecar.nfs.errors import NfsStatusError
from nfs_sidecar.nfs.xdr import IO, JUKEBOX, NOSPC
from tests.fault_proxy import Fault, FaultProxy
from tests.function.helpers import PROTOCOL_CALLS, FakeContext, handler_for, leftovers, sns_event
from tests.nfs_server import NfsServer

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 500
# The lock_stale_seconds of the cell whose lock is left to the stale rule: above the invocation's
# 4 s budget (no writer outlives it), short enough to wait for (ctimes cannot be set back).
STALE_S = 5
PATHS = PROTOCOL_CALLS
WHAT = {
    ("new", "LOOKUP#2"): "LOOKUP sidecar",
    ("new", "LOOKUP#3"): "LOOKUP folder",
    ("new", "REMOVE#1"): "REMOVE tmp",
    ("replace", "LOOKUP#2"): "LOOKUP sidecar",
    ("replace", "LOOKUP#3"): "LOOKUP folder",
    ("replace", "CREATE#2"): "CREATE lock",
    ("replace", "READ#1"): "READ ahead",
    ("replace", "LOOKUP#4"): "LOOKUP sidecar",
    ("replace", "REMOVE#1"): "REMOVE lock",
}
FAULTS = {
    "JUKEBOX": {"action": "status", "status": JUKEBOX},
    "NOSPC": {"action": "status", "status": NOSPC},
    "IO": {"action": "status", "status": IO},
    "delay 0.2 s": {"action": "delay", "delay_s": 0.2},
    "stall": {"action": "stall"},
    "drop before": {"action": "drop_before"},
    "drop after": {"action": "drop_after"},
}
# Removals sent without waiting once the sidecar is published: what a failed one leaves, for
# the next write to remove.
UNWAITED = {("new", "REMOVE#1"): ".tmp", ("replace", "REMOVE#1"): ".lock"}
CELLS = [(path, call, fault) for path, calls in PATHS.items() for call in calls for fault in FAULTS]
TABLE: dict[tuple[str, str, str], str] = {}


def expected(path: str, call: str, fault: str) -> str:
    """The outcome each cell must have, and why."""
    if (path, call) in UNWAITED:
        return "written"  # after publication; its reply is not awaited: removed next time
    if fault in ("NOSPC", "IO"):
        if (path, call) == ("replace", "READ#1"):
            return "written"  # the sidecar read ahead of the lock: read again under it
        return f"failed NFS3ERR_{fault}"
    # Also a lock whose CREATE's reply was lost: the writer knows it by the access time its
    # CREATE set, and removes it before it tries again.
    return "written"


@pytest.fixture(scope="module")
def proxy(nfs_server: NfsServer) -> Iterator[FaultProxy]:
    with FaultProxy(nfs_server.host, nfs_server.nfs_port, nfs_server.mount_port) as proxy:
        yield proxy
    write_table()


def write_table() -> None:
    if not TABLE:
        return
    faults = list(FAULTS)
    lines = [
        "| path | call | " + " | ".join(faults) + " |",
        "|---|---|" + "---|" * len(faults),
    ]
    for path, calls in PATHS.items():
        for call in calls:
            what = WHAT.get((path, call), call.split("#")[0])
            cells = [TABLE.get((path, call, fault), "not run") for fault in faults]
            lines.append(f"| {path} | {what} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    out = REPO / ".tmp" / "fault-matrix.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print("\n" + text)


def sidecar_results(folder: Path) -> object:
    path = folder / "f-sidecar.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["results"]  # complete JSON, or this fails


@pytest.mark.parametrize(("path", "call", "fault"), CELLS)
def test_cell(nfs_server: NfsServer, proxy: FaultProxy, path: str, call: str, fault: str) -> None:
    folder = nfs_server.open.local / re.sub(r"[^A-Za-z0-9]+", "-", f"matrix {path} {call} {fault}")
    folder.mkdir()
    (folder / "f.bin").write_bytes(b"data")
    (folder / "g.bin").write_bytes(b"other")
    name = f"{folder.name}/f.bin"
    proxy.disarm()
    handler = handler_for(
        nfs_server,
        nfs_port=proxy.nfs_port,
        mount_port=proxy.mount_port,
        timeout_ms=TIMEOUT_MS,
        lock_stale_seconds=60,
    )
    try:
        handler(sns_event(f"{folder.name}/g.bin", "prime"), FakeContext(10))  # mount, cache
        if path == "replace":
            handler(
                sns_event(name, "m-old", "2026-11-24T10:00:00Z", results="old"), FakeContext(10)
            )
        assert leftovers(folder) == []  # the last temp name's removal has landed

        procedure, occurrence = call.split("#")
        proxy.arm(Fault(f"NFS.{procedure}", occurrence=int(occurrence), **FAULTS[fault]))
        try:
            handler(sns_event(name, "m-new", "2026-11-24T11:00:00Z", results="new"), FakeContext(4))
            outcome = "written"
        except NfsStatusError as exc:
            outcome = f"failed {exc.status_name}"
        except Exception as exc:
            outcome = f"failed {type(exc).__name__}"
        if (path, call) in UNWAITED:  # sent without waiting: let it reach the proxy
            deadline = time.monotonic() + 5
            while not proxy.applied and time.monotonic() < deadline:
                time.sleep(0.01)
        applied = list(proxy.applied)
        proxy.disarm()
        retried = handler.reconnects + (handler._writer.client.resends if handler._writer else 0)
        shown = outcome if not retried or outcome != "written" else "retried, written"
        left = leftovers(folder)
        TABLE[(path, call, fault)] = shown + (f"; left {len(left)}" if left else "")

        assert applied == [(f"NFS.{procedure}", int(occurrence), FAULTS[fault]["action"])]
        assert outcome == expected(path, call, fault)
        results = sidecar_results(folder)
        if outcome == "written":
            assert results == "new"
        else:
            assert results == ("old" if path == "replace" else None)  # intact, or absent
        if (path, call) in UNWAITED and fault not in ("delay 0.2 s", "drop after"):
            # Sent without waiting for the reply (the sidecar is published): when it fails, the
            # next write removes the name (checked below).
            assert len(left) == 1 and left[0].endswith(UNWAITED[(path, call)]), left
        else:
            assert left == []

        # The next invocation succeeds and cleans up what was left.
        handler(sns_event(name, "m-next", "2026-11-24T12:00:00Z", results="next"), FakeContext(10))
        assert sidecar_results(folder) == "next"
        assert leftovers(folder) == []
    finally:
        handler.disconnect()
        proxy.disarm()
