"""The build: reproducible zips with exactly the function and the right libnfs, and how it picks
its path (host or container)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import elf_check  # build/*.py, on sys.path through conftest
import lambda_zip
import libnfs_sources
import pytest

from tests.build.conftest import ARCHES, BUILD_DIR, CACHE, FUNCTION_DIR, ROOT, build_script

LIB = "lib/libnfs.so.13"


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
        return {name.removeprefix("function/") for name in tracked}
    return {"lambda_function.py", "nfs_sidecar/__init__.py", "nfs_sidecar/config.py"}


# --- content -----------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHES)
def test_zip_holds_exactly_the_function_and_libnfs(
    host_zips: dict[str, Path], function_dir: Path, arch: str
) -> None:
    path = host_zips[arch]
    assert (
        path.name
        == f"nfs-sidecar-{build_script.project_version(ROOT / 'pyproject.toml')}-{arch}.zip"
    )
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert set(names) == expected_function_entries(function_dir) | {LIB}
    assert "lambda_function.py" in names
    assert any(n.startswith("nfs_sidecar/") for n in names)
    for name in names:
        assert "__pycache__" not in name and not name.endswith((".pyc", ".pyo")), name
        assert not name.startswith(("tests/", "boto3/", "botocore/")), name


@pytest.mark.parametrize("arch", ARCHES)
def test_bundled_libnfs_fits_the_runtime(
    host_zips: dict[str, Path], arch: str, tmp_path: Path
) -> None:
    """Every shared library in the zip: right architecture, glibc <= 2.34, nothing beyond libc."""
    with zipfile.ZipFile(host_zips[arch]) as zf:
        libraries = [n for n in zf.namelist() if ".so" in Path(n).suffixes]
        assert libraries == [LIB]
        for name in libraries:
            lib = tmp_path / Path(name).name
            lib.write_bytes(zf.read(name))
            assert elf_check.problems(lib, arch) == []
            info = elf_check.read_elf(lib)
            assert info.soname == Path(name).name
            assert info.newest_glibc <= elf_check.RUNTIME_GLIBC == (2, 34)
            assert set(info.needed) <= {
                "libc.so.6",
                "ld-linux-x86-64.so.2",
                "ld-linux-aarch64.so.1",
            }


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


@pytest.mark.parametrize("arch", ARCHES)
def test_building_twice_gives_identical_bytes(
    host_zips: dict[str, Path], function_dir: Path, arch: str, tmp_path: Path
) -> None:
    again = build_script.build(arch, "host", tmp_path, function_dir, CACHE)
    assert again.name == host_zips[arch].name
    assert again.read_bytes() == host_zips[arch].read_bytes()


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


# --- pinned downloads --------------------------------------------------------------------------


def test_a_tampered_download_is_deleted_and_fails_the_build(tmp_path: Path) -> None:
    pin = libnfs_sources.DEBIAN_DEBS["x86_64"]
    (tmp_path / pin.filename).write_bytes(b"not the pinned package")
    with pytest.raises(libnfs_sources.SourceError, match="does not match the pinned"):
        libnfs_sources.fetch(pin, [], tmp_path)
    assert not (tmp_path / pin.filename).exists()


def test_cached_downloads_are_verified_without_the_network(tmp_path: Path) -> None:
    pin = libnfs_sources.DEBIAN_DEBS["arm64"]
    cached = libnfs_sources.fetch_deb("arm64", CACHE)
    (tmp_path / pin.filename).write_bytes(cached.read_bytes())
    assert libnfs_sources.fetch(pin, [], tmp_path) == tmp_path / pin.filename


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
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The container plumbing end to end, with a stand-in docker: it records its arguments and,
    for `run`, puts a real (Debian) arm64 libnfs where compile-libnfs.sh would write its output."""
    lib = tmp_path / "built-libnfs.so.13"
    lib.write_bytes(
        libnfs_sources.library_from_deb(libnfs_sources.fetch_deb("arm64", CACHE), "arm64")
    )
    fake_engine(
        only_fake_engines,
        "docker",
        f"""
printf '%s\t' "$@" >> "{tmp_path}/docker-args"  # tab-separated: paths may have spaces
echo >> "{tmp_path}/docker-args"
[ "$1" = run ] || exit 0
for arg in "$@"; do case "$arg" in *:/opt/out) out="${{arg%:/opt/out}}" ;; esac; done
cp "{lib}" "${{out:?no /opt/out mount}}/libnfs.so.13"
""",
    )
    # The source tarball, as if already downloaded: a stand-in with its own pin.
    tarball = tmp_path / "cache" / "libnfs-4.0.0.tar.gz"
    tarball.parent.mkdir()
    tarball.write_bytes(b"source")
    pin = libnfs_sources.Pinned(tarball.name, hashlib.sha256(b"source").hexdigest(), 6)
    monkeypatch.setattr(libnfs_sources, "SOURCE", pin)

    zip_path = build_script.build("arm64", "auto", tmp_path / "dist", function_dir, tarball.parent)

    out = capsys.readouterr().out
    assert "build path: container (auto: `docker info` succeeded)" in out
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.read(LIB) == lib.read_bytes()
    calls = (tmp_path / "docker-args").read_text().splitlines()
    info, args, inspect = (call.rstrip("\t").split("\t") for call in calls)
    assert info == ["info"]
    assert inspect[:2] == ["image", "inspect"]
    assert args[:4] == ["run", "--rm", "--platform", "linux/arm64"]
    assert build_script.BUILD_IMAGE in args
    assert f"{BUILD_DIR / 'compile-libnfs.sh'}:/opt/build/compile-libnfs.sh:ro" in args
    assert f"{tarball}:/opt/build/libnfs-4.0.0.tar.gz:ro" in args
    assert args[-4:] == [
        "/opt/build/compile-libnfs.sh",
        "/opt/build/libnfs-4.0.0.tar.gz",
        "/opt/out",
        "aarch64",
    ]


