"""Builds the Lambda zip: dist/nfs-sidecar-<version>-<arch>.zip, its .sha256 and its SBOM.

The zip holds the contents of function/ (lambda_function.py, nfs_sidecar/) with their bytecode
for each supported Lambda Python (__pycache__/<module>.cpython-312.pyc and -313: bytecode.py),
lib/libnfs.so.17 compiled for the target architecture from libnfs's pinned source release
(libnfs_sources.py), libnfs's licence texts (licenses/libnfs/) and a CycloneDX manifest of what
it bundles (sbom.cdx.json, also written beside the zip as <zip stem>.cdx.json).

One compile recipe (compile-libnfs.sh) serves two paths, behind --build-in:

- container: inside the AWS SAM build image for the runtime (Amazon Linux 2023), with docker or
  podman, natively for the target (arm64 under QEMU on x86_64);
- host: with this machine's C compiler, natively or with Debian's aarch64 cross compiler.

auto (the default) picks container when a container engine answers, host otherwise, and says why.
The compiled library is cached by its inputs (source pin, recipe, architecture, compiler or image),
and checked before it is zipped (architecture, glibc <= the oldest supported runtime's, nothing
outside libc: see elf_check.py).

Usage: python3 build/build.py [--arch x86_64|arm64] [--build-in auto|container|host] [--out dist]
                              [--cache DIR] [--source-cache DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

if sys.version_info < (3, 11):  # noqa: UP036  (run by the system python3, maybe older)
    sys.exit("error: the build needs Python 3.11 or newer (for tomllib)")

import tomllib

import bytecode
import elf_check
import lambda_zip
import libnfs_sources

ROOT = Path(__file__).resolve().parent.parent
ARCHES = ("x86_64", "arm64")
DOCKER_PLATFORM = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
UNAME_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
COMPILE_SCRIPT = Path(__file__).resolve().with_name("compile-libnfs.sh")
COMPILE_SCRIPT_SHA256 = hashlib.sha256(COMPILE_SCRIPT.read_bytes()).hexdigest()
# The SAM build image of the function's runtime (python3.12, Amazon Linux 2023), pinned to one
# release, by its single-architecture tag for each architecture (<release>-x86_64 / -arm64; the
# bare tag is a multi-arch manifest whose entries have gone stale before). Override: $BUILD_IMAGE.
BUILD_IMAGES = {
    "x86_64": "public.ecr.aws/sam/build-python3.12:1.142.1-20250701194731-x86_64",
    "arm64": "public.ecr.aws/sam/build-python3.12:1.142.1-20250701194731-arm64",
}
ENGINES = ("docker", "podman")
ENGINE_PROBE_TIMEOUT_S = 20
LICENCE_DIR = "licenses/libnfs"
SBOM_NAME = "sbom.cdx.json"


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


def host_compiler(arch: str) -> str:
    """The C compiler the host path uses for ``arch``: native gcc, or Debian's cross compiler."""
    machine = UNAME_MACHINE[arch]
    cc = "gcc" if machine == os.uname().machine else f"{machine}-linux-gnu-gcc"
    if shutil.which(cc) is None:
        cross = " gcc-aarch64-linux-gnu libc6-dev-arm64-cross" if cc != "gcc" else ""
        raise BuildError(
            f"no {cc} to compile libnfs for {arch} on the host: apt-get install cmake make gcc"
            f"{cross} (scripts/install-system-deps.sh does), or build in a container"
        )
    return cc


def library_key(arch: str, path: str, compiler: str) -> str:
    """What the compiled bytes depend on: source pin, recipe, target, path and compiler/image."""
    inputs = [libnfs_sources.SOURCE.tar_sha256, COMPILE_SCRIPT_SHA256, arch, path, compiler]
    return hashlib.sha256("\n".join(inputs).encode()).hexdigest()[:16]


