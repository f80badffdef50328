"""`make demo` works from any checkout: one that no other user may enter, with a space and a
non-ASCII letter in its path.

The project's files (those a clone holds: tracked, or new and not ignored; as they are in the
working tree) are copied to ``<tmp>/private/new comer ü/p``, where ``private`` has mode 0700 as
``mktemp -d`` and many home folders make them. The demo then deploys, publishes and waits for its
sidecar from there, as ``make demo`` does, with the clone's own code, folders and Terraform; only
the virtualenvs and the zip (whose place the function never sees) are this checkout's, to keep the
test cheap. The Lambda user (nobody) cannot enter the clone, which the test checks first.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import localstack
from tests.e2e.demo import NAME, SAMPLE, SAMPLE_RESULTS
from tests.e2e.stack import REPO, sidecar_path
from tests.terraform_cli import PLUGIN_CACHE, provider_mirror

SANDBOX_USER = "nobody"
ODD_FOLDER = "new comer ü"  # a space and a non-ASCII letter


def project_files() -> list[str]:
    """What a clone of this checkout holds, were its changes committed."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.fail(f"this test copies the project's files as git lists them; needs git: {e}")
    return [name for name in listed.decode().split("\0") if name and (REPO / name).is_file()]


def copy_project(dest: Path) -> None:
    for name in project_files():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest / name, follow_symlinks=False)


def user_can_read(user: str, path: Path) -> bool:
    return subprocess.run(["runuser", "-u", user, "--", "test", "-r", str(path)]).returncode == 0


def demo(clone: Path, command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.e2e.demo", command],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_demo_shows_its_sidecar_from_a_private_clone_with_an_odd_path(
    tmp_path_factory: pytest.TempPathFactory, function_zip: Path
) -> None:
    if os.geteuid() != 0:
        pytest.fail("needs root: runuser, and the demo's NFS server (run the tests as root)")
    private = tmp_path_factory.mktemp("private")
    private.chmod(0o700)
    clone = private / ODD_FOLDER / "p"
    copy_project(clone)
    assert (clone / "tests" / "e2e" / "demo.py").is_file()
    # The condition this is about: the Lambda user cannot reach anything in the checkout.
    assert not user_can_read(SANDBOX_USER, clone / "function" / "lambda_function.py")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "E2E_TERRAFORM_EXAMPLE")}
    env.update(LOCALSTACK_VENV=str(localstack.VENV), E2E_ZIP=str(function_zip))
    if provider_mirror() is None:  # Terraform downloads the provider: once, into this cache
        env.setdefault("TF_PLUGIN_CACHE_DIR", str(PLUGIN_CACHE))
    demo_root = clone / ".tmp" / "demo"
    state: dict[str, str] = {}
    try:
        up = demo(clone, "up", env)
        output = f"stdout:\n{up.stdout}\nstderr:\n{up.stderr[-3000:]}"
        if (demo_root / "stack.json").exists():
            state = json.loads((demo_root / "stack.json").read_text())
        assert up.returncode == 0, output
        assert "sidecar after" in up.stdout, output
        export = Path(state["nfs"]["exports"]["open"]["local"])
        assert export.is_relative_to(clone), export
        assert state["nfs"]["exports"]["open"]["path"] == "/open"
        document = json.loads(sidecar_path(export, SAMPLE).read_text(encoding="utf-8"))
        assert document["results"] == SAMPLE_RESULTS
        assert document["filename"] == SAMPLE
        if state["executor"] == "local-process":
            # Written over NFS by the function, as the sandbox user.
            owner = sidecar_path(export, SAMPLE).stat().st_uid
            assert owner == pwd.getpwnam(SANDBOX_USER).pw_uid
            lambda_root = Path(state["lambda_root"])
            assert not lambda_root.is_relative_to(clone)
            versions = [p.name for p in lambda_root.iterdir() if p.name.startswith("version-")]
            assert any(name.startswith(f"version-{NAME}-") for name in versions), versions
    finally:
        down = demo(clone, "down", env)
    assert down.returncode == 0, f"stdout:\n{down.stdout}\nstderr:\n{down.stderr}"
    assert not demo_root.exists()
    if state.get("lambda_root"):
        assert not Path(state["lambda_root"]).exists()
