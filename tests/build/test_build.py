"""The build: reproducible zips with exactly the function, the compiled libnfs 7, its licences and
an SBOM; the pinned source; the compile cache; how the build picks its path (host or container)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import lzma
import os
import re
import socket
import stat
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import elf_check
import lambda_zip
import libnfs_sources
import pytest

from tests.build.conftest import ARCHES, BUILD_DIR, CACHE, FUNCTION_DIR, ROOT, build_script

LIB = "lib/libnfs.so.17"
LICENCES = {f"licenses/libnfs/{name}" for name in libnfs_sources.SOURCE.licence_files}
SBOM = "sbom.cdx.json"
BUNDLED = {LIB, SBOM} | LICENCES


def expected_function_entries(function_dir: Path) -> set[str]:
    """What the zip must hold of the function: for the real function/, the files git knows or
    would add (nothing it ignores: caches, bytecode); the stand-in's known code otherwise."""
    if function_dir == FUNCTION_DIR:
        tracked = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "function"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        # Lint settings (nfs/ruff.toml: the layer rule) stay out of the zip.
        return {name.removeprefix("function/") for name in tracked if not name.endswith(".toml")}
    return {"lambda_function.py", "nfs_sidecar/__init__.py", "nfs_sidecar/config.py"}


def expected_bytecode(sources: set[str], versions: Iterable[str]) -> set[str]:
    """__pycache__/<module>.cpython-3XX.pyc of every .py, for each Lambda Python the build had
    (every one under CI)."""
    pycs = set()
    for name in (s for s in sources if s.endswith(".py")):
        folder, _, module = name.rpartition("/")
        for version in versions:
            tag = "cpython-" + version.replace(".", "")
            pycs.add(f"{folder + '/' if folder else ''}__pycache__/{module[:-3]}.{tag}.pyc")
    return pycs


def zipped_library(zip_path: Path, into: Path) -> Path:
    lib = into / f"libnfs.so.17-{zip_path.stem}"
    with zipfile.ZipFile(zip_path) as zf:
        lib.write_bytes(zf.read(LIB))
    return lib


# --- content -----------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHES)
def test_zip_holds_exactly_the_function_libnfs_its_licences_and_an_sbom(
    host_zips: dict[str, Path], function_dir: Path, arch: str, pythons: dict[str, str]
) -> None:
    path = host_zips[arch]
    assert (
        path.name
        == f"nfs-sidecar-{build_script.project_version(ROOT / 'pyproject.toml')}-{arch}.zip"
    )
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    sources = expected_function_entries(function_dir)
    assert set(names) == sources | expected_bytecode(sources, pythons) | BUNDLED
    for name in names:
        assert not name.endswith(".pyo") and ".cpython-311." not in name, name
        assert not name.startswith(("tests/", "boto3/", "botocore/")), name


@pytest.mark.parametrize("arch", ARCHES)
def test_bundled_libnfs_is_7_0_and_fits_the_oldest_supported_runtime(
    host_zips: dict[str, Path], arch: str, tmp_path: Path
) -> None:
    """Right architecture, soname libnfs.so.17, libnfs 7.0's own symbols, nothing beyond libc,
    glibc no newer than the oldest runtime the Terraform module accepts."""
    with zipfile.ZipFile(host_zips[arch]) as zf:
        assert [n for n in zf.namelist() if ".so" in Path(n).suffixes] == [LIB]
    lib = zipped_library(host_zips[arch], tmp_path)
    assert elf_check.problems(lib, arch) == []
    info = elf_check.read_elf(lib)
    assert info.soname == "libnfs.so.17"
    assert info.newest_glibc <= elf_check.RUNTIME_GLIBC == (2, 34)
    assert set(info.needed) == {"libc.so.6"}
    content = lib.read_bytes()
    for symbol in (b"nfs_set_readonly", b"rpc_nfs3_read_task", b"rpc_nfs3_link_task"):
        assert symbol + b"\0" in content, symbol
    # Built without TLS, Kerberos or threads: none of their libraries or entry points.
    for absent in (b"gnutls_", b"gss_init_sec_context", b"krb5_", b"pthread_create"):
        assert absent not in content, absent


