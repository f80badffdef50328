"""Session fixtures for the end-to-end tests: nfs-ganesha + LocalStack + the Terraform example.

Everything is started once per session and stopped at its end, also when a test fails or the run is
interrupted (Ctrl-C runs the fixture teardowns): LocalStack's process group is terminated, then
killed; its folder (under .tmp/e2e/) is removed. E2E_KEEP=1 keeps the folder for a post-mortem.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.localstack import LocalStack, choose_executor, docker_bridge_gateway
from tests.e2e.stack import EXAMPLE, REPO, build_zip, client
from tests.e2e.terraform import Terraform
from tests.nfs_server import Export, NfsServer

TIMINGS_FILE = REPO / ".tmp" / "e2e-timings.json"
TIMINGS: dict[str, Any] = {}
# The function timeout the tests deploy with: the SQS visibility timeout is 6x this, and failed
# messages come back after it (sqs_max_receive_count times before the failure queue).
FUNCTION_TIMEOUT_S = 2
NFS_TIMEOUT_MS = 500


def module_default(variable: str) -> int:
    """A default of the module's variables.tf (the example leaves retries to the module)."""
    text = (REPO / "terraform" / "variables.tf").read_text()
    block = re.search(rf'variable\s+"{variable}"\s*\{{(.*?)\n\}}', text, re.S)
    value = re.search(r"^\s*default\s*=\s*(\d+)", block.group(1), re.M) if block else None
    if value is None:
        raise LookupError(f"no numeric default for {variable} in terraform/variables.tf")
    return int(value.group(1))


# Async retries (direct delivery) / receives before the failure queue (SQS delivery).
MAX_RETRIES = module_default("maximum_retry_attempts")
MAX_RECEIVES = module_default("sqs_max_receive_count")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("end-to-end timings")
    for key, value in TIMINGS.items():
        terminalreporter.write_line(f"{key}: {value}")
    TIMINGS_FILE.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS_FILE.write_text(json.dumps(TIMINGS, indent=2) + "\n")
    terminalreporter.write_line(f"(written to {TIMINGS_FILE.relative_to(REPO)})")


@pytest.fixture(scope="session")
def timings() -> dict[str, Any]:
    return TIMINGS


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def e2e_root() -> Iterator[Path]:
    # Kept under .tmp/ for E2E_KEEP. Nothing in it is read by the Lambda user (the executor has a
    # folder of its own): the checkout may be closed to other users.
    root = REPO / ".tmp" / "e2e" / f"run-{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    # SIGTERM (a CI timeout, `kill`) stops the run like Ctrl-C does: the teardowns below run.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield root
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not os.environ.get("E2E_KEEP"):
        shutil.rmtree(root, ignore_errors=True)
        for parent in (root.parent,):
            with contextlib.suppress(OSError):
                parent.rmdir()


@pytest.fixture(scope="session")
def lambda_executor() -> str:
    return choose_executor()


@pytest.fixture(scope="session")
def lambda_host(lambda_executor: str) -> str:
    """The address the function reaches LocalStack and the NFS server at."""
    return docker_bridge_gateway() if lambda_executor == "docker" else "127.0.0.1"


@pytest.fixture(scope="session")
def e2e_nfs(
    request: pytest.FixtureRequest, lambda_host: str, e2e_root: Path
) -> Iterator[NfsServer]:
    if lambda_host == "127.0.0.1":
        yield request.getfixturevalue("nfs_server")
        return
    with NfsServer(e2e_root / "nfs", host=lambda_host) as server:
        yield server


@pytest.fixture(scope="session")
def localstack(
    e2e_root: Path, lambda_executor: str, lambda_host: str, timings: dict[str, Any]
) -> Iterator[LocalStack]:
    start = time.monotonic()
    ls = LocalStack(e2e_root / "localstack", host=lambda_host, executor=lambda_executor)
    ls.start()
    timings["localstack_start_s"] = round(time.monotonic() - start, 1)
    timings["lambda_executor"] = lambda_executor
    try:
        yield ls
    finally:
        # Which interpreter ran the function (the executor says so for each runtime it started),
        # shown in the session's summary: read before stop() removes the environments' logs.
        ran = ls.function_interpreters()
        ls.stop()
        shutil.copy(ls.log, REPO / ".tmp" / "e2e-localstack.log")
        if ran:
            timings["the Python that ran the function"] = "; ".join(ran)


