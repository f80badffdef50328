"""The post-deploy probe (probe.py): each step reported with its fix, nothing left behind, within
the invocation's time; and no notification can be taken for a probe."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from nfs_sidecar import probe
from nfs_sidecar.config import Config
from nfs_sidecar.errors import ProbeRequestError
from nfs_sidecar.probe import FIX_ACCES, FIX_INSECURE, PROBE_KEY, run_probe
from tests.function import helpers
from tests.function.helpers import (
    FakeContext,
    config_for,
    handler_for,
    slack,
    sns_event,
    sqs_event,
)
from tests.nfs_server import NfsServer

STEPS = ["resolve", "connect", "mount", "lookup", "create", "write", "remove"]


def run_unprivileged(config: Config, event: dict[str, Any]) -> dict[str, Any]:
    """helpers.run_unprivileged, with the probe imported before the drop to nobody (as the e2e
    executor and Lambda have the standard library readable; this machine's pyenv is not)."""
    script = helpers.UNPRIVILEGED.replace(
        "import lambda_function\n", "import lambda_function, nfs_sidecar.probe\n"
    )
    assert script != helpers.UNPRIVILEGED
    original = helpers.UNPRIVILEGED
    helpers.UNPRIVILEGED = script
    try:
        return helpers.run_unprivileged(config, event)
    finally:
        helpers.UNPRIVILEGED = original


def probe_files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".nfs-sidecar-probe-"))


def test_open_export_every_step_ok_and_nothing_left(nfs_server: NfsServer) -> None:
    (nfs_server.open.local / "runs").mkdir(exist_ok=True)
    report = run_probe(config_for(nfs_server), {"folder": "runs"}, FakeContext(5))
    assert report["ok"] is True, report
    assert [s["step"] for s in report["steps"]] == STEPS
    assert all(s["ok"] for s in report["steps"])
    assert report["folder"] == "runs"
    assert (report["nfs_port"], report["mount_port"], report["ports_from"]) == (
        nfs_server.nfs_port,
        nfs_server.mount_port,
        "configured",
    )
    assert 0 < report["round_trip_ms"] < 1000
    assert (report["uid"], report["gid"]) == (os.getuid(), os.getgid())
    assert report["steps"][5]["bytes"] == len(b"probe\n")
    assert probe_files(nfs_server.open.local / "runs") == []


def test_configured_identity_is_presented(nfs_server: NfsServer) -> None:
    report = run_probe(config_for(nfs_server, uid=1234, gid=5678), {}, FakeContext(5))
    assert report["ok"] is True, report
    assert (report["uid"], report["gid"]) == (1234, 5678)


def test_export_refusing_insecure_ports_gives_the_hint(nfs_server: NfsServer) -> None:
    result = run_unprivileged(config_for(nfs_server, nfs_server.secure), {PROBE_KEY: {}})
    report = result["result"]
    assert result["ok"] is True and report["ok"] is False, result
    assert report["failed_step"] == "mount", report["steps"]
    assert report["steps"][-1]["fix"] == FIX_INSECURE
    assert "NFS_ALLOW_INSECURE_PORTS=true" in report["steps"][-1]["fix"]
    assert report["uid"] == 65534


def test_folder_the_identity_cannot_write_gives_acces_and_the_fix(nfs_server: NfsServer) -> None:
    locked = nfs_server.open.local / "probe-locked"
    locked.mkdir(exist_ok=True)
    os.chmod(locked, 0o755)  # root's: nobody may look up, not create
    result = run_unprivileged(config_for(nfs_server), {PROBE_KEY: {"folder": "probe-locked"}})
    report = result["result"]
    assert report["ok"] is False and report["failed_step"] == "create", report
    failed = report["steps"][-1]
    assert "NFS3ERR_ACCES" in failed["error"] and failed["fix"] == FIX_ACCES
    assert [s["step"] for s in report["steps"]] == STEPS[:5]  # nothing created: nothing to remove
    assert probe_files(locked) == []