@pytest.mark.parametrize("arch", ARCHES)
def test_bundled_libnfs_holds_no_build_paths_times_or_host_names(
    host_zips: dict[str, Path], arch: str, tmp_path: Path
) -> None:
    content = zipped_library(host_zips[arch], tmp_path).read_bytes()
    strings = [s.decode() for s in re.findall(rb"[\x20-\x7e]{4,}", content)]
    host = socket.gethostname()
    for text in strings:
        for leak in (str(ROOT), "/tmp/", "/work/", "libnfs-out-", time.strftime("%b %e %Y")):
            assert leak not in text, (leak, text)
        assert text != host and (len(host) < 6 or host not in text), (host, text)


@pytest.mark.parametrize("arch", ARCHES)
def test_bytecode_holds_no_build_paths_or_host_names(
    host_zips: dict[str, Path], arch: str, pythons: dict[str, str]
) -> None:
    """Each .pyc names its source as Lambda unpacks it (/var/task/...), never the build's."""
    host = socket.gethostname()
    with zipfile.ZipFile(host_zips[arch]) as zf:
        pycs = {n: zf.read(n) for n in zf.namelist() if n.endswith(".pyc")}
    # None from a local build without any Lambda Python (Debian 12: see test_pythons).
    assert bool(pycs) == bool(pythons)
    for name, content in pycs.items():
        source = name.replace("__pycache__/", "").rsplit(".", 2)[0] + ".py"
        assert f"/var/task/{source}".encode() in content, name
        strings = [s.decode() for s in re.findall(rb"[\x20-\x7e]{4,}", content)]
        for text in strings:
            for leak in (str(ROOT), "/tmp/", "/work/", "/root/", "nfs-sidecar-pyc-"):
                assert leak not in text, (name, leak, text)
            assert text != host and (len(host) < 6 or host not in text), (name, host, text)


@pytest.mark.parametrize("arch", ARCHES)
def test_licences_of_libnfs_are_shipped(host_zips: dict[str, Path], arch: str) -> None:
    with zipfile.ZipFile(host_zips[arch]) as zf:
        lgpl = zf.read("licenses/libnfs/LICENCE-LGPL-2.1.txt").decode()
        copying = zf.read("licenses/libnfs/COPYING").decode()
        bsd = zf.read("licenses/libnfs/LICENCE-BSD.txt").decode()
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in lgpl and "Version 2.1" in lgpl
    assert "either version 2.1 of the License, or" in copying
    assert "Redistribution and use in source and binary forms" in bsd


@pytest.mark.parametrize("arch", ARCHES)
def test_sbom_is_valid_cyclonedx_and_names_what_the_zip_bundles(
    host_zips: dict[str, Path], arch: str, pythons: dict[str, str]
) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    path = host_zips[arch]
    with zipfile.ZipFile(path) as zf:
        inside, library = zf.read(SBOM), zf.read(LIB)
    beside = path.with_suffix(".cdx.json").read_bytes()
    assert inside == beside
    validator = JsonStrictValidator(SchemaVersion.V1_5)
    assert validator.validate_str(inside.decode()) is None
    document = json.loads(inside)
    [component] = document["components"]
    pin = libnfs_sources.SOURCE
    assert (component["name"], component["version"]) == ("libnfs", "7.0.0")
    assert component["hashes"] == [{"alg": "SHA-256", "content": pin.tar_sha256}]
    assert component["licenses"] == [{"expression": "LGPL-2.1-or-later AND BSD-2-Clause"}]
    properties = {p["name"]: p["value"] for p in component["properties"]}
    assert properties["nfs-sidecar:file-sha256"] == hashlib.sha256(library).hexdigest()
    assert properties["nfs-sidecar:architecture"] == arch
    assert document["metadata"]["component"]["version"] == build_script.project_version(
        ROOT / "pyproject.toml"
    )
    # Which interpreters compiled the bytecode: the .pyc bytes depend on their versions.
    compiled_by = [p["value"] for p in document["metadata"]["component"]["properties"]]
    assert [v.rsplit(".", 1)[0] for v in compiled_by] == [f"CPython {v}" for v in pythons]
    # The validator does reject a broken document.
    broken = dict(document, components=[dict(component, hashes=[{"alg": "SHA-256"}])])
    assert validator.validate_str(json.dumps(broken)) is not None


