from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import tiers
from tests.bundled_libnfs import load_bundled_libnfs
from tests.nfs_server import NfsServer


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks each test with its tiers (tests/tiers.py): by folder, module and fixtures used."""
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        path = Path(item.path).resolve()
        module = path.relative_to(tests_dir).as_posix() if path.is_relative_to(tests_dir) else ""
        wanted = tiers.tiers_of(module, getattr(item, "fixturenames", ()))
        for marker in sorted(wanted):
            if not item.get_closest_marker(marker):
                item.add_marker(marker)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """An unmarked test may not start a server or build the zip (tiers.require)."""
    fast = not any(item.get_closest_marker(marker) for marker in tiers.TIERS)
    tiers.enter_fast_test(item.nodeid if fast else None)
    try:
        return (yield)
    finally:
        tiers.enter_fast_test(None)


@pytest.fixture(scope="session")
def bundled_libnfs() -> Path:
    """The libnfs the zip bundles, loaded into this process before any client is made."""
    return load_bundled_libnfs()


@pytest.fixture(scope="session")
def nfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NfsServer]:
    """A real nfs-ganesha on loopback with an ``open`` and a ``secure`` export."""
    root: Path = tmp_path_factory.mktemp("nfs")
    with NfsServer(root) as server:
        yield server
