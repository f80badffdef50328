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
    ("new", "LOOKUP#2"): "LOOKUP folder",
    ("new", "REMOVE#1"): "REMOVE tmp",
    ("replace", "LOOKUP#2"): "LOOKUP folder",
    ("replace", "CREATE#2"): "CREATE lock",
    ("replace", "LOOKUP#3"): "LOOKUP sidecar",
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
LOCK_LEFT = ("replace", "CREATE#2", "drop after")
CELLS = [(path, call, fault) for path, calls in PATHS.items() for call in calls for fault in FAULTS]
TABLE: dict[tuple[str, str, str], str] = {}


def expected(path: str, call: str, fault: str) -> str:
    """The outcome each cell must have, and why."""
    if fault in ("NOSPC", "IO"):
        if (path, call) == ("new", "REMOVE#1"):
            return "written"  # after publication; its reply is not awaited: removed next time
        if (path, call) == ("replace", "REMOVE#1"):
            return "written"  # published; the lock is removed before the next write
        return f"failed NFS3ERR_{fault}"
    if (path, call, fault) == LOCK_LEFT:
        # The lock was created but the reply lost: nothing tells this writer it is its own, so
        # it is left to the stale-lock rule and the notification fails, to be retried.
        return "failed SidecarBusy"
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
        lock_stale_seconds=STALE_S if (path, call, fault) == LOCK_LEFT else 60,
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
        if (path, call) == ("new", "REMOVE#1"):  # sent without waiting: let it reach the proxy
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
        if (path, call, fault) == LOCK_LEFT:
            assert left == [".f-sidecar.json.lock"]  # not known to be ours: the stale rule's
            # Ages are judged on the server's clock by ctime, which cannot be set back: wait
            # until the lock is older than lock_stale_seconds.
            lock = folder / ".f-sidecar.json.lock"
            deadline = time.monotonic() + 60
            while time.time() - lock.stat().st_ctime <= STALE_S + 0.5:
                assert time.monotonic() < deadline, "the lock did not age"
                time.sleep(0.1)
        elif (path, call) == ("new", "REMOVE#1") and fault not in ("delay 0.2 s", "drop after"):
            # The temp name's removal is sent without waiting for the reply (the sidecar is
            # published): when it fails, the next write removes the name (checked below).
            assert left == [next(iter(left), "")] and left[0].endswith(".tmp")
        elif outcome == "written" and fault in ("NOSPC", "IO"):
            assert left == [".f-sidecar.json.lock"]  # its removal failed: the next write's
        else:
            assert left == []

        # The next invocation succeeds and cleans up what was left.
        handler(sns_event(name, "m-next", "2026-11-24T12:00:00Z", results="next"), FakeContext(10))
        assert sidecar_results(folder) == "next"
        assert leftovers(folder) == []
    finally:
        handler.disconnect()
        proxy.disarm()