@pytest.mark.parametrize("arch", ARCHES)
def test_zip_entries_are_normalised(host_zips: dict[str, Path], arch: str) -> None:
    with zipfile.ZipFile(host_zips[arch]) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.create_system == 3
        assert info.compress_type == zipfile.ZIP_DEFLATED
        mode = info.external_attr >> 16
        assert stat.S_ISREG(mode), info.filename
        assert stat.S_IMODE(mode) == (0o755 if info.filename == LIB else 0o644), info.filename


# --- reproducibility ---------------------------------------------------------------------------


def clone_and_build(into: Path, cache: Path) -> dict[str, bytes]:
    """Clones the project's HEAD into ``into`` and builds both zips there with ``cache``."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(into)], check=True)
    out = {}
    for arch in ARCHES:
        result = subprocess.run(
            ["python3", "build/build.py", "--arch", arch, "--build-in", "host",
             "--out", str(into / "dist"), "--cache", str(cache), "--source-cache", str(CACHE)],
            cwd=into, capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        [zip_path] = (into / "dist").glob(f"*-{arch}.zip")
        out[arch] = zip_path.read_bytes()
        out[f"{arch} log"] = result.stdout.encode()
    return out


def test_two_clones_in_different_folders_build_identical_zips(
    host_zips: dict[str, Path], tmp_path: Path
) -> None:
    """Clone A compiles libnfs itself (an empty cache of its own); clone B takes the library the
    project's own build compiled (the shared cache). Both zips, library included, are the same
    bytes: nothing of the folder, the time or the machine's name gets in."""
    a = clone_and_build(tmp_path / "first clone", tmp_path / "cache-a")
    b = clone_and_build(tmp_path / "elsewhere" / "second-clöne", CACHE)
    for arch in ARCHES:
        assert b"compiled on the host path" in a[f"{arch} log"]
        assert b"from the build cache" not in a[f"{arch} log"], "clone A must compile"
        assert b"from the build cache" in b[f"{arch} log"]
        assert hashlib.sha256(a[arch]).hexdigest() == hashlib.sha256(b[arch]).hexdigest(), arch


@pytest.mark.parametrize("arch", ARCHES)
def test_a_second_build_takes_the_library_from_the_cache(
    host_zips: dict[str, Path], function_dir: Path, arch: str, tmp_path: Path, capsys
) -> None:
    again = build_script.build(arch, "host", tmp_path, function_dir, CACHE)
    assert "from the build cache" in capsys.readouterr().out
    assert again.read_bytes() == host_zips[arch].read_bytes()


def test_the_cache_key_covers_every_input(monkeypatch: pytest.MonkeyPatch) -> None:
    key = build_script.library_key("x86_64", "host", "gcc 12")
    assert build_script.library_key("arm64", "host", "gcc 12") != key
    assert build_script.library_key("x86_64", "container", "gcc 12") != key
    assert build_script.library_key("x86_64", "host", "gcc 13") != key
    monkeypatch.setattr(build_script, "COMPILE_SCRIPT_SHA256", "0" * 64)
    assert build_script.library_key("x86_64", "host", "gcc 12") != key
    monkeypatch.undo()
    other = libnfs_sources.SourcePin(**{**libnfs_sources.SOURCE.__dict__, "tar_sha256": "1" * 64})
    monkeypatch.setattr(libnfs_sources, "SOURCE", other)
    assert build_script.library_key("x86_64", "host", "gcc 12") != key


