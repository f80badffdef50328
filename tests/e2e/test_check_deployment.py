"""The post-deploy check (`make check-deployment`, scripts/check_deployment.py) against the deployed
function on LocalStack: the open export (every step ok), the export refusing non-privileged ports
(the NFS_ALLOW_INSECURE_PORTS hint), a folder the identity cannot write (ACCES with the fix), and a
server that drops SYNs (the step that failed, and when). Each case's output is kept in
.tmp/check-deployment-e2e.txt.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import FUNCTION_TIMEOUT_S, Deployment, example_variables
from tests.e2e.localstack import LocalStack
from tests.e2e.stack import EXAMPLE, REGION
from tests.e2e.terraform import Terraform
from tests.nfs_server import NfsServer

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check_deployment.py"
OUTPUT = REPO / ".tmp" / "check-deployment-e2e.txt"


@pytest.fixture(scope="module", autouse=True)
def fresh_output() -> None:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text("")


def check(
    localstack: LocalStack, function: str, *args: str, cmd: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": localstack.endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
    }
    cmd = cmd or [sys.executable, str(SCRIPT), "--function", function, *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    shown = " ".join(cmd[1:] if cmd[0] == sys.executable else cmd).replace(str(REPO) + "/", "")
    with OUTPUT.open("a") as f:
        f.write(f"$ {shown}\n{proc.stdout}{proc.stderr}(exit {proc.returncode})\n\n")
    return proc


def test_open_export_every_step_ok(
    localstack: LocalStack, deployments: dict[str, Deployment], lambda_executor: str
):
    deployment = deployments["direct"]
    proc = check(localstack, deployment.function_name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for step in ("resolve", "connect", "mount", "lookup", "create", "write", "remove"):
        assert f"  ok   {step}" in out, out
    assert "OK: the function can write in /" in out
    identity = re.search(r"identity presented: uid (\d+), gid (\d+)", out)
    assert identity, out
    if lambda_executor == "local-process":  # it runs the function as nobody
        assert identity.groups() == ("65534", "65534")
    assert "(configured); round trip" in out
    leftovers = [p for p in deployment.export.local.iterdir() if "probe" in p.name]
    assert leftovers == [], leftovers


def test_export_refusing_non_privileged_ports_names_the_setting(
    localstack: LocalStack, deployments: dict[str, Deployment]
):
    proc = check(localstack, deployments["secure"].function_name)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL mount" in proc.stdout
    assert "fix: the cluster refuses non-privileged source ports" in proc.stdout
    assert "NFS_ALLOW_INSECURE_PORTS=true" in proc.stdout
    assert "FAILED at step mount" in proc.stdout


def test_folder_the_identity_cannot_write_gives_acces_and_the_fix(
    localstack: LocalStack, deployments: dict[str, Deployment]
):
    deployment = deployments["direct"]
    locked = deployment.export.local / "check-locked"
    locked.mkdir(exist_ok=True)
    os.chmod(locked, 0o755)  # root's: nobody may look in, not create
    proc = check(localstack, deployment.function_name, "--folder", "check-locked")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "  ok   lookup" in proc.stdout
    assert "FAIL create" in proc.stdout and "NFS3ERR_ACCES" in proc.stdout
    assert "fix: the identity the function presents may not write in that folder" in proc.stdout
    assert "nfs_uid/nfs_gid" in proc.stdout
    assert list(locked.iterdir()) == []


@pytest.fixture(scope="module")
def syn_dropping_port(e2e_nfs: NfsServer) -> Iterator[int]:
    """A port, where the function reaches the NFS server, whose accept queue is full: the kernel
    drops further SYNs, as a firewall would."""
    with socket.socket() as hole:
        hole.bind((e2e_nfs.host, 0))
        hole.listen(0)
        port = hole.getsockname()[1]
        with socket.create_connection((e2e_nfs.host, port), timeout=1):
            yield port


@pytest.fixture(scope="module")
def unreachable(
    localstack: LocalStack,
    e2e_nfs: NfsServer,
    function_zip: Path,
    e2e_root: Path,
    deployments: dict[str, Deployment],  # after the others: LocalStack applies one at a time
    syn_dropping_port: int,
) -> Path:
    """The example applied once more, its NFS and MOUNT ports pointing at the SYN-dropping port
    -> the folder of its state (for `make check-deployment TF_DIR=...`)."""
    variables: dict[str, Any] = example_variables(
        "e2e-unreachable", "direct", e2e_nfs, e2e_nfs.exports["open"], function_zip
    )
    variables.update(nfs_port=syn_dropping_port, nfs_mount_port=syn_dropping_port)
    tf = Terraform(EXAMPLE, e2e_root / "tf" / "unreachable", localstack.endpoint)
    assert tf.apply(variables)["function_name"] == "e2e-unreachable"
    return tf.dir


def test_unreachable_server_names_the_step_and_the_time(localstack: LocalStack, unreachable: Path):
    """Through `make check-deployment`, which reads the function's name from the outputs."""
    started = time.monotonic()
    make = ["make", "-s", "-C", str(REPO), "check-deployment", f"TF_DIR={unreachable}"]
    proc = check(localstack, "", cmd=make)
    assert "function e2e-unreachable" in proc.stdout
    assert proc.returncode == 2, proc.stdout + proc.stderr  # make's own: the script exited 1
    assert "Error 1" in proc.stderr
    assert "  ok   resolve" in proc.stdout
    assert "FAIL connect" in proc.stdout and "no answer within 500 ms" in proc.stdout
    assert "fix: no route or a security group drops the traffic" in proc.stdout
    assert "FAILED at step connect after" in proc.stdout
    # Within the invocation's time (2 s), well before Lambda's timeout would cut it off.
    assert time.monotonic() - started < FUNCTION_TIMEOUT_S + 10
    assert "Task timed out" not in proc.stdout + proc.stderr
