"""Failures of the connection and of the mount: clear errors, bounded time, reconnection."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from nfs_sidecar.nfs_errors import MountError, NfsConnectionError
from tests.function.helpers import config_for, handler_for, run_unprivileged, sns_event
from tests.nfs_server import NfsServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NfsServer]:
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


def test_unreachable_server_fails_fast(server: NfsServer) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = handler_for(server, nfs_port=port, mount_port=port, timeout_ms=2000)
    started = time.monotonic()
    with pytest.raises(MountError, match=r"mount 127\.0\.0\.1:"):
        handler(sns_event("f.bin"))
    assert time.monotonic() - started < 2


def test_blackholed_server_fails_within_the_timeout(server: NfsServer) -> None:
    with socket.create_server(("127.0.0.1", 0)) as hole:  # accepts, never answers
        port = hole.getsockname()[1]
        handler = handler_for(server, nfs_port=port, mount_port=port, timeout_ms=500)
        started = time.monotonic()
        with pytest.raises(MountError, match="no answer within 500 ms"):
            handler(sns_event("f.bin"))
        assert time.monotonic() - started < 2.5


def test_server_freezing_mid_session_fails_within_the_timeout(server: NfsServer, data: str) -> None:
    handler = handler_for(server, timeout_ms=500)
    handler(sns_event(data, "m-1"))
    pid = int((server.root / "ganesha.pid").read_text())
    os.kill(pid, signal.SIGSTOP)  # the connection stays up; nothing answers any more
    try:
        started = time.monotonic()
        with pytest.raises((NfsConnectionError, MountError), match="500 ms"):
            handler(sns_event(data, "m-2", "2026-11-24T11:00:00.000Z"))
        # one try on the old connection, one reconnect: each bounded by the timeout
        assert time.monotonic() - started < 3
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
    first, second = (
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    )
    assert (first["Reconnects"], second["Reconnects"]) == (0, 1)
    assert second["outcome"] == "written"


def test_server_gone_fails_with_the_reason_instead_of_hanging(server: NfsServer, data: str) -> None:
    handler = handler_for(server, timeout_ms=1000)
    handler(sns_event(data, "m-1"))
    server.stop()
    try:
        started = time.monotonic()
        with pytest.raises((NfsConnectionError, MountError)) as error:
            handler(sns_event(data, "m-2", "2026-11-24T11:00:00.000Z"))
        assert time.monotonic() - started < 3
        assert str(error.value)
    finally:
        server.start()
    handler(sns_event(data, "m-3", "2026-11-24T12:00:00.000Z"))
    assert sidecar(server)["source"]["sns_message_id"] == "m-3"