@pytest.mark.parametrize("arch", ARCHES)
def test_sha256_file_matches_the_zip(host_zips: dict[str, Path], arch: str) -> None:
    path = host_zips[arch]
    sha_file = path.with_name(path.name + ".sha256")
    assert sha_file.read_text() == f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
    check = subprocess.run(["sha256sum", "-c", sha_file.name], cwd=path.parent, capture_output=True)
    assert check.returncode == 0, check.stdout


def test_file_dates_and_order_on_disk_do_not_matter(tmp_path: Path) -> None:
    entries = [("b.py", b"b"), ("a/c.py", b"c"), (LIB, b"\x7fELF")]
    lambda_zip.write_zip(tmp_path / "one.zip", entries)
    lambda_zip.write_zip(tmp_path / "two.zip", list(reversed(entries)))
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()


def test_function_files_leave_out_caches_tests_and_hidden_files(tmp_path: Path) -> None:
    from tests.build.conftest import make_fake_function

    fn = make_fake_function(tmp_path)
    assert sorted(lambda_zip.function_files(fn)) == [
        "lambda_function.py",
        "nfs_sidecar/__init__.py",
        "nfs_sidecar/config.py",
    ]


def test_bundling_what_the_runtime_has_is_refused(tmp_path: Path) -> None:
    from tests.build.conftest import make_fake_function

    fn = make_fake_function(tmp_path)
    (fn / "boto3").mkdir()
    (fn / "boto3" / "__init__.py").write_text("")
    with pytest.raises(ValueError, match="runtime provides"):
        lambda_zip.function_files(fn)


def test_symlinks_are_refused(tmp_path: Path) -> None:
    from tests.build.conftest import make_fake_function

    fn = make_fake_function(tmp_path)
    (fn / "link.py").symlink_to(fn / "lambda_function.py")
    with pytest.raises(ValueError, match="symlinks"):
        lambda_zip.function_files(fn)


def test_missing_function_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(build_script.BuildError, match=r"lambda_function\.py not found"):
        build_script.build("x86_64", "host", tmp_path / "dist", tmp_path, CACHE)


# --- the pinned source -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tar_stream(host_zips: dict[str, Path]) -> bytes:
    """The pinned release's tar stream (the build has verified and cached the archive)."""
    return gzip.decompress((CACHE / libnfs_sources.SOURCE.filename).read_bytes())


def test_the_pin_does_not_depend_on_the_compression(tar_stream: bytes, tmp_path: Path) -> None:
    pin = libnfs_sources.SOURCE
    for suffix, content in (
        (".tar", tar_stream),
        (".tar.xz", lzma.compress(tar_stream)),
        (".tar.gz", gzip.compress(tar_stream, compresslevel=1)),
    ):
        copy = tmp_path / f"copy{suffix}"
        copy.write_bytes(content)
        assert libnfs_sources.tar_stream_sha256(copy) == pin.tar_sha256, suffix


def test_a_tampered_source_cache_fails_and_is_left_alone(tar_stream: bytes, tmp_path: Path) -> None:
    given = tmp_path / "given"
    given.mkdir()
    tampered = bytearray(tar_stream)
    tampered[5000] ^= 1
    (given / libnfs_sources.SOURCE.filename).write_bytes(gzip.compress(bytes(tampered)))
    with pytest.raises(libnfs_sources.SourceError, match="not the pinned"):
        libnfs_sources.fetch_source(tmp_path / "cache", given)
    assert (given / libnfs_sources.SOURCE.filename).exists()  # the caller's file
    assert not (tmp_path / "cache" / libnfs_sources.SOURCE.filename).exists()


def test_a_source_cache_without_the_archive_says_so(tmp_path: Path) -> None:
    with pytest.raises(libnfs_sources.SourceError, match=r"holds no libnfs-7\.0\.0\.tar\.gz"):
        libnfs_sources.fetch_source(tmp_path / "cache", tmp_path)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local web server for the download path: (base URL, folder it serves)."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):  # type: ignore[no-untyped-def]
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    thread.join(timeout=10)


