"""Bytecode for the zip: each module compiled by each supported Lambda Python, so that a cold start
imports .pyc files instead of compiling the package (Lambda's /var/task is read-only: whatever
the zip does not hold is compiled again at every cold start, about half the import time).

The .pyc files are `unchecked-hash` ones (PEP 552): no source timestamp in them (the zip's
entries all have the same date), and the interpreter uses them without reading the source first.
Their co_filename is /var/task/<name>, never the build folder (the import system sets it to the
real source path at import anyway). The same interpreter version and sources give the same bytes.

The interpreters: pythons.py's discovery ($BUILD_PYTHONS if set, else python3.X on PATH, pyenv's,
uv's). A missing version fails a CI or release build (CI=true, REQUIRE_ALL_PYTHONS=1): no released
zip goes out without the bytecode; a local build ships what it has and says what is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pythons  # build/pythons.py: the one interpreter discovery

# The Lambda Python runtimes the function supports (the Makefile's LAMBDA_PYTHONS, the Terraform
# module's var.runtime).
LAMBDA_PYTHONS = pythons.LAMBDA_PYTHONS
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


def release_build() -> bool:
    """CI (GitHub Actions sets CI=true) and release builds insist on every runtime's bytecode."""
    required = os.environ.get("REQUIRE_ALL_PYTHONS", "").lower() not in ("", "0", "false", "no")
    return os.environ.get("CI", "").lower() == "true" or required


def find_interpreters(require_all: bool | None = None) -> dict[str, str]:
    """{"3.12": path, "3.13": path}: the interpreters pythons.py finds.

    A missing one fails a release build (``require_all``, default: release_build()) saying how
    to install it; a local build goes on with the others and says loudly what that costs."""
    if require_all is None:
        require_all = release_build()
    try:
        found = {v: path for v, (path, _) in pythons.discover().items()}
    except pythons.InterpreterError as e:
        raise BytecodeError(f"BUILD_PYTHONS: {e}") from e
    missing = [v for v in LAMBDA_PYTHONS if v not in found]
    given = os.environ.get("BUILD_PYTHONS", "")
    where = f"BUILD_PYTHONS={given!r}" if given else "PATH (python3.X), pyenv or uv"
    if missing and require_all:
        raise BytecodeError(
            f"no Python {', '.join(missing)} in {where}: a CI or release zip ships bytecode for "
            f"every supported Lambda runtime ({', '.join(LAMBDA_PYTHONS)}), compiled by that "
            f"version. Install it: {pythons.how_to_install(missing[0])} "
            "(actions/setup-python in CI)"
        )
    for version in missing:
        print(
            f"!! WARNING: no Python {version} in {where}: this zip ships NO bytecode for the "
            f"python{version} runtime. A Lambda on python{version} compiles the whole package at "
            f"every cold start (its /var/task is read-only), about half the import time. Fine "
            f"for a local try; CI and release builds refuse it. Install it: "
            f"{pythons.how_to_install(version)}",
            file=sys.stderr,
            flush=True,
        )
    return {v: found[v] for v in LAMBDA_PYTHONS if v in found}


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
