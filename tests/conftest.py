from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nfs_server import NfsServer


@pytest.fixture(scope="session")
def nfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NfsServer]:
    """A real nfs-ganesha on loopback with an ``open`` and a ``secure`` export."""
    root: Path = tmp_path_factory.mktemp("nfs")
    with NfsServer(root) as server:
        yield server