def test_the_source_is_downloaded_and_verified(
    http_server: tuple[str, Path], tar_stream: bytes, tmp_path: Path, monkeypatch
) -> None:
    base, root = http_server
    monkeypatch.delenv("LIBNFS_SOURCE_CACHE", raising=False)
    (root / "good.tar.xz").write_bytes(lzma.compress(tar_stream))  # another compressor
    cache = tmp_path / "cache"
    got = libnfs_sources.fetch_source(cache, url=f"{base}/good.tar.xz")
    assert got == cache / libnfs_sources.SOURCE.filename
    assert libnfs_sources.tar_stream_sha256(got) == libnfs_sources.SOURCE.tar_sha256
    # Verified again from the cache, without the network.
    assert libnfs_sources.fetch_source(cache, url=f"{base}/gone") == got


def test_a_tampered_download_is_deleted_and_fails(
    http_server: tuple[str, Path], tar_stream: bytes, tmp_path: Path, monkeypatch
) -> None:
    base, root = http_server
    monkeypatch.delenv("LIBNFS_SOURCE_CACHE", raising=False)
    (root / "bad.tar").write_bytes(tar_stream[:-1024] + b"\0" * 1024 + b"x")
    cache = tmp_path / "cache"
    with pytest.raises(libnfs_sources.SourceError, match="not the pinned"):
        libnfs_sources.fetch_source(cache, url=f"{base}/bad.tar")
    assert list(cache.iterdir()) == []


def test_an_unreachable_upstream_names_the_source_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("LIBNFS_SOURCE_CACHE", raising=False)
    with pytest.raises(libnfs_sources.SourceError, match="LIBNFS_SOURCE_CACHE=<folder>"):
        libnfs_sources.fetch_source(tmp_path, url="http://127.0.0.1:9/libnfs.tar.gz")


# --- choosing the build path -------------------------------------------------------------------


def fake_engine(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text("#!/bin/bash\n" + script)
    (bin_dir / name).chmod(0o755)


@pytest.fixture
def only_fake_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with the basic tools but no real docker/podman; fake ones go into the returned dir."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/local/sbin:/usr/sbin:/sbin")
    for tool in ("bash", "cp", "mkdir", "cat"):
        (bin_dir / tool).symlink_to(f"/bin/{tool}")
    return bin_dir


def test_auto_picks_host_without_a_container_engine(only_fake_engines: Path) -> None:
    fake_engine(
        only_fake_engines, "docker", 'echo "Cannot connect to the Docker daemon" >&2; exit 1\n'
    )
    path, engine, why = build_script.choose_build_path("auto")
    assert (path, engine) == ("host", None)
    assert "`docker info` failed: Cannot connect to the Docker daemon" in why
    assert "podman not installed" in why


def test_auto_picks_the_container_when_an_engine_answers(only_fake_engines: Path) -> None:
    fake_engine(only_fake_engines, "podman", "exit 0\n")
    assert build_script.choose_build_path("auto") == (
        "container",
        "podman",
        "auto: `podman info` succeeded",
    )


def test_host_can_be_forced_even_with_an_engine(only_fake_engines: Path) -> None:
    fake_engine(only_fake_engines, "docker", "exit 0\n")
    assert build_script.choose_build_path("host")[0] == "host"


def test_container_without_an_engine_says_how_to_get_one(only_fake_engines: Path) -> None:
    with pytest.raises(build_script.BuildError, match=r"no container engine works here.*Install"):
        build_script.choose_build_path("container")


