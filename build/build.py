"""Builds the Lambda zip: dist/nfs-sidecar-<version>-<arch>.zip and its .sha256.

The zip holds the contents of function/ (lambda_function.py, nfs_sidecar/) and lib/libnfs.so.13
for the target architecture. Two ways to get that library, behind --build-in:

- container: compiles libnfs 4.0.0 from its pinned, checksummed source release inside an official
  AWS SAM build image for the Lambda runtime (Amazon Linux 2023), with docker or podman;
- host: takes it from Debian 12's pinned, checksummed libnfs13 package (or, with
  --libnfs-from system, from this machine's own libnfs.so.13), compiling nothing.

auto (the default) picks container when a container engine answers, host otherwise, and says why.
Every library is checked before it is zipped (architecture, glibc <= the runtime's, nothing outside
libc: see elf_check.py).

Usage: python3 build/build.py [--arch x86_64|arm64] [--build-in auto|container|host] [--out dist]
"""

from __future__ import annotations

import argparse
import ctypes.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if sys.version_info < (3, 11):  # noqa: UP036  (run by the system python3, maybe older)
    sys.exit("error: the build needs Python 3.11 or newer (for tomllib)")

import tomllib

import elf_check
import lambda_zip
import libnfs_sources

ROOT = Path(__file__).resolve().parent.parent
ARCHES = ("x86_64", "arm64")
DOCKER_PLATFORM = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
UNAME_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
# The SAM build image for the function's runtime (python3.12 on Amazon Linux 2023), pinned to one
# release; multi-arch, the platform picks x86_64 or arm64. Override with $BUILD_IMAGE.
BUILD_IMAGE = "public.ecr.aws/sam/build-python3.12:1.142.1-20250701194731"
ENGINES = ("docker", "podman")
ENGINE_PROBE_TIMEOUT_S = 20


class BuildError(RuntimeError):
    pass


def project_version(pyproject: Path) -> str:
    with open(pyproject, "rb") as f:
        return tomllib.load(f)["project"]["version"]


def zip_name(version: str, arch: str) -> str:
    return f"nfs-sidecar-{version}-{arch}.zip"


# --- choosing the build path -------------------------------------------------------------------


