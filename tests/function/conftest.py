"""Tests that talk to the NFS server run on the libnfs the zip bundles, loaded before any client
is made; the others (parsing, configuration, rendering, fakes) need neither server nor build."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.nfs_server import NfsServer


@pytest.fixture(scope="session")
def nfs_server(nfs_server: NfsServer, bundled_libnfs: Path) -> NfsServer:
    """The shared server (tests/conftest.py), its clients on the zip's libnfs."""
    return nfs_server