@pytest.fixture(scope="session")
def function_zip(timings: dict[str, Any]) -> Path:
    start = time.monotonic()
    path = build_zip()
    timings["build_s"] = round(time.monotonic() - start, 1)
    return path


@pytest.fixture(scope="session")
def aws(localstack: LocalStack) -> Any:
    """aws("sns") -> a boto3 client for LocalStack."""
    return lambda service: client(service, localstack.endpoint)


class Deployment:
    """One applied copy of the Terraform example."""

    def __init__(self, key: str, mode: str, export: Export, outputs: dict[str, Any]) -> None:
        self.key = key
        self.mode = mode
        self.export = export
        self.outputs = outputs

    @property
    def topic_arn(self) -> str:
        return str(self.outputs["topic_arn"])

    @property
    def function_name(self) -> str:
        return str(self.outputs["function_name"])

    @property
    def failure_queue_url(self) -> str:
        return str(self.outputs["failure_queue_url"])

    def __repr__(self) -> str:
        return f"Deployment({self.key})"


def example_variables(
    name: str, mode: str, nfs: NfsServer, export: Export, zip_path: Path
) -> dict[str, Any]:
    """The example's inputs (terraform/examples/e2e/variables.tf)."""
    return {
        "name": name,
        "lambda_zip_path": str(zip_path),
        "nfs_server": nfs.host,
        "nfs_export": export.path,
        "nfs_port": nfs.nfs_port,
        "nfs_mount_port": nfs.mount_port,
        "delivery": mode,
        "timeout": FUNCTION_TIMEOUT_S,
        # Short function timeout, so short NFS steps: an SQS batch is started only while
        # twice this is left.
        "nfs_timeout_ms": NFS_TIMEOUT_MS,
        # Alarms evaluated every 10 s (LocalStack evaluates simple metric alarms on their period).
        "alarm_period_seconds": 10,
        "alarm_error_burst": 2,
    }


# key -> (delivery mode, export name)
DEPLOYMENTS = {"direct": ("direct", "open"), "sqs": ("sqs", "open"), "secure": ("direct", "secure")}


@pytest.fixture(scope="session")
def deployments(
    localstack: LocalStack,
    e2e_nfs: NfsServer,
    function_zip: Path,
    e2e_root: Path,
    timings: dict[str, Any],
) -> dict[str, Deployment]:
    """All deployments, applied side by side once (Terraform mostly waits on LocalStack)."""

    def apply(key: str) -> Deployment:
        mode, export_name = DEPLOYMENTS[key]
        export = e2e_nfs.exports[export_name]
        tf = Terraform(EXAMPLE, e2e_root / "tf" / key, localstack.endpoint)
        start = time.monotonic()
        outputs = tf.apply(example_variables(f"e2e-{key}", mode, e2e_nfs, export, function_zip))
        timings[f"terraform_apply_{key}_s"] = round(time.monotonic() - start, 1)
        return Deployment(key, mode, export, outputs)

    start = time.monotonic()
    pool = ThreadPoolExecutor(len(DEPLOYMENTS))
    try:
        result = dict(zip(DEPLOYMENTS, pool.map(apply, DEPLOYMENTS), strict=True))
    except BaseException:  # a failed apply, Ctrl-C: the others need not finish
        Terraform.stop_all()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    timings["terraform_apply_all_s"] = round(time.monotonic() - start, 1)
    return result


@pytest.fixture(scope="session", params=["direct", "sqs"])
def deployment(request: pytest.FixtureRequest, deployments: dict[str, Deployment]) -> Deployment:
    """The example applied in each delivery mode (tests using it run once per mode)."""
    return deployments[request.param]
