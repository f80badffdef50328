"""Bytecode for the zip: each module compiled by each supported Lambda Python, so that a cold start
imports .pyc files instead of compiling the package (Lambda's /var/task is read-only: whatever
the zip does not hold is compiled again at every cold start, about half the import time).

The .pyc files are `unchecked-hash` ones (PEP 552): no source timestamp in them (the zip's
entries all have the same date), and the interpreter uses them without reading the source first.
Their co_filename is /var/task/<name>, never the build folder (the import system sets it to the
real source path at import anyway). The same interpreter version and sources give the same bytes.

The interpreters: $BUILD_PYTHONS (paths, space-separated) if set, else for each version
python3.X on PATH, else the newest pyenv one (~/.pyenv/versions/3.X.*/bin/python3). A missing
version fails the build: no zip goes out without the bytecode.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The Lambda Python runtimes the function supports (the Makefile's LAMBDA_PYTHONS, the Terraform
# module's var.runtime).
LAMBDA_PYTHONS = ("3.12", "3.13")
TASK_ROOT = "/var/task"  # where Lambda unpacks the zip
COMPILE_TIMEOUT_S = 300

# Runs in each interpreter, isolated (-I -S): compiles the sources named on stdin, in order, into
# the given .pyc paths; prints its cache tag and version.
COMPILE = """
import json, py_compile, sys
for source, dfile, cfile in json.load(sys.stdin):
    py_compile.compile(source, cfile, dfile, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
print(json.dumps([sys.implementation.cache_tag, sys.version.split()[0]]))
"""


class BytecodeError(RuntimeError):
    pass


def interpreter_version(python: str) -> str:
    try:
        result = subprocess.run(
            [python, "-I", "-S", "-c", 'import sys; print("%d.%d" % sys.version_info[:2])'],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BytecodeError(f"BUILD_PYTHONS names {python}, which does not run: {e}") from e
    if result.returncode != 0:
        raise BytecodeError(f"{python} failed to report its version: {result.stderr.strip()}")
    return result.stdout.strip()


def _runs_as(python: str, version: str) -> bool:
    try:
        return interpreter_version(python) == version
    except BytecodeError:
        return False


def _pyenv_python(version: str) -> str | None:
    """The newest pyenv interpreter of ``version`` (3.12.10 after 3.12.9), as the Makefile's."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = {
        tuple(int(n) for n in p.name.split(".")): p / "bin" / "python3"
        for p in root.glob(f"{version}.*")
        if re.fullmatch(r"\d+\.\d+\.\d+", p.name) and (p / "bin" / "python3").is_file()
    }
    return str(found[max(found)]) if found else None


def find_interpreters() -> dict[str, str]:
    """{"3.12": path, "3.13": path}, or BytecodeError saying how to install what is missing."""
    found: dict[str, str] = {}
    given = os.environ.get("BUILD_PYTHONS", "").split()
    for python in given:
        found.setdefault(interpreter_version(python), python)
    for version in LAMBDA_PYTHONS:
        if version in found or given:
            continue
        # pyenv's shims are on PATH whether or not they answer: take what runs as that version.
        for python in (shutil.which(f"python{version}"), _pyenv_python(version)):
            if python is not None and _runs_as(python, version):
                found[version] = python
                break
    missing = [v for v in LAMBDA_PYTHONS if v not in found]
    if missing:
        where = f"BUILD_PYTHONS={' '.join(given)!r}" if given else "PATH (python3.X) or pyenv"
        raise BytecodeError(
            f"no Python {', '.join(missing)} in {where}: the zip ships bytecode for every "
            f"supported Lambda runtime ({', '.join(LAMBDA_PYTHONS)}), compiled by that version. "
            f"Install it (pyenv install {missing[0]}, uv python install {missing[0]}, or "
            f"actions/setup-python in CI), or name the interpreters: "
            f"BUILD_PYTHONS='/path/to/python3.12 /path/to/python3.13'"
        )
    return {v: found[v] for v in LAMBDA_PYTHONS}


def compile_all(
    sources: dict[str, Path], pythons: dict[str, str]
) -> tuple[dict[str, bytes], list[str]]:
    """({zip name of the .pyc: its bytes} for every .py in ``sources`` ({zip name: file}) by
    every interpreter in ``pythons``, the interpreters' full versions: the bytes depend on them)."""
    modules = sorted(name for name in sources if name.endswith(".py"))
    out: dict[str, bytes] = {}
    versions = []
    for version, python in pythons.items():
        with tempfile.TemporaryDirectory(prefix="nfs-sidecar-pyc-") as tmp:
            jobs = [
                (str(sources[name]), f"{TASK_ROOT}/{name}", str(Path(tmp) / f"{i}.pyc"))
                for i, name in enumerate(modules)
            ]
            result = subprocess.run(
                [python, "-I", "-S", "-c", COMPILE],
                input=json.dumps(jobs),
                capture_output=True,
                text=True,
                timeout=COMPILE_TIMEOUT_S,
            )
            if result.returncode != 0:
                raise BytecodeError(f"compiling with {python} failed:\n{result.stderr.strip()}")
            tag, full_version = json.loads(result.stdout)
            if not full_version.startswith(version + "."):
                raise BytecodeError(f"{python} is Python {full_version}, not {version}")
            for (_, _, cfile), name in zip(jobs, modules, strict=True):
                folder, _, module = name.rpartition("/")
                pyc = f"{folder}/__pycache__/" if folder else "__pycache__/"
                out[f"{pyc}{module.removesuffix('.py')}.{tag}.pyc"] = Path(cfile).read_bytes()
        print(f"bytecode: {len(modules)} modules compiled by Python {full_version} ({python})")
        versions.append(full_version)
    return out, versions


if __name__ == "__main__":  # python3 build/bytecode.py: which interpreters a build would use
    try:
        print(json.dumps(find_interpreters(), indent=2))
    except BytecodeError as e:
        sys.exit(f"error: {e}")
