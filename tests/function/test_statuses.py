"""Statuses the server answers with, injected by the fault proxy: transient ones are retried
within the invocation, the others fail with their cause named and leave nothing behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfs_sidecar.handler import Handler
from nfs_sidecar.nfs.errors import MountError, NfsConnectionError, NfsStatusError
from nfs_sidecar.nfs.xdr import ACCES, DQUOT, IO, JUKEBOX, NOSPC, NOTSUPP, PERM, ROFS, STALE
from tests.fault_proxy import Fault, FaultProxy
from tests.function.helpers import (
    FakeContext,
    handler_for,
    leftovers,
    race_writers,
    slack,
    sns_event,
)
from tests.nfs_server import NfsServer

STALE_S = 5  # lock_stale_seconds where a test waits for a lock to become stale


@pytest.fixture(scope="module")
def proxy(nfs_server: NfsServer) -> Iterator[FaultProxy]:
    with FaultProxy(nfs_server.host, nfs_server.nfs_port, nfs_server.mount_port) as proxy:
        yield proxy


@pytest.fixture
def handler(nfs_server: NfsServer, proxy: FaultProxy) -> Iterator[Handler]:
    proxy.disarm()
    handler = handler_for(
        nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port, timeout_ms=1000
    )
    yield handler
    handler.disconnect()
    proxy.disarm()


def results(folder: Path) -> object:
    path = folder / "f-sidecar.json"
    return json.loads(path.read_text())["results"] if path.exists() else None


def test_jukebox_is_retried_until_the_server_can(
    folder: Path, handler: Handler, proxy: FaultProxy
) -> None:
    proxy.arm(Fault("NFS.WRITE", "status", times=3, status=JUKEBOX))
    handler(sns_event(f"{folder.name}/f.bin", results="after jukebox"), FakeContext(10))
    assert results(folder) == "after jukebox"
    assert [a for a in proxy.applied if a[0] == "NFS.WRITE"] == [
        ("NFS.WRITE", n, "status") for n in (1, 2, 3)
    ]
    assert handler._writer.client.resends == 3  # type: ignore[union-attr]
    assert leftovers(folder) == []


def test_jukebox_that_never_ends_fails_within_the_budget(
    folder: Path, handler: Handler, proxy: FaultProxy
) -> None:
    proxy.arm(Fault("NFS.CREATE", "status", times=None, status=JUKEBOX))
    started = time.monotonic()
    with pytest.raises(NfsStatusError, match=r"NFS3ERR_JUKEBOX .*still busy after retries"):
        handler(sns_event(f"{folder.name}/f.bin"), FakeContext(3))
    assert time.monotonic() - started < slack(3)
    assert proxy.counts["NFS.CREATE"] > 3  # it did try again, more than once
    assert not (folder / "f-sidecar.json").exists()
    assert leftovers(folder) == []


@pytest.mark.parametrize(
    ("status", "cause", "retryable"),
    [
        (NOSPC, "NFS3ERR_NOSPC .*out of space; a retry helps once space is freed", True),
        (DQUOT, "NFS3ERR_DQUOT .*over its quota", True),
        (ROFS, "NFS3ERR_ROFS .*read-only; a retry cannot help", False),
        (IO, "NFS3ERR_IO .*I/O error", True),
        (ACCES, "NFS3ERR_ACCES .*permission denied .*NFS_UID/NFS_GID", False),
    ],
)
@pytest.mark.parametrize("step", ["NFS.WRITE", "NFS.RENAME"])
def test_a_failing_replacement_names_the_cause_and_leaves_the_old_sidecar(
    folder: Path,
    handler: Handler,
    proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
    status: int,
    cause: str,
    retryable: bool,
    step: str,
) -> None:
    name = f"{folder.name}/f.bin"
    handler(sns_event(name, "m-1", "2026-11-24T10:00:00.000Z", results="first"), FakeContext(5))
    proxy.arm(Fault(step, "status", status=status))
    with pytest.raises(NfsStatusError, match=cause):
        handler(sns_event(name, "m-2", "2026-11-24T11:00:00.000Z", results="2nd"), FakeContext(5))
    assert results(folder) == "first"  # intact
    assert leftovers(folder) == []  # the temp file (and the lock) removed
    failed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (failed["outcome"], failed["retryable"]) == ("failed", retryable)
    proxy.disarm()
    handler(sns_event(name, "m-2", "2026-11-24T11:00:00.000Z", results="2nd"), FakeContext(5))
    assert results(folder) == "2nd"


@pytest.mark.parametrize("status", [NOTSUPP, PERM])
def test_a_server_without_hard_links_gets_its_sidecars_by_rename(
    folder: Path,
    handler: Handler,
    proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
    status: int,
) -> None:
    """S3 File Gateway, Azure Blob NFS 3.0, IBM COS NFS answer LINK with NFS3ERR_NOTSUPP."""
    (folder / "g.bin").write_bytes(b"other")
    proxy.arm(Fault("NFS.LINK", "status", times=None, status=status))
    name = f"{folder.name}/f.bin"
    handler(sns_event(name, "m-1", "2026-11-24T10:00:00.000Z", results="first"), FakeContext(5))
    assert results(folder) == "first"
    assert proxy.counts["NFS.LINK"] == 1  # found out once, remembered for the mount
    client = handler._writer.client  # type: ignore[union-attr]
    before = client.rpc_count
    # The folder (one level deep, cached) is checked by one LOOKUP in the first round trip.
    handler(sns_event(f"{folder.name}/g.bin", "m-2"), FakeContext(5))  # a new sidecar: 8 + 1
    assert client.rpc_count - before == 9
    before = client.rpc_count
    handler(sns_event(name, "m-3", "2026-11-24T11:00:00.000Z", results="third"), FakeContext(5))
    assert client.rpc_count - before == 10  # a replacement: 9 calls + 1
    handler(sns_event(name, "m-0", "2026-11-24T09:00:00.000Z", results="older"), FakeContext(5))
    assert results(folder) == "third"  # newest still wins
    assert proxy.counts["NFS.LINK"] == 1
    assert leftovers(folder) == []
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["outcome"], line["via"]) for line in lines] == [
        ("written", "lock+rename"),
        ("written", "lock+rename"),
        ("written", "lock+rename"),
        ("skipped_older", None),
    ]


def test_concurrent_writers_without_hard_links_keep_the_newest(
    nfs_server: NfsServer, folder: Path, proxy: FaultProxy
) -> None:
    proxy.arm(Fault("NFS.LINK", "status", times=None, status=NOTSUPP))
    config = {"nfs_port": proxy.nfs_port, "mount_port": proxy.mount_port, "timeout_ms": 3000}
    race_writers(folder, [handler_for(nfs_server, **config) for _ in range(4)], per_writer=8)


def test_an_orphaned_lock_whose_removal_meets_a_broken_connection_is_removed_on_the_next(
    folder: Path, handler: Handler, proxy: FaultProxy
) -> None:
    name = f"{folder.name}/f.bin"
    lock = folder / ".f-sidecar.json.lock"
    handler(sns_event(name, "m-1", "2026-11-24T10:00:00Z", results="first"), FakeContext(5))
    assert leftovers(folder) == []  # the temp name's removal has landed
    # The replacement is published, but its lock's removal fails: an orphan of this writer's.
    proxy.arm(Fault("NFS.REMOVE", "status", status=IO))
    handler(sns_event(name, "m-2", "2026-11-24T11:00:00Z", results="second"), FakeContext(5))
    assert leftovers(folder, settle_s=0) == [lock.name]
    # The next write first checks that the lock is still the one it held (a LOOKUP): the
    # connection breaks there. The orphan is kept and removed over the new connection.
    proxy.arm(Fault("NFS.LOOKUP", "drop_before"))
    handler(sns_event(name, "m-3", "2026-11-24T12:00:00Z", results="third"), FakeContext(5))
    assert proxy.applied == [("NFS.LOOKUP", 1, "drop_before")]
    assert handler.reconnects == 1
    assert results(folder) == "third"
    assert leftovers(folder) == []


def test_a_stale_handle_is_looked_up_afresh(
    folder: Path, handler: Handler, proxy: FaultProxy
) -> None:
    handler(sns_event(f"{folder.name}/f.bin", "m-1", results="first"), FakeContext(5))
    # The cached folder handle went stale (the folder was replaced on the server).
    proxy.arm(Fault("NFS.LOOKUP", "status", status=STALE))
    handler(
        sns_event(f"{folder.name}/f.bin", "m-2", "2026-11-24T11:00:00Z", results="after stale"),
        FakeContext(5),
    )
    assert results(folder) == "after stale"
    assert proxy.applied == [("NFS.LOOKUP", 1, "status")]
    assert proxy.counts["NFS.LOOKUP"] > 2  # the path was resolved again
    assert leftovers(folder) == []


def freeze(pid: int) -> None:
    """SIGSTOPs the server and returns once every thread of it has stopped, so that the call
    forwarded next cannot be served before the freeze (a loaded machine delays the stop)."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = []
        for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
            with contextlib.suppress(OSError):
                states.append(stat.read_text().rpartition(")")[2].split()[0])
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.001)
    raise AssertionError(f"ganesha (pid {pid}) did not stop within 10 s of SIGSTOP")