def test_container_result_for_the_wrong_arch_is_refused(
    only_fake_engines: Path, tmp_path: Path, function_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = tmp_path / "built-libnfs.so.13"
    lib.write_bytes(
        libnfs_sources.library_from_deb(libnfs_sources.fetch_deb("x86_64", CACHE), "x86_64")
    )
    fake_engine(
        only_fake_engines,
        "docker",
        f"""[ "$1" = run ] || exit 0
for arg in "$@"; do case "$arg" in *:/opt/out) out="${{arg%:/opt/out}}" ;; esac; done
cp {lib} "${{out:?no /opt/out mount}}/libnfs.so.13"
""",
    )
    tarball = tmp_path / "libnfs-4.0.0.tar.gz"
    tarball.write_bytes(b"source")
    monkeypatch.setattr(
        libnfs_sources,
        "SOURCE",
        libnfs_sources.Pinned(tarball.name, hashlib.sha256(b"source").hexdigest(), 6),
    )
    with pytest.raises(build_script.BuildError, match="not arm64"):
        build_script.build("arm64", "container", tmp_path / "dist", function_dir, tmp_path)
    assert not (tmp_path / "dist").exists()


# --- the script that runs inside the build image -----------------------------------------------


def test_compile_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(BUILD_DIR / "compile-libnfs.sh")], check=True)


def test_compile_script_refuses_the_wrong_machine(tmp_path: Path) -> None:
    other = "aarch64" if os.uname().machine == "x86_64" else "x86_64"
    result = subprocess.run(
        ["bash", str(BUILD_DIR / "compile-libnfs.sh"), "src.tar.gz", str(tmp_path), other],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert f"the library is for {other}" in result.stderr
    assert "binfmt" in result.stderr


def test_make_build_prints_the_path_and_why(tmp_path: Path, function_dir: Path) -> None:
    result = subprocess.run(
        ["python3", str(BUILD_DIR / "build.py"), "--arch", "arm64", "--build-in", "host",
         "--out", str(tmp_path), "--function-dir", str(function_dir), "--cache", str(CACHE)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "build path: host (BUILD_IN=host was asked for)" in result.stdout
    assert "libnfs: Debian package libnfs13_4.0.0-1_arm64.deb (sha256 ok)" in result.stdout
    version = build_script.project_version(ROOT / "pyproject.toml")
    assert (tmp_path / f"nfs-sidecar-{version}-arm64.zip").is_file()


# --- the host path with this machine's libnfs --------------------------------------------------


def test_system_libnfs_can_be_bundled_for_this_machines_arch(
    tmp_path: Path, function_dir: Path
) -> None:
    native = {"x86_64": "x86_64", "aarch64": "arm64"}.get(os.uname().machine)
    assert native, f"{os.uname().machine} is not a Lambda architecture"
    if not any(Path("/usr/lib").glob("*-linux-gnu/libnfs.so.13")):
        pytest.fail("no system libnfs.so.13: apt-get install libnfs13 (make deps does)")
    zip_path = build_script.build(native, "host", tmp_path, function_dir, CACHE, "system")
    with zipfile.ZipFile(zip_path) as zf:
        lib = tmp_path / "libnfs.so.13"
        lib.write_bytes(zf.read(LIB))
    assert elf_check.problems(lib, native) == []


def test_system_libnfs_is_refused_for_another_arch(tmp_path: Path, function_dir: Path) -> None:
    other = "arm64" if os.uname().machine == "x86_64" else "x86_64"
    with pytest.raises(build_script.BuildError, match="only works for this machine's arch"):
        build_script.build(other, "host", tmp_path, function_dir, CACHE, "system")


def test_debian_mirrors_come_from_apt_even_before_apt_get_update(
    only_fake_engines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No release files yet: only --no-release-info lists the sources.
    fake_engine(
        only_fake_engines,
        "apt-get",
        """case "$*" in
  *--no-release-info*)
    printf '%s\\n' http://mirror.test/debian/ http://mirror.test/debian-security/ \\
      https://vendor.test/apt/ ;;
esac
""",
    )
    monkeypatch.delenv("DEBIAN_MIRROR", raising=False)
    assert libnfs_sources.debian_mirrors() == ["http://mirror.test/debian"]
    monkeypatch.setenv("DEBIAN_MIRROR", "http://local.test/debian/")
    assert libnfs_sources.debian_mirrors() == [
        "http://local.test/debian",
        "http://mirror.test/debian",
    ]


def test_debian_mirrors_prefer_apts_debian_origin(
    only_fake_engines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_engine(
        only_fake_engines,
        "apt-get",
        """case "$*" in
  *--no-release-info*) echo http://other.test/debian/ ;;
  *) printf '%s\\n' 'Debian http://deb.test/debian/' 'Vendor https://vendor.test/apt/' ;;
esac
""",
    )
    monkeypatch.delenv("DEBIAN_MIRROR", raising=False)
    assert libnfs_sources.debian_mirrors() == ["http://deb.test/debian"]
