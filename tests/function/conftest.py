"""The function tests run on the libnfs the zip bundles, loaded before any client is made."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bundled_libnfs import load_bundled_libnfs


@pytest.fixture(scope="session", autouse=True)
def bundled_libnfs() -> Path:
    return load_bundled_libnfs()