def compiled_libnfs(
    arch: str, path: str, engine: str | None, tarball: Path, cache: Path
) -> tuple[bytes, str]:
    """libnfs compiled from ``tarball`` for ``arch``; cached by everything the bytes depend on."""
    if path == "container":
        assert engine is not None
        compiler = build_image(arch)
    else:
        cc = host_compiler(arch)
        version = subprocess.run([cc, "--version"], capture_output=True, text=True, check=True)
        compiler = version.stdout.splitlines()[0]
    cached = cache / f"{libnfs_sources.LIBNFS_SONAME}-{arch}-{library_key(arch, path, compiler)}"
    origin = f"libnfs {libnfs_sources.SOURCE.version} compiled on the {path} path ({compiler})"
    if cached.is_file():
        return cached.read_bytes(), f"{origin}; from the build cache ({cached.name})"
    with tempfile.TemporaryDirectory(prefix="libnfs-out-") as out:
        if path == "container":
            assert engine is not None
            command = container_command(engine, compiler, arch, tarball, Path(out))
            env = None
        else:
            command = ["bash", str(COMPILE_SCRIPT), str(tarball), out, UNAME_MACHINE[arch]]
            env = {**os.environ, "CC": cc}
        print("$ " + " ".join(command), flush=True)
        result = subprocess.run(command, env=env)
        if result.returncode != 0:
            hint = ""
            if path == "container" and UNAME_MACHINE[arch] != os.uname().machine:
                hint = (
                    f" (building {arch} on {os.uname().machine} needs QEMU: "
                    "docker run --privileged --rm tonistiigi/binfmt --install all)"
                )
            raise BuildError(f"compiling libnfs failed (exit {result.returncode}){hint}")
        built = Path(out) / libnfs_sources.LIBNFS_SONAME
        if not built.is_file():
            raise BuildError(f"the compile made no {built.name}")
        library = built.read_bytes()
    cache.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(cached.name + ".part")
    partial.write_bytes(library)
    partial.replace(cached)
    return library, origin


def build_image(arch: str) -> str:
    return os.environ.get("BUILD_IMAGE") or BUILD_IMAGES[arch]


def container_command(engine: str, image: str, arch: str, tarball: Path, out: Path) -> list[str]:
    # Docker's root is the host's: hand the output back to us. Podman (rootless) maps its root to
    # us already.
    owner = ["-e", f"HOST_UID={os.getuid()}", "-e", f"HOST_GID={os.getgid()}"]
    return [
        engine, "run", "--rm",
        "--platform", DOCKER_PLATFORM[arch],
        "-v", f"{COMPILE_SCRIPT}:/opt/build/compile-libnfs.sh:ro",
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
        f"newest GLIBC_{glibc} (oldest supported runtime has "
        f"{'.'.join(map(str, elf_check.RUNTIME_GLIBC))})"
    )


