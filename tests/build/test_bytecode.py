"""The zip's bytecode: valid for each supported Lambda Python, and what a cold start imports.

Lambda's /var/task is read-only: a module without a usable .pyc there is compiled at every cold
start. So under each Lambda Python, the package imported from the unpacked zip must compile
nothing: every module comes from its .pyc (an unchecked-hash one, made from this very source).
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import bytecode  # build/bytecode.py, on sys.path through conftest
import pytest

from tests.build.conftest import ARCHES, make_fake_function

# Runs in the child, under the Lambda Python being checked: imports the package from the unpacked
# zip (argv[1]) without writing bytecode, noting every module compiled from source, then reads
# each module's .pyc header.
CHILD = r"""
import importlib.machinery, importlib.util, json, sys
sys.dont_write_bytecode = True
task = sys.argv[1]
sys.path.insert(0, task)
compiled = []
to_code = importlib.machinery.SourceFileLoader.source_to_code
def source_to_code(self, data, path, *args, **kwargs):
    compiled.append(path)
    return to_code(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = source_to_code
import lambda_function, nfs_sidecar.handler
modules = {}
for name, module in sorted(sys.modules.items()):
    spec = getattr(module, "__spec__", None)
    if spec is None or not (spec.origin or "").startswith(task):
        continue
    try:
        with open(spec.cached, "rb") as f:
            header = f.read(16)
    except FileNotFoundError:
        header = b""
    with open(spec.origin, "rb") as f:
        source_hash = importlib.util.source_hash(f.read())
    modules[name] = {
        "origin": spec.origin[len(task):], "cached": spec.cached[len(task):],
        "magic_ok": header[:4] == importlib.util.MAGIC_NUMBER,
        "flags": int.from_bytes(header[4:8], "little"),
        "hash_ok": header[8:16] == source_hash,
    }
print(json.dumps({"compiled": compiled, "modules": modules,
                  "tag": sys.implementation.cache_tag}))
"""
UNCHECKED_HASH = 0b01  # PEP 552: hash-based, check_source off


@pytest.fixture(scope="module")
def read_only_task(host_zips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The x86_64 zip unpacked, then made read-only, as /var/task is."""
    task = tmp_path_factory.mktemp("task")
    with zipfile.ZipFile(host_zips["x86_64"]) as zf:
        zf.extractall(task)
    for folder, _, files in os.walk(task):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
    return task


@pytest.mark.parametrize("version", bytecode.LAMBDA_PYTHONS)
def test_importing_the_zip_compiles_nothing(
    pythons: dict[str, str], read_only_task: Path, version: str
) -> None:
    tag = "cpython-" + version.replace(".", "")
    if version not in pythons:
        # A local build without this Python (CI's has them all: the fixture fails there): the zip
        # holds no bytecode for it rather than anything stale.
        assert not bytecode.release_build()
        assert not list(read_only_task.rglob(f"*.{tag}.pyc"))
        return
    before = sorted(str(p.relative_to(read_only_task)) for p in read_only_task.rglob("*"))
    run = subprocess.run(
        [pythons[version], "-I", "-S", "-c", CHILD, f"{read_only_task}/"],
        capture_output=True,
        text=True,
        timeout=120,
        # The handler is built at import from its settings; it connects only when invoked.
        env={"PATH": os.environ["PATH"], "NFS_SERVER": "127.0.0.1", "NFS_EXPORT": "/export"},
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["tag"] == "cpython-" + version.replace(".", "")
    assert report["compiled"] == [], "compiled at import, not taken from the zip's .pyc"
    modules = report["modules"]
    assert {"lambda_function", "nfs_sidecar", "nfs_sidecar.handler", "nfs_sidecar.sidecar"} <= set(
        modules
    )
    for name, module in modules.items():
        assert module["cached"].endswith(f".{report['tag']}.pyc"), (name, module)
        assert module["magic_ok"], name
        assert module["flags"] == UNCHECKED_HASH, (name, module["flags"])
        assert module["hash_ok"], f"{name}: the .pyc was not made from the zip's source"
    after = sorted(str(p.relative_to(read_only_task)) for p in read_only_task.rglob("*"))
    assert after == before


@pytest.mark.parametrize("arch", ARCHES)
def test_every_module_has_bytecode_for_every_lambda_python(
    host_zips: dict[str, Path], arch: str, pythons: dict[str, str]
) -> None:
    """The arm64 zip too (the test above imports the x86_64 one): the same .pyc files, byte for
    byte, since bytecode does not depend on the architecture."""
    with zipfile.ZipFile(host_zips[arch]) as zf:
        names = set(zf.namelist())
        modules = [n for n in names if n.endswith(".py")]
        assert modules
        for module in modules:
            folder, _, file = module.rpartition("/")
            for version in bytecode.LAMBDA_PYTHONS:
                tag = "cpython-" + version.replace(".", "")
                pyc = f"{folder + '/' if folder else ''}__pycache__/{file[:-3]}.{tag}.pyc"
                if version not in pythons:  # a local build without it (see test_pythons)
                    assert pyc not in names, pyc
                    continue
                assert pyc in names, pyc
                with zipfile.ZipFile(host_zips["x86_64"]) as x86:
                    assert zf.read(pyc) == x86.read(pyc), pyc


def test_the_same_sources_give_the_same_bytecode(tmp_path: Path, pythons: dict[str, str]) -> None:
    fn = make_fake_function(tmp_path)
    sources = {
        "lambda_function.py": fn / "lambda_function.py",
        "nfs_sidecar/config.py": fn / "nfs_sidecar" / "config.py",
    }
    first, versions = bytecode.compile_all(sources, pythons)
    assert [v.rsplit(".", 1)[0] for v in versions] == list(pythons)
    tags = [v.replace(".", "") for v in pythons]
    assert sorted(first) == sorted(
        [f"__pycache__/lambda_function.cpython-{t}.pyc" for t in tags]
        + [f"nfs_sidecar/__pycache__/config.cpython-{t}.pyc" for t in tags]
    )
    assert bytecode.compile_all(sources, pythons) == (first, versions)