@pytest.fixture
def syn_dropping_port() -> Iterator[int]:
    """A port whose accept queue is full: the kernel drops further SYNs, as a firewall would."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(0)
        port = hole.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port), timeout=1)
        try:
            yield port
        finally:
            filler.close()


def test_server_dropping_syns_fails_connect_within_the_time(
    nfs_server: NfsServer, syn_dropping_port: int
) -> None:
    config = config_for(
        nfs_server, nfs_port=syn_dropping_port, mount_port=syn_dropping_port, timeout_ms=500
    )
    started = time.monotonic()
    report = run_probe(config, {}, FakeContext(2))
    assert time.monotonic() - started < slack(2)
    assert report["failed_step"] == "connect", report
    failed = report["steps"][-1]
    assert "no answer within 500 ms" in failed["error"] and 400 <= failed["ms"] < 1500
    assert "security group" in failed["fix"]


def test_the_probe_ends_within_the_invocation(nfs_server: NfsServer, syn_dropping_port) -> None:
    """With less time left than the NFS timeout, the invocation's time bounds the probe."""
    config = config_for(
        nfs_server, nfs_port=syn_dropping_port, mount_port=syn_dropping_port, timeout_ms=10_000
    )
    started = time.monotonic()
    report = run_probe(config, {}, FakeContext(1))
    assert time.monotonic() - started < 1.0
    assert report["failed_step"] == "connect"


def test_bad_folder_is_refused(nfs_server: NfsServer) -> None:
    for folder in ("../etc", "a/../../b", "a\nb", 7):
        with pytest.raises(ProbeRequestError):
            run_probe(config_for(nfs_server), {"folder": folder}, FakeContext(5))


def test_handler_answers_a_probe_event(nfs_server: NfsServer, capsys) -> None:
    report = handler_for(nfs_server)({PROBE_KEY: {}}, FakeContext(5))
    assert report is not None and report["ok"] is True
    assert '"outcome": "probe"' in capsys.readouterr().out


def test_no_notification_is_a_probe(nfs_server: NfsServer) -> None:
    """What a publisher controls (a message, inside Records) never reaches the probe."""
    handler = handler_for(nfs_server)
    forged = f'{{"{PROBE_KEY}": {{}}}}'
    with pytest.raises(Exception) as sns:
        handler(sns_event("x", message=forged), FakeContext(5))
    assert "probe" not in type(sns.value).__name__.lower()
    result = handler(sqs_event({"Type": "Notification", "Message": forged}), FakeContext(5))
    assert result == {"batchItemFailures": [{"itemIdentifier": "sqs-0"}]}
    # A probe key beside Records is an SNS/SQS-shaped event, not a probe.
    with pytest.raises(Exception, match=r"Records|event"):
        handler({PROBE_KEY: {}, "Records": []}, FakeContext(5))


def test_name_that_does_not_resolve_fails_resolve_with_the_dns_fix(nfs_server: NfsServer) -> None:
    config = config_for(nfs_server, timeout_ms=1000)._replace(server="no-such-host.invalid")
    started = time.monotonic()
    report = run_probe(config, {}, FakeContext(3))
    assert time.monotonic() - started < slack(1)
    assert report["failed_step"] == "resolve" and report["ok"] is False, report
    assert "dns_server_cidrs" in report["steps"][0]["fix"]


@pytest.fixture
def fake_portmapper(nfs_server: NfsServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """A portmapper of this test's own (rpcbind keeps one registration per program for the whole
    machine, and other servers come and go): answers GETPORT with the test server's ports.
    Yields the programs asked for."""
    asked: list[int] = []
    listener = socket.create_server(("127.0.0.1", 0))
    monkeypatch.setattr(probe, "PORTMAPPER", listener.getsockname()[1])
    ports = {probe.NFS_PROGRAM: nfs_server.nfs_port, probe.MOUNT_PROGRAM: nfs_server.mount_port}

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                call = b""
                while len(call) < 4 + 56:
                    call += conn.recv(256)
                xid, program = (
                    struct.unpack(">I", call[4:8])[0],
                    struct.unpack(">I", call[44:48])[0],
                )
                asked.append(program)
                reply = struct.pack(">7I", xid, 1, 0, 0, 0, 0, ports.get(program, 0))
                conn.sendall(struct.pack(">I", 0x80000000 | len(reply)) + reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield asked
    finally:
        listener.close()


def test_ports_not_configured_are_asked_from_the_portmapper(
    nfs_server: NfsServer, fake_portmapper: list[int]
) -> None:
    report = run_probe(config_for(nfs_server, nfs_port=None, mount_port=None), {}, FakeContext(5))
    assert report["ok"] is True, report["steps"]
    assert report["ports_from"] == "portmapper"
    assert (report["nfs_port"], report["mount_port"]) == (
        nfs_server.nfs_port,
        nfs_server.mount_port,
    )
    assert fake_portmapper[:2] == [probe.NFS_PROGRAM, probe.MOUNT_PROGRAM]