def sbom(version: str, arch: str, library: bytes, bytecode_by: list[str]) -> bytes:
    """A CycloneDX 1.5 manifest of what the zip bundles; the same inputs give the same bytes.
    ``bytecode_by``: the Python versions that compiled the zip's .pyc files."""
    library_sha256 = hashlib.sha256(library).hexdigest()
    component = libnfs_sources.manifest_component()
    component["properties"] = [  # type: ignore[index]
        *component["properties"],  # type: ignore[misc]
        {"name": "nfs-sidecar:file", "value": f"lib/{libnfs_sources.LIBNFS_SONAME}"},
        {"name": "nfs-sidecar:file-sha256", "value": library_sha256},
        {"name": "nfs-sidecar:architecture", "value": arch},
    ]
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "urn:uuid:"
        + str(uuid.uuid5(uuid.NAMESPACE_URL, f"nfs-sidecar/{version}/{arch}/{library_sha256}")),
        "version": 1,
        "metadata": {
            "component": {
                "type": "application",
                "bom-ref": f"nfs-sidecar@{version}",
                "name": "nfs-sidecar",
                "version": version,
                "description": f"AWS Lambda deployment package ({arch})",
                "properties": [
                    {"name": "nfs-sidecar:bytecode-compiled-by", "value": f"CPython {v}"}
                    for v in bytecode_by
                ],
            }
        },
        "components": [component],
        "dependencies": [
            {"ref": f"nfs-sidecar@{version}", "dependsOn": [component["bom-ref"]]},
            {"ref": component["bom-ref"], "dependsOn": []},
        ],
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def build(
    arch: str,
    build_in: str,
    out_dir: Path,
    function_dir: Path,
    cache: Path,
    source_cache: Path | None = None,
    require_all_pythons: bool | None = None,
) -> Path:
    """``require_all_pythons``: fail unless every Lambda runtime's interpreter is here (default:
    under CI=true or REQUIRE_ALL_PYTHONS, as release builds are)."""
    started = time.monotonic()
    if not (function_dir / "lambda_function.py").is_file():
        raise BuildError(f"{function_dir}/lambda_function.py not found: nothing to package")
    pythons = bytecode.find_interpreters(require_all_pythons)  # before compiling libnfs
    path, engine, why = choose_build_path(build_in)
    print(f"build path: {path} ({why})")
    tarball = libnfs_sources.fetch_source(cache, source_cache)
    library, origin = compiled_libnfs(arch, path, engine, tarball, cache)
    print(f"libnfs: {origin}")
    check_library(library, arch)

    version = project_version(ROOT / "pyproject.toml")
    sources = lambda_zip.function_files(function_dir)
    pycs, compiled_by = bytecode.compile_all(sources, pythons)
    manifest = sbom(version, arch, library, compiled_by)
    entries = [(name, file.read_bytes()) for name, file in sources.items()]
    entries += pycs.items()
    entries.append((f"lib/{libnfs_sources.LIBNFS_SONAME}", library))
    entries += [
        (f"{LICENCE_DIR}/{name}", text)
        for name, text in libnfs_sources.licence_texts(tarball).items()
    ]
    entries.append((SBOM_NAME, manifest))
    zip_path = out_dir / zip_name(version, arch)
    lambda_zip.write_zip(zip_path, entries)
    sha_file = lambda_zip.write_sha256(zip_path)
    zip_path.with_suffix(".cdx.json").write_bytes(manifest)
    digest = sha_file.read_text().split()[0]
    print(
        f"wrote {zip_path} ({zip_path.stat().st_size} bytes, {len(entries)} files, "
        f"sha256 {digest}) and its SBOM in {time.monotonic() - started:.1f} s"
    )
    missing = [v for v in bytecode.LAMBDA_PYTHONS if v not in pythons]
    if missing:
        print(
            f"!! WARNING: {zip_path.name} has NO bytecode for python{', python'.join(missing)} "
            "(no interpreter here; see above): not a zip to release",
            file=sys.stderr,
        )
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=ARCHES, default="x86_64")
    parser.add_argument("--build-in", choices=("auto", "container", "host"), default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--function-dir", type=Path, default=ROOT / "function")
    parser.add_argument(
        "--cache",
        type=Path,
        default=ROOT / ".tmp" / "build-cache",
        help="downloads and compiled libraries, re-verified on every build",
    )
    parser.add_argument(
        "--source-cache",
        type=Path,
        default=None,
        help="a folder holding the pinned libnfs source archive (default: $LIBNFS_SOURCE_CACHE, "
        "else download it)",
    )
    parser.add_argument(
        "--require-all-pythons",
        action="store_true",
        default=None,
        help="fail unless every supported Lambda Python is here to compile the bytecode (the "
        "default under CI=true or REQUIRE_ALL_PYTHONS=1; release builds)",
    )
    args = parser.parse_args(argv)
    try:
        build(
            args.arch,
            args.build_in,
            args.out,
            args.function_dir,
            args.cache,
            args.source_cache,
            args.require_all_pythons,
        )
    except (BuildError, bytecode.BytecodeError, libnfs_sources.SourceError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