@pytest.mark.parametrize(
    ("path", "step", "occurrence"),
    [
        ("new", "NFS.WRITE", 1),
        ("new", "NFS.LINK", 1),
        ("replace", "NFS.CREATE", 2),  # the lock
        ("replace", "NFS.READ", 1),
        ("replace", "NFS.RENAME", 1),
    ],
)
def test_a_server_frozen_at_each_step_fails_within_the_budget(
    nfs_server: NfsServer,
    folder: Path,
    proxy: FaultProxy,
    path: str,
    step: str,
    occurrence: int,
) -> None:
    """nfs-ganesha is stopped (SIGSTOP) just as the step's call reaches it: the invocation ends
    within its budget with the reason, and once the server runs again the next one succeeds."""
    # lock_stale_seconds above the 3 s budget, as the function's timeout must be, and short
    # enough to wait for a lock left behind to age (its ctime cannot be set back).
    proxy.disarm()
    handler = handler_for(
        nfs_server,
        nfs_port=proxy.nfs_port,
        mount_port=proxy.mount_port,
        timeout_ms=1000,
        lock_stale_seconds=STALE_S,
    )
    try:
        frozen_at_step(nfs_server, folder, handler, proxy, path, step, occurrence)
    finally:
        handler.disconnect()
        proxy.disarm()


