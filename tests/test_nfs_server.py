"""The test NFS server: a configuration this machine's nfs-ganesha accepts line by line, and one
it refuses failing the start at once with the log's reason (not mounts refused later "without
a reason", as on Debian 13 before)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests import nfs_server
from tests.nfs_server import NfsServer

# Every test makes an NfsServer, which needs ganesha and root even to write a configuration.
pytestmark = pytest.mark.nfs

# What ganesha logs about a configuration line it did not take (unknown, invalid, refused).
CONFIG_COMPLAINT = re.compile(r":CONFIG :(CRIT|MAJ|WARN) :Config File")


def test_the_ganesha_here_takes_every_line_of_the_config(nfs_server: NfsServer) -> None:
    assert nfs_server.version is not None, "`ganesha.nfsd -v` names its release"
    complaints = [
        line for line in nfs_server.log.read_text().splitlines() if CONFIG_COMPLAINT.search(line)
    ]
    assert complaints == [], f"ganesha {nfs_server.version} complains:\n" + "\n".join(complaints)


@pytest.mark.parametrize(
    ("version", "io_flusher"), [((4, 3), False), ((5, 7), True), ((6, 5), True), (None, True)]
)
def test_the_io_flusher_setting_goes_only_to_a_ganesha_that_knows_it(
    tmp_path: Path, version: tuple[int, int] | None, io_flusher: bool
) -> None:
    server = NfsServer(tmp_path)
    server.version = version
    conf = server._write_config().read_text()
    assert ("Allow_Set_Io_Flusher_Fail = true;" in conf) is io_flusher


def test_a_refused_config_fails_the_start_with_the_logs_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An FSAL ganesha cannot load: it logs the refusal, drops the export and serves on.
    monkeypatch.setattr(
        nfs_server, "EXPORT_BLOCK", nfs_server.EXPORT_BLOCK.replace("Name = VFS;", "Name = NOPE;")
    )
    server = NfsServer(tmp_path / "refused")
    started = time.monotonic()
    with pytest.raises(RuntimeError) as refused:
        server.start()
    assert time.monotonic() - started < 10, "at once, not after a readiness timeout"
    message = str(refused.value)
    assert "ganesha refused its configuration" in message
    assert "Failed to load FSAL (NOPE)" in message
    assert "validation errors in block EXPORT" in message
    assert server._proc is None, "the half-configured server is stopped"
    server.close()
