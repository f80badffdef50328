"""Fixtures for the build tests: the build scripts importable, and zips built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build"
FUNCTION_DIR = ROOT / "function"
# Downloads are shared between runs (and with `make build`), and re-verified by sha256 every time.
CACHE = ROOT / ".tmp" / "build-cache"
ARCHES = ("x86_64", "arm64")

# build/ holds scripts, not a package: import them the way `python3 build/build.py` does.
if str(BUILD_DIR) not in sys.path:
    sys.path.insert(0, str(BUILD_DIR))

import bytecode  # noqa: E402

import build as build_script  # noqa: E402  (build/build.py, found first on sys.path)


@pytest.fixture(scope="session")
def pythons() -> dict[str, str]:
    """{version: interpreter} the build compiles the bytecode with: every Lambda Python under CI
    (else it fails saying how to install the missing one); locally, those this machine has."""
    return bytecode.find_interpreters()


def make_fake_function(root: Path) -> Path:
    """A function folder with the contract's layout, plus junk that must stay out of the zip."""
    fn = root / "function"
    (fn / "nfs_sidecar" / "__pycache__").mkdir(parents=True)
    (fn / "lambda_function.py").write_text("def lambda_handler(event, context):\n    return 1\n")
    (fn / "nfs_sidecar" / "__init__.py").write_text("")
    (fn / "nfs_sidecar" / "config.py").write_text("SUFFIX = '-sidecar.json'\n")
    (fn / "nfs_sidecar" / "__pycache__" / "config.cpython-311.pyc").write_bytes(b"\0")
    (fn / "nfs_sidecar" / "stale.pyc").write_bytes(b"\0")
    (fn / ".DS_Store").write_bytes(b"\0")
    (fn / "tests").mkdir()
    (fn / "tests" / "test_handler.py").write_text("")
    (fn / "conftest.py").write_text("")
    return fn


@pytest.fixture(scope="session")
def function_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real function/ once it is there; until then a stand-in with the same layout."""
    if (FUNCTION_DIR / "lambda_function.py").is_file():
        return FUNCTION_DIR
    return make_fake_function(tmp_path_factory.mktemp("fake"))


@pytest.fixture(scope="session")
def host_zips(tmp_path_factory: pytest.TempPathFactory, function_dir: Path) -> dict[str, Path]:
    """{arch: zip} built once per session on the host path."""
    out = tmp_path_factory.mktemp("dist")
    return {arch: build_script.build(arch, "host", out, function_dir, CACHE) for arch in ARCHES}