def find_container_engine() -> tuple[str | None, str]:
    """(engine, why): the first of docker/podman whose `info` succeeds, else (None, why not)."""
    reasons = []
    for engine in ENGINES:
        if shutil.which(engine) is None:
            reasons.append(f"{engine} not installed")
            continue
        try:
            probe = subprocess.run(
                [engine, "info"], capture_output=True, text=True, timeout=ENGINE_PROBE_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            reasons.append(f"`{engine} info` did not answer in {ENGINE_PROBE_TIMEOUT_S} s")
            continue
        if probe.returncode == 0:
            return engine, f"`{engine} info` succeeded"
        last = (probe.stderr.strip() or probe.stdout.strip() or "no output").splitlines()[-1]
        reasons.append(f"`{engine} info` failed: {last.strip()}")
    return None, "; ".join(reasons)


def choose_build_path(requested: str) -> tuple[str, str | None, str]:
    """(path, engine, why) for --build-in auto|container|host."""
    if requested == "host":
        return "host", None, "BUILD_IN=host was asked for"
    engine, why = find_container_engine()
    if requested == "container":
        if engine is None:
            raise BuildError(
                f"BUILD_IN=container, but no container engine works here ({why}). "
                "Install and start Docker (https://docs.docker.com/engine/install/) or podman "
                "(apt-get install podman), or build with BUILD_IN=host"
            )
        return "container", engine, f"BUILD_IN=container was asked for; {why}"
    if engine is not None:
        return "container", engine, f"auto: {why}"
    return "host", None, f"auto: no container engine ({why})"


# --- getting libnfs ----------------------------------------------------------------------------


def libnfs_from_deb(arch: str, cache: Path) -> tuple[bytes, str]:
    deb = libnfs_sources.fetch_deb(arch, cache)
    return libnfs_sources.library_from_deb(deb, arch), f"Debian package {deb.name} (sha256 ok)"


def libnfs_from_system(arch: str) -> tuple[bytes, str]:
    native = {"x86_64": "x86_64", "aarch64": "arm64"}.get(os.uname().machine)
    if native != arch:
        raise BuildError(f"--libnfs-from system only works for this machine's arch ({native})")
    candidates = [
        Path(f"/usr/lib/{libnfs_sources.DEBIAN_MULTIARCH[arch]}/{libnfs_sources.LIBNFS_SONAME}"),
        Path(f"/usr/lib64/{libnfs_sources.LIBNFS_SONAME}"),
        Path(f"/usr/lib/{libnfs_sources.LIBNFS_SONAME}"),
    ]
    for path in candidates:
        if path.exists():
            return path.resolve().read_bytes(), f"this machine's {path} -> {path.resolve().name}"
    raise BuildError(
        f"no system {libnfs_sources.LIBNFS_SONAME} (find_library says "
        f"{ctypes.util.find_library('nfs')!r}); "
        "install libnfs13 (apt-get install libnfs13) or use the pinned package (--libnfs-from deb)"
    )


def libnfs_in_container(arch: str, engine: str, cache: Path) -> tuple[bytes, str]:
    tarball = libnfs_sources.fetch_source(cache)
    image = os.environ.get("BUILD_IMAGE", BUILD_IMAGE)
    with tempfile.TemporaryDirectory(prefix="libnfs-out-") as out:
        command = container_command(engine, image, arch, tarball, Path(out))
        print("$ " + " ".join(command), flush=True)
        result = subprocess.run(command)
        if result.returncode != 0:
            hint = ""
            if UNAME_MACHINE[arch] != os.uname().machine:
                hint = (
                    f" (building {arch} on {os.uname().machine} needs QEMU: "
                    "docker run --privileged --rm tonistiigi/binfmt --install all)"
                )
            raise BuildError(f"the container build failed (exit {result.returncode}){hint}")
        built = Path(out) / libnfs_sources.LIBNFS_SONAME
        if not built.is_file():
            raise BuildError(f"the container build made no {built.name}")
        return built.read_bytes(), f"compiled from {tarball.name} (sha256 ok) in {image}" + (
            f" ({digest})" if (digest := image_digest(engine, image)) else ""
        )


def image_digest(engine: str, image: str) -> str:
    """The pulled image's repository digest (to pin it by), or "" when the engine does not say."""
    inspect = subprocess.run(
        [engine, "image", "inspect", "--format", "{{index .RepoDigests 0}}", image],
        capture_output=True,
        text=True,
    )
    return inspect.stdout.strip() if inspect.returncode == 0 else ""


def container_command(engine: str, image: str, arch: str, tarball: Path, out: Path) -> list[str]:
    script = Path(__file__).resolve().with_name("compile-libnfs.sh")
    # Docker's root is the host's: hand the output back to us. Podman (rootless) maps its root to
    # us already.
    owner = ["-e", f"HOST_UID={os.getuid()}", "-e", f"HOST_GID={os.getgid()}"]
    return [
        engine, "run", "--rm",
        "--platform", DOCKER_PLATFORM[arch],
        "-v", f"{script}:/opt/build/compile-libnfs.sh:ro",
        "-v", f"{tarball.resolve()}:/opt/build/{tarball.name}:ro",
        "-v", f"{out}:/opt/out",
        *(owner if engine == "docker" else []),
        image,
        "bash", "/opt/build/compile-libnfs.sh",
        f"/opt/build/{tarball.name}", "/opt/out", UNAME_MACHINE[arch],
    ]  # fmt: skip


# --- the zip -----------------------------------------------------------------------------------


def check_library(content: bytes, arch: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / libnfs_sources.LIBNFS_SONAME
        lib.write_bytes(content)
        found = elf_check.problems(lib, arch)
        info = elf_check.read_elf(lib) if not found else None
    if info is not None and info.soname != libnfs_sources.LIBNFS_SONAME:
        found.append(f"SONAME is {info.soname}, not {libnfs_sources.LIBNFS_SONAME}")
    if found:
        raise BuildError("the library does not fit the Lambda runtime:\n  " + "\n  ".join(found))
    glibc = ".".join(map(str, info.newest_glibc or ()))
    print(
        f"checked {libnfs_sources.LIBNFS_SONAME}: {arch}, needs {', '.join(info.needed)}, "
        f"newest GLIBC_{glibc} (runtime has {'.'.join(map(str, elf_check.RUNTIME_GLIBC))})"
    )


def build(
    arch: str,
    build_in: str,
    out_dir: Path,
    function_dir: Path,
    cache: Path,
    libnfs_from: str = "deb",
) -> Path:
    started = time.monotonic()
    if not (function_dir / "lambda_function.py").is_file():
        raise BuildError(f"{function_dir}/lambda_function.py not found: nothing to package")
    path, engine, why = choose_build_path(build_in)
    print(f"build path: {path} ({why})")
    if path == "container" and libnfs_from != "deb":
        print(f"(--libnfs-from {libnfs_from} applies to the host path only: ignored)")
    if path == "container":
        assert engine is not None
        library, origin = libnfs_in_container(arch, engine, cache)
    elif libnfs_from == "system":
        library, origin = libnfs_from_system(arch)
    else:
        library, origin = libnfs_from_deb(arch, cache)
    print(f"libnfs: {origin}")
    check_library(library, arch)

    entries = [
        (name, file.read_bytes()) for name, file in lambda_zip.function_files(function_dir).items()
    ]
    entries.append((f"lib/{libnfs_sources.LIBNFS_SONAME}", library))
    zip_path = out_dir / zip_name(project_version(ROOT / "pyproject.toml"), arch)
    lambda_zip.write_zip(zip_path, entries)
    sha_file = lambda_zip.write_sha256(zip_path)
    digest = sha_file.read_text().split()[0]
    print(
        f"wrote {zip_path} ({zip_path.stat().st_size} bytes, {len(entries)} files, "
        f"sha256 {digest}) in {time.monotonic() - started:.1f} s"
    )
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=ARCHES, default="x86_64")
    parser.add_argument("--build-in", choices=("auto", "container", "host"), default="auto")
    parser.add_argument(
        "--libnfs-from",
        choices=("deb", "system"),
        default="deb",
        help="host path only: the pinned Debian package (default) or this machine's",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--function-dir", type=Path, default=ROOT / "function")
    parser.add_argument(
        "--cache",
        type=Path,
        default=ROOT / ".tmp" / "build-cache",
        help="downloads, kept and re-verified by sha256 on every build",
    )
    args = parser.parse_args(argv)
    try:
        build(args.arch, args.build_in, args.out, args.function_dir, args.cache, args.libnfs_from)
    except (BuildError, libnfs_sources.SourceError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
