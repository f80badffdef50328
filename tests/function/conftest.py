"""Tests that talk to the NFS server run on the libnfs the zip bundles, loaded before any client
is made; the others (parsing, configuration, rendering, fakes) need neither server nor build."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fault_proxy import FaultProxy
from tests.nfs_server import NfsServer


@pytest.fixture(scope="session")
def nfs_server(nfs_server: NfsServer, bundled_libnfs: Path) -> NfsServer:
    """The shared server (tests/conftest.py), its clients on the zip's libnfs."""
    return nfs_server


@pytest.fixture
def folder(nfs_server: NfsServer, request: pytest.FixtureRequest) -> Path:
    """A folder of the open export for this test alone, holding ``f.bin``."""
    path = nfs_server.open.local / re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:120]
    path.mkdir()
    (path / "f.bin").write_bytes(b"data")
    return path


@pytest.fixture
def proxy(nfs_server: NfsServer) -> Iterator[FaultProxy]:
    """The fault proxy (tests/fault_proxy.py) in front of the server, nothing armed."""
    with FaultProxy(nfs_server.host, nfs_server.nfs_port, nfs_server.mount_port) as proxy:
        yield proxy
