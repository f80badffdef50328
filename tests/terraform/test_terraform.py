"""Terraform checks for terraform/ (module and examples), one pytest test each, so that any
failure fails `make test`: fmt, init + validate, `terraform test` (mocked AWS provider), checkov,
README tables.

Providers come from the local mirror where there is one (see tests/terraform_cli.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TF_ROOT = REPO / "terraform"
TMP = REPO / ".tmp" / "terraform"
# The module and every example: (test id, directory).
CONFIGS = [("module", TF_ROOT)] + [
    (f"examples/{p.name}", p) for p in sorted((TF_ROOT / "examples").iterdir()) if p.is_dir()
]


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def report(proc: subprocess.CompletedProcess) -> str:
    return f"$ {' '.join(proc.args)}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


@pytest.fixture(scope="session")
def tf_init(terraform, tf_env):
    """Initialise a configuration once per session; returns the env to run it with."""
    done: dict[Path, dict[str, str]] = {}

    def init(directory: Path) -> dict[str, str]:
        if directory not in done:
            env = dict(tf_env)
            # Keep .terraform/ out of the source tree (the lock file stays there, git-ignored).
            slug = directory.relative_to(REPO).as_posix().replace("/", "_")
            env["TF_DATA_DIR"] = str(TMP / "data" / slug)
            proc = run([terraform, "init", "-backend=false", "-no-color"], directory, env)
            assert proc.returncode == 0, report(proc)
            done[directory] = env
        return done[directory]

    return init


CONFIG_IDS = [name for name, _ in CONFIGS]
CONFIG_DIRS = [path for _, path in CONFIGS]

# Fewest `terraform test` runs each configuration must report as passed (guards against test
# files silently not being found).
MIN_TEST_RUNS = {"module": 45, "examples/complete": 1, "examples/e2e": 2}

# Every checkov skip, by (check, resource). Each has its reason in a #checkov:skip comment next to
# the resource; adding one means adding it here too.
EXPECTED_SKIPS = {
    ("CKV_AWS_338", "aws_cloudwatch_log_group.this"),  # retention is an input, default 30 days
    ("CKV_AWS_158", "aws_cloudwatch_log_group.this"),  # logs use CloudWatch's default encryption
    ("CKV_AWS_116", "aws_lambda_function.this"),  # failures: on-failure destination / queue DLQ
    ("CKV_AWS_272", "aws_lambda_function.this"),  # no code signing: zip deployed by its builder
    ("CKV_AWS_50", "aws_lambda_function.this"),  # no X-Ray tracing
    ("CKV2_AWS_11", "aws_vpc.this"),  # e2e example's throw-away VPC: no flow logs
}


def test_fmt(terraform, tf_env):
    proc = run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "-no-color", str(TF_ROOT)], REPO, tf_env
    )
    assert proc.returncode == 0, "terraform fmt would change files:\n" + report(proc)


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=CONFIG_IDS)
def test_init_validate(terraform, tf_init, directory):
    env = tf_init(directory)
    proc = run([terraform, "validate", "-no-color"], directory, env)
    assert proc.returncode == 0, report(proc)
    assert "The configuration is valid" in proc.stdout


@pytest.mark.parametrize("name,directory", CONFIGS, ids=CONFIG_IDS)
def test_terraform_test(terraform, tf_init, name, directory):
    env = tf_init(directory)
    proc = run([terraform, "test", "-no-color"], directory, env)
    assert proc.returncode == 0, report(proc)
    m = re.search(r"Success! (\d+) passed, 0 failed", proc.stdout)
    assert m, report(proc)
    assert int(m.group(1)) >= MIN_TEST_RUNS[name], f"too few runs passed:\n{report(proc)}"


def checkov_command() -> list[str]:
    path = Path(os.environ.get("CHECKOV", REPO / ".venv-checkov" / "bin" / "checkov"))
    if not path.exists():
        pytest.fail(
            f"checkov not found at {path}: run `make checkov` (installs it in .venv-checkov)"
        )
    # Run by its venv's interpreter: its `#!` line holds the venv's path, which the kernel cuts
    # at the first space (a checkout's path may have one).
    python = path.with_name("python")
    return [str(python), str(path)] if python.exists() else [str(path)]


def test_checkov(tf_env):
    env = dict(tf_env, BC_SKIP_MAPPING="TRUE", LOG_LEVEL="WARNING")
    cmd = [
        *checkov_command(),
        "--directory", str(TF_ROOT),
        "--framework", "terraform",
        "--skip-download",
        "--skip-path", r"\.terraform/",
        "--compact",
        "--output", "json",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.stdout.strip().startswith("{"), report(proc)
    result = json.loads(proc.stdout)
    summary = result["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in result["results"]["failed_checks"]
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0, summary
    assert summary["resource_count"] >= 15 and summary["passed"] >= 30, summary

    skipped = result["results"]["skipped_checks"]
    for c in skipped:
        comment = c["check_result"].get("suppress_comment", "")
        assert len(comment) >= 20, f"{c['check_id']} on {c['resource']} is skipped without a reason"
    found = {(c["check_id"], c["resource"].removeprefix("module.nfs_sidecar.")) for c in skipped}
    assert found == EXPECTED_SKIPS, (
        f"unexpected skips {found - EXPECTED_SKIPS}, missing {EXPECTED_SKIPS - found}"
    )


def test_readme_tables():
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "tf_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, "README tables out of date (run `make tf-docs`):\n" + report(proc)


def test_each_validation_reads_only_its_own_variable():
    """tests/validation.tftest.hcl sets every input's bad value in one plan and expects each
    validation to fail: sound only while no validation reads another variable, a local, a
    resource or a data source (then none can fail for another input's value)."""
    text = (TF_ROOT / "variables.tf").read_text()
    blocks = re.findall(r'^variable "(\w+)" \{\n(.*?)^\}', text, re.S | re.M)
    assert len(blocks) > 40, "variables.tf not parsed"
    validations = 0
    for name, block in blocks:
        for validation in re.findall(r"^  validation \{\n(.*?)^  \}", block, re.S | re.M):
            validations += 1
            others = set(re.findall(r"\bvar\.(\w+)", validation)) - {name}
            outside = re.findall(r"\b(?:local|data|module|aws_\w+)\.\w+", validation)
            assert not others and not outside, f"var.{name}'s validation reads {others or outside}"
    assert validations >= 38, validations