def frozen_at_step(
    nfs_server: NfsServer,
    folder: Path,
    handler: Handler,
    proxy: FaultProxy,
    path: str,
    step: str,
    occurrence: int,
) -> None:
    name = f"{folder.name}/f.bin"
    if path == "replace":
        handler(sns_event(name, "m-1", "2026-11-24T10:00:00Z", results="first"), FakeContext(5))
    pid = int((nfs_server.root / "ganesha.pid").read_text())
    proxy.arm(Fault(step, "hook", occurrence=occurrence, hook=lambda: freeze(pid)))
    started = time.monotonic()
    try:
        with pytest.raises((NfsConnectionError, MountError), match=r"within|budget"):
            handler(sns_event(name, "m-2", "2026-11-24T11:00:00Z", results="2nd"), FakeContext(3))
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert proxy.applied == [(step, occurrence, "hook")]
    assert elapsed < slack(3)
    # The thawed server may still carry out the call it froze on (a LINK, a RENAME): complete.
    assert results(folder) in ("first" if path == "replace" else None, "2nd")
    proxy.disarm()
    lock = folder / ".f-sidecar.json.lock"
    if step == "NFS.CREATE":
        # The thawed server creates the lock after the writer gave up: not known to be its own,
        # so left to the stale-lock rule, judged on the server's clock by the lock's ctime.
        deadline = time.monotonic() + 10
        while not lock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        deadline = time.monotonic() + 60
        while time.time() - lock.stat().st_ctime <= STALE_S + 0.5:
            assert time.monotonic() < deadline, "the lock did not age"
            time.sleep(0.1)
    handler(sns_event(name, "m-3", "2026-11-24T12:00:00Z", results="third"), FakeContext(10))
    assert results(folder) == "third"
    assert leftovers(folder) == []
