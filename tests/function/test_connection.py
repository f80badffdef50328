"""The connection against the clock, on nfs-ganesha and the fault proxy: connect and mount end by
the invocation's deadline, a healthy connection survives idle gaps of any length, and a connection
the network silently dropped while idle is found and replaced within one NFS_TIMEOUT_MS.

Each test prints what it measured (times, reconnects, MOUNT calls): ``pytest -s`` shows them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nfs_sidecar.handler import Handler
from nfs_sidecar.nfs.engine import PROBE_AFTER_IDLE_S
from nfs_sidecar.nfs.errors import MountError
from tests.fault_proxy import Fault, FaultProxy, syn_dropping_listener
from tests.function.helpers import FakeContext, config_for, handler_for, leftovers, sns_event
from tests.nfs_server import NfsServer

# What a mount may send (MOUNT with explicit ports, then NFS; the root's GETATTR/LOOKUP)
MOUNT_CALLS = (
    "MOUNT.NULL",
    "MOUNT.MNT",
    "MOUNT.EXPORT",
    "NFS.NULL",
    "NFS.FSINFO",
    "NFS.PATHCONF",
    "NFS.GETATTR",
    "NFS.LOOKUP",
)


def proxied(nfs_server: NfsServer, proxy: FaultProxy, timeout_ms: int) -> Handler:
    return handler_for(
        nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port, timeout_ms=timeout_ms
    )


def folder_with(nfs_server: NfsServer, name: str, *files: str) -> Path:
    folder = nfs_server.open.local / name
    folder.mkdir()
    for file in files:
        (folder / file).write_bytes(b"x")
    return folder


def reconnect_lines(out: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in out.splitlines() if line[:1] == "{"]
    return [line for line in lines if line.get("outcome") == "reconnecting"]


def test_a_server_that_drops_syns_fails_the_mount_by_the_deadline(nfs_server: NfsServer) -> None:
    seconds_left = 3.0
    with syn_dropping_listener(nfs_server.host) as port:
        handler = Handler(config_for(nfs_server, nfs_port=port, mount_port=port, timeout_ms=500))
        context = FakeContext(seconds_left)
        started = time.monotonic()
        with pytest.raises(MountError) as raised:
            handler(sns_event("x/a.bin"), context)
        elapsed = time.monotonic() - started
    print(f"\nSYN drop, {seconds_left} s left: MountError after {elapsed:.2f} s: {raised.value}")
    assert "no answer within" in str(raised.value)
    assert f"{nfs_server.host}:" in str(raised.value)
    assert time.monotonic() < context.ends, f"ran past the invocation's end: {elapsed:.2f} s"


def test_a_slow_mount_ends_within_the_budget(nfs_server: NfsServer, proxy: FaultProxy) -> None:
    folder_with(nfs_server, "slow-mount", "a.bin")
    # Every call of the mount (and after) waits 0.8 s: each step alone is within the 1 s
    # timeout, the mount as a whole is not.
    proxy.arm(*(Fault(call, "delay", delay_s=0.8, times=None) for call in MOUNT_CALLS))
    handler = proxied(nfs_server, proxy, timeout_ms=1000)
    context = FakeContext(2.5)
    started = time.monotonic()
    with pytest.raises(MountError) as raised:
        handler(sns_event("slow-mount/a.bin"), context)
    elapsed = time.monotonic() - started
    print(f"\nmount replies delayed 0.8 s, 2.5 s left: {elapsed:.2f} s: {raised.value}")
    assert "no answer within" in str(raised.value)
    assert time.monotonic() < context.ends, f"ran past the invocation's end: {elapsed:.2f} s"


@pytest.mark.parametrize("gap_timeouts", [0.5, 1.5, 10])
def test_idle_gaps_keep_a_healthy_connection(
    nfs_server: NfsServer,
    proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
    gap_timeouts: float,
) -> None:
    timeout_ms = 300
    name = f"idle-{gap_timeouts}".replace(".", "_")
    folder = folder_with(nfs_server, name, *(f"f{i}.bin" for i in range(3)))
    handler = proxied(nfs_server, proxy, timeout_ms)
    handler(sns_event(f"{name}/f0.bin", "m-0"), FakeContext(30))  # mounts
    proxy.arm()  # count afresh
    for i in (1, 2):
        time.sleep(gap_timeouts * timeout_ms / 1000)  # the idle gap is the point here
        handler(sns_event(f"{name}/f{i}.bin", f"m-{i}"), FakeContext(30))
    reconnects = reconnect_lines(capsys.readouterr().out)
    probes = handler.writer().client.probes
    with capsys.disabled():
        print(
            f"\nidle gap {gap_timeouts} x {timeout_ms} ms: reconnects {handler.reconnects}, "
            f"MOUNT.MNT calls {proxy.counts['MOUNT.MNT']}, NULL probes {probes}"
        )
    assert handler.reconnects == 0, reconnects
    assert reconnects == []
    assert proxy.counts["MOUNT.MNT"] == 0
    # Past the probe's idle time, the probe went along and found the connection alive.
    if gap_timeouts * timeout_ms / 1000 > PROBE_AFTER_IDLE_S:
        assert probes == 2
    for i in range(3):
        assert (folder / f"f{i}-sidecar.json").exists()
    handler.disconnect()


@pytest.mark.parametrize("removal", ["answered", "unanswered"])
def test_a_silently_dropped_idle_connection_is_replaced_within_one_timeout(
    nfs_server: NfsServer, proxy: FaultProxy, capsys: pytest.CaptureFixture[str], removal: str
) -> None:
    """The temp name's REMOVE, sent without waiting at the end of the first notification, had its
    reply before the connection died ("answered": the next calls go into the void) or not (the
    next invocation waits for that reply first)."""
    timeout_ms = 2000
    folder = folder_with(nfs_server, f"silent-{removal}", "a.bin", "b.bin")
    handler = proxied(nfs_server, proxy, timeout_ms)
    handler(sns_event(f"silent-{removal}/a.bin", "m-a"), FakeContext(30))  # mounts
    if removal == "answered":
        assert leftovers(folder) == []  # the server did it...
        time.sleep(0.2)  # ...and its reply crosses the proxy
    assert proxy.silence_connections() >= 1  # the network forgets the flow: no FIN, no RST
    time.sleep(PROBE_AFTER_IDLE_S + 0.5)  # idle, as between invocations
    started = time.monotonic()
    handler(sns_event(f"silent-{removal}/b.bin", "m-b"), FakeContext(30))
    elapsed = time.monotonic() - started
    reconnects = reconnect_lines(capsys.readouterr().out)
    with capsys.disabled():
        print(
            f"\nsilently dropped idle connection (REMOVE {removal}): written after {elapsed:.2f} s "
            f"({timeout_ms} ms timeout), reconnects {handler.reconnects}: "
            + "; ".join(str(line["error"]) for line in reconnects)
        )
    assert (folder / "b-sidecar.json").exists()
    assert handler.reconnects == 1
    assert elapsed < timeout_ms / 1000, f"{elapsed:.2f} s: not found before the timeout"
    handler.disconnect()