def test_container_path_runs_the_compile_script_in_the_pinned_image(
    only_fake_engines: Path,
    tmp_path: Path,
    function_dir: Path,
    host_zips: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The container plumbing end to end, with a stand-in docker: it records its arguments and,
    for `run`, puts an arm64 libnfs 7 where compile-libnfs.sh would write its output."""
    lib = zipped_library(host_zips["arm64"], tmp_path)
    fake_engine(
        only_fake_engines,
        "docker",
        f"""
printf '%s\t' "$@" >> "{tmp_path}/docker-args"  # tab-separated: paths may have spaces
echo >> "{tmp_path}/docker-args"
[ "$1" = run ] || exit 0
for arg in "$@"; do case "$arg" in *:/opt/out) out="${{arg%:/opt/out}}" ;; esac; done
cp "{lib}" "${{out:?no /opt/out mount}}/libnfs.so.17"
""",
    )
    cache = tmp_path / "cache"  # not the shared one: no stand-in library must be cached there
    zip_path = build_script.build("arm64", "auto", tmp_path / "dist", function_dir, cache, CACHE)

    out = capsys.readouterr().out
    assert "build path: container (auto: `docker info` succeeded)" in out
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.read(LIB) == lib.read_bytes()
    calls = (tmp_path / "docker-args").read_text().splitlines()
    info, args = (call.rstrip("\t").split("\t") for call in calls)
    assert info == ["info"]
    assert args[:4] == ["run", "--rm", "--platform", "linux/arm64"]
    assert build_script.BUILD_IMAGES["arm64"] in args
    tarball = cache / libnfs_sources.SOURCE.filename
    assert f"{BUILD_DIR / 'compile-libnfs.sh'}:/opt/build/compile-libnfs.sh:ro" in args
    assert f"{tarball}:/opt/build/{tarball.name}:ro" in args
    assert args[-4:] == [
        "/opt/build/compile-libnfs.sh",
        f"/opt/build/{tarball.name}",
        "/opt/out",
        "aarch64",
    ]
    # Cached by its inputs: the image is one of them.
    key = build_script.library_key("arm64", "container", build_script.BUILD_IMAGES["arm64"])
    assert (cache / f"libnfs.so.17-arm64-{key}").read_bytes() == lib.read_bytes()


def test_container_result_for_the_wrong_arch_is_refused(
    only_fake_engines: Path, tmp_path: Path, function_dir: Path, host_zips: dict[str, Path]
) -> None:
    lib = zipped_library(host_zips["x86_64"], tmp_path)
    fake_engine(
        only_fake_engines,
        "docker",
        f"""[ "$1" = run ] || exit 0
for arg in "$@"; do case "$arg" in *:/opt/out) out="${{arg%:/opt/out}}" ;; esac; done
cp {lib} "${{out:?no /opt/out mount}}/libnfs.so.17"
""",
    )
    cache = tmp_path / "cache"  # not the shared one: a bad library must not be cached there
    with pytest.raises(build_script.BuildError, match="not arm64"):
        build_script.build(
            "arm64", "container", tmp_path / "dist", function_dir, cache, CACHE.resolve()
        )
    assert not (tmp_path / "dist").exists()


# --- the compile recipe ------------------------------------------------------------------------


def test_compile_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(BUILD_DIR / "compile-libnfs.sh")], check=True)


def test_compile_script_names_a_missing_compiler(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(BUILD_DIR / "compile-libnfs.sh"), "src.tar.gz", str(tmp_path),
         os.uname().machine],
        capture_output=True, text=True, env={**os.environ, "CC": "no-such-gcc"},
    )  # fmt: skip
    assert result.returncode == 1
    assert "missing no-such-gcc" in result.stderr and "apt-get install" in result.stderr


@pytest.mark.build
def test_make_build_prints_the_path_and_the_library(tmp_path: Path, function_dir: Path) -> None:
    result = subprocess.run(
        ["python3", str(BUILD_DIR / "build.py"), "--arch", "arm64", "--build-in", "host",
         "--out", str(tmp_path), "--function-dir", str(function_dir), "--cache", str(CACHE)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "build path: host (BUILD_IN=host was asked for)" in result.stdout
    assert "libnfs: libnfs 7.0.0 compiled on the host path (aarch64-linux-gnu-gcc" in result.stdout
    assert "checked libnfs.so.17: arm64, needs libc.so.6" in result.stdout
    version = build_script.project_version(ROOT / "pyproject.toml")
    assert (tmp_path / f"nfs-sidecar-{version}-arm64.zip").is_file()
    assert (tmp_path / f"nfs-sidecar-{version}-arm64.cdx.json").is_file()
