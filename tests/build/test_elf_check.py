"""The ELF reader and the runtime-compatibility checks, on real libraries."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import elf_check  # build/*.py, on sys.path through conftest
import pytest

from tests.build.conftest import ROOT

SYSTEM_LIBC = Path("/lib/x86_64-linux-gnu/libc.so.6")


@pytest.fixture(scope="module")
def bundled_libs(
    host_zips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The libnfs.so.17 each zip bundles, as files."""
    out = tmp_path_factory.mktemp("bundled-libnfs")
    libs = {}
    for arch, zip_path in host_zips.items():
        libs[arch] = out / f"libnfs.so.17-{arch}"
        with zipfile.ZipFile(zip_path) as zf:
            libs[arch].write_bytes(zf.read("lib/libnfs.so.17"))
    return libs


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_bundled_libnfs_fits_the_runtime(bundled_libs: dict[str, Path], arch: str) -> None:
    lib = bundled_libs[arch]
    assert elf_check.problems(lib, arch) == []
    info = elf_check.read_elf(lib)
    assert info.soname == "libnfs.so.17"
    assert info.machine == {"x86_64": 62, "arm64": 183}[arch]
    assert set(info.needed) <= elf_check.ALLOWED_NEEDED[arch]
    assert "libc.so.6" in info.needed
    assert info.newest_glibc is not None and info.newest_glibc <= (2, 34)


def test_the_glibc_ceiling_is_the_oldest_runtime_the_module_accepts() -> None:
    """elf_check's runtimes are exactly those var.runtime admits, and the ceiling is theirs."""
    variables = (ROOT / "terraform" / "variables.tf").read_text()
    block = variables[variables.index('variable "runtime"') :]
    accepted = re.search(r"contains\(\[([^\]]*)\], var\.runtime\)", block)
    assert accepted, "var.runtime's validation lists the runtimes"
    runtimes = set(re.findall(r'"(python3\.\d+)"', accepted.group(1)))
    assert runtimes == set(elf_check.RUNTIME_GLIBCS)
    assert min(elf_check.RUNTIME_GLIBCS[r] for r in runtimes) == elf_check.RUNTIME_GLIBC
    makefile = (ROOT / "Makefile").read_text()
    lambda_pythons = re.search(r"^LAMBDA_PYTHONS := (.*)$", makefile, re.M)
    assert lambda_pythons, "the Makefile lists the Lambda Pythons it tests"
    assert {f"python{v}" for v in lambda_pythons.group(1).split()} == runtimes


def test_wrong_architecture_is_reported(bundled_libs: dict[str, Path]) -> None:
    [problem] = elf_check.problems(bundled_libs["x86_64"], "arm64")
    assert "not arm64" in problem


def test_too_new_glibc_is_reported(bundled_libs: dict[str, Path]) -> None:
    # The bundled library needs GLIBC_2.17: pretend the runtime is older than that.
    [problem] = elf_check.problems(bundled_libs["arm64"], "arm64", max_glibc=(2, 16))
    assert "needs GLIBC_2.17, newer than the runtime's 2.16" in problem


def test_dependencies_outside_libc_are_reported() -> None:
    # Debian 12's libstdc++ needs libm and libgcc_s beside libc.
    candidates = sorted(Path("/usr/lib/x86_64-linux-gnu").glob("libstdc++.so.6.*"))
    if not candidates:
        pytest.skip("no x86_64 libstdc++ on this machine")
    problems = elf_check.problems(candidates[0], "x86_64")
    assert any("outside libc" in p and "libm.so.6" in p for p in problems), problems


def test_glibc_newer_than_the_runtime_is_found_in_this_machines_libc() -> None:
    # Debian 12's glibc is 2.36: its own libc needs symbol versions up to GLIBC_2.35 from ld.so.
    if not SYSTEM_LIBC.exists():
        pytest.skip("no x86_64 glibc here")
    assert any(
        "newer than the runtime's 2.34" in p for p in elf_check.problems(SYSTEM_LIBC, "x86_64")
    )


def test_not_an_elf_file(tmp_path: Path) -> None:
    junk = tmp_path / "libjunk.so"
    junk.write_text("not a library")
    assert elf_check.problems(junk, "x86_64") == [f"{junk}: not an ELF file"]


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_reader_agrees_with_objdump(bundled_libs: dict[str, Path], arch: str) -> None:
    if shutil.which("objdump") is None:
        pytest.fail("objdump not found: apt-get install binutils (make deps does)")
    lib = bundled_libs[arch]
    info = elf_check.read_elf(lib)
    private = subprocess.run(["objdump", "-p", str(lib)], capture_output=True, text=True).stdout
    assert info.needed == re.findall(r"^\s+NEEDED\s+(\S+)", private, re.M)
    assert [info.soname] == re.findall(r"^\s+SONAME\s+(\S+)", private, re.M)
    symbols = subprocess.run(["objdump", "-T", str(lib)], capture_output=True, text=True).stdout
    newest = max(
        tuple(int(p) for p in v.split(".")) for v in re.findall(r"GLIBC_([0-9.]+)", symbols)
    )
    assert info.newest_glibc == newest
