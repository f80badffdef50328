"""The test tiers (tests/tiers.py): the markers registered, `make test-fast` selecting the tests
with none of them, and a test without a marker refused a server or a build."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests import tiers
from tests.bundled_libnfs import bundled_library
from tests.nfs_server import NfsServer

ROOT = Path(__file__).resolve().parent.parent


def test_the_registered_markers_are_the_tiers() -> None:
    pytest_ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    registered = dict(line.split(": ", 1) for line in pytest_ini["ini_options"]["markers"])
    assert registered == tiers.TIERS


def test_make_test_fast_selects_the_tests_with_no_tier() -> None:
    fast_tier = re.search(r"^FAST_TIER := (.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert fast_tier is not None
    assert fast_tier.group(1) == tiers.FAST_SELECTION
    assert '-m "$(FAST_TIER)"' in (ROOT / "Makefile").read_text()


@pytest.mark.parametrize(
    ("module", "fixtures", "expected"),
    [
        ("function/test_message.py", {"tmp_path"}, set()),
        ("function/test_sweep.py", {"nfs_server", "bundled_libnfs"}, {"nfs", "build"}),
        ("build/test_build.py", {"host_zips"}, {"build"}),
        ("build/test_pythons.py", {"monkeypatch"}, set()),
        ("build/test_bytecode.py", {"pythons", "tmp_path"}, {"build"}),
        ("e2e/test_sandbox.py", set(), {"e2e"}),
        ("terraform/test_limits.py", {"tmp_path"}, {"terraform"}),
        ("bench/test_bench_runs.py", {"tmp_path"}, {"nfs", "build", "slow"}),
        ("workflows/test_workflows.py", {"actionlint"}, {"node"}),
    ],
)
def test_a_test_is_marked_by_its_folder_module_and_fixtures(
    module: str, fixtures: set[str], expected: set[str]
) -> None:
    assert tiers.tiers_of(module, fixtures) == expected


def test_an_unmarked_test_cannot_start_an_nfs_server(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"carries no tier marker.*pytest\.mark\.nfs"):
        NfsServer(tmp_path)


def test_an_unmarked_test_cannot_build_the_zip_for_its_libnfs() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"carries no tier marker.*pytest\.mark\.build"):
        bundled_library.__wrapped__()


@pytest.mark.slow
def test_a_marked_test_is_let_through() -> None:
    tiers.require("anything", "slow")  # returns: this test is not in the fast tier
