"""Failures of the connection and of the mount: clear errors, bounded time, reconnection."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfs_sidecar.nfs.errors import MountError, NfsConnectionError
from tests.function.helpers import (
    FakeContext,
    config_for,
    handler_for,
    leftovers,
    run_unprivileged,
    slack,
    sns_event,
)
from tests.nfs_server import NfsServer

pytestmark = pytest.mark.nfs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, bundled_libnfs: Path) -> Iterator[NfsServer]:
    """A server of this module's own: these tests stop, freeze and restart it."""
    with NfsServer(tmp_path_factory.mktemp("nfs-failures")) as server:
        yield server


@pytest.fixture
def data(server: NfsServer) -> str:
    path = server.open.local / "f.bin"
    path.write_bytes(b"data")
    (server.open.local / "f-sidecar.json").unlink(missing_ok=True)
    return "f.bin"


def sidecar(server: NfsServer) -> dict:
    return json.loads((server.open.local / "f-sidecar.json").read_text())


def test_unprivileged_client_writes_to_an_export_that_allows_insecure_ports(
    server: NfsServer, data: str
) -> None:
    result = run_unprivileged(config_for(server), sns_event(data))
    assert result == {"ok": True, "result": None}
    assert sidecar(server)["filename"] == data


def test_export_refusing_insecure_ports_names_the_cause(server: NfsServer) -> None:
    (server.secure.local / "f.bin").write_bytes(b"data")
    result = run_unprivileged(config_for(server, server.secure), sns_event("f.bin"))
    assert result["ok"] is False
    assert result["error_type"] == "MountError"
    assert "refused" in result["error"]
    assert "NFS_ALLOW_INSECURE_PORTS=true" in result["error"]
    assert not (server.secure.local / "f-sidecar.json").exists()


def test_unreachable_server_is_retried_then_fails_within_the_budget(server: NfsServer) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = handler_for(server, nfs_port=port, mount_port=port, timeout_ms=2000)
    started = time.monotonic()
    with pytest.raises(MountError, match=r"mount 127\.0\.0\.1:.*Connection refused"):
        handler(sns_event("f.bin"), FakeContext(3))
    assert time.monotonic() - started < slack(3)
    assert handler.reconnects >= 3  # tried again, with backoff, until the budget ran out


def test_blackholed_server_fails_within_the_budget(server: NfsServer) -> None:
    with socket.create_server(("127.0.0.1", 0)) as hole:  # accepts, never answers
        port = hole.getsockname()[1]
        handler = handler_for(server, nfs_port=port, mount_port=port, timeout_ms=500)
        started = time.monotonic()
        with pytest.raises(MountError, match="no answer within"):
            handler(sns_event("f.bin"), FakeContext(3))
        assert time.monotonic() - started < slack(3)
        assert handler.reconnects >= 1


def test_server_freezing_mid_session_fails_within_the_budget(server: NfsServer, data: str) -> None:
    handler = handler_for(server, timeout_ms=500)
    handler(sns_event(data, "m-1"))
    pid = int((server.root / "ganesha.pid").read_text())
    os.kill(pid, signal.SIGSTOP)  # the connection stays up; nothing answers any more
    try:
        started = time.monotonic()
        with pytest.raises((NfsConnectionError, MountError), match=r"within (500|1000) ms|budget"):
            handler(sns_event(data, "m-2", "2026-11-24T11:00:00.000Z"), FakeContext(3))
        assert time.monotonic() - started < slack(3)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert sidecar(server)["source"]["sns_message_id"] == "m-1"


def test_server_restart_between_invocations_reconnects(
    server: NfsServer, data: str, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = handler_for(server)
    handler(sns_event(data, "m-1"))
    first_client = handler._writer.client  # type: ignore[union-attr]
    server.restart()
    handler(sns_event(data, "m-2", "2026-11-24T11:00:00.000Z"))
    assert handler._writer.client is not first_client  # type: ignore[union-attr]
    assert sidecar(server)["source"]["sns_message_id"] == "m-2"
    # The reconnect is in the message's metrics; the first mount was none.
    first, why, second = (
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    )
    assert (first["Reconnects"], second["Reconnects"]) == (0, 1)
    assert second["outcome"] == "written"
    # ... and the line before it says why.
    assert (why["level"], why["outcome"], why["records"]) == ("WARN", "reconnecting", 1)
    assert why["error_type"] in ("NfsConnectionError", "NfsTimeout"), why


def test_server_gone_fails_with_the_reason_instead_of_hanging(server: NfsServer, data: str) -> None:
    handler = handler_for(server, timeout_ms=1000)
    handler(sns_event(data, "m-1"))
    server.stop()
    try:
        started = time.monotonic()
        with pytest.raises((NfsConnectionError, MountError), match="refused") as error:
            handler(sns_event(data, "m-2", "2026-11-24T11:00:00.000Z"), FakeContext(3))
        assert time.monotonic() - started < slack(3)
        assert str(error.value)
    finally:
        server.start()
    handler(sns_event(data, "m-3", "2026-11-24T12:00:00.000Z"))
    assert sidecar(server)["source"]["sns_message_id"] == "m-3"


def test_a_stream_rides_through_a_server_killed_and_restarted(server: NfsServer) -> None:
    """One warm environment streams notifications (new sidecars and replacements) while
    nfs-ganesha is killed (SIGKILL) and started again, twice: none of them fails."""
    folder = server.open.local / "failover"
    folder.mkdir()
    files = [f"f{i:02d}.bin" for i in range(30)]
    for name in files:
        (folder / name).write_bytes(b"x")
    handler = handler_for(server, timeout_ms=1000)
    total, kill_at = 300, {80, 200}
    slowest, failed = 0.0, []
    # ganesha dies with the thread that started it (PR_SET_PDEATHSIG): keep the restarters alive
    # until the server is restarted from this thread at the end.
    done = threading.Event()
    restarters = []
    for seq in range(total):
        if seq in kill_at:
            restarter = threading.Thread(target=kill_and_restart, args=(server, done))
            restarter.start()
            restarters.append(restarter)
            time.sleep(0.05)  # the next notifications meet the server dead
        published = f"2026-11-24T10:{seq // 60:02d}:{seq % 60:02d}.000Z"
        event = sns_event(f"failover/{files[seq % 30]}", f"m-{seq}", published, results=seq)
        started = time.monotonic()
        try:
            handler(event, FakeContext(30))
        except Exception as exc:
            failed.append(f"{seq}: {type(exc).__name__}: {exc}")
        slowest = max(slowest, time.monotonic() - started)
    handler.disconnect()
    server.restart()
    done.set()
    for restarter in restarters:
        restarter.join(timeout=30)
    print(
        f"failover: {total} notifications, {len(kill_at)} kills, {len(failed)} failed, "
        f"{handler.reconnects} reconnects, slowest {slowest:.2f} s"
    )
    assert failed == []
    assert handler.reconnects >= len(kill_at)
    for i, name in enumerate(files):
        doc = json.loads((folder / name.replace(".bin", "-sidecar.json")).read_text())
        assert doc["results"] == max(s for s in range(total) if s % 30 == i)
    assert leftovers(folder) == []


def kill_and_restart(server: NfsServer, done: threading.Event) -> None:
    proc = server._proc
    assert proc is not None
    proc.kill()
    proc.wait(timeout=10)
    server._proc = None
    time.sleep(0.5)  # down for a moment, as in a failover
    server.start()
    done.wait(timeout=600)
