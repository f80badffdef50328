"""The one interpreter discovery (build/pythons.py): where it looks, in which order, that the
Makefile and the build use it, and what a missing Lambda Python costs locally and in CI.

The interpreters here are stand-ins (shell scripts answering a version), so these tests do not
depend on which Pythons the machine has."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import bytecode  # build/*.py, on sys.path through conftest
import pytest
import pythons

from tests.build.conftest import CACHE, ROOT, build_script, make_fake_function


def fake_python(path: Path, version: str, works: bool = True) -> Path:
    """An executable that answers ``version`` the way pythons.py asks (or fails, like a pyenv
    shim for a version pyenv does not have)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n" if works else "#!/bin/sh\nexit 127\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An environment with no interpreter anywhere: empty PATH folder, pyenv and uv roots."""
    for name in ("BUILD_PYTHONS", "CI", "REQUIRE_ALL_PYTHONS", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "uv"))
    monkeypatch.setattr(pythons.shutil, "which", lambda name: _which(tmp_path / "bin", name))
    return tmp_path


def _which(folder: Path, name: str) -> str | None:
    """shutil.which restricted to the fake PATH folder: the real /usr/bin may hold python3.13."""
    path = folder / name
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def test_the_lambda_pythons_are_the_makefiles_and_the_builds() -> None:
    makefile = (ROOT / "Makefile").read_text()
    listed = next(line for line in makefile.splitlines() if line.startswith("LAMBDA_PYTHONS :="))
    assert tuple(listed.split(":=")[1].split()) == pythons.LAMBDA_PYTHONS
    assert bytecode.LAMBDA_PYTHONS == pythons.LAMBDA_PYTHONS


def test_path_then_pyenv_then_uv(machine: Path) -> None:
    assert pythons.discover() == {}
    uv12 = fake_python(machine / "uv/cpython-3.12.11-linux-x86_64-gnu/bin/python3.12", "3.12")
    fake_python(machine / "uv/cpython-3.12.3-linux-x86_64-gnu/bin/python3.12", "3.12")
    fake_python(machine / "uv/cpython-3.13.5+freethreaded-linux-x86_64-gnu/bin/python3.13", "3.13")
    assert pythons.discover() == {"3.12": (str(uv12), "uv")}, "the newest uv one, not free-threaded"
    pyenv12 = fake_python(machine / "pyenv/versions/3.12.10/bin/python3", "3.12")
    fake_python(machine / "pyenv/versions/3.12.9/bin/python3", "3.12")
    assert pythons.discover()["3.12"] == (str(pyenv12), "pyenv"), "3.12.10 is newer than 3.12.9"
    path12 = fake_python(machine / "bin/python3.12", "3.12")
    path13 = fake_python(machine / "bin/python3.13", "3.13")
    assert pythons.discover() == {"3.12": (str(path12), "PATH"), "3.13": (str(path13), "PATH")}


def test_a_path_python_that_does_not_run_is_passed_over(machine: Path) -> None:
    """pyenv's shims are on PATH for every version, answering only for those pyenv has: with
    pyenv's 3.12 present, the system's python3.13 must still be found (the old Makefile did not)."""
    fake_python(machine / "bin/python3.12", "3.12", works=False)
    real12 = fake_python(machine / "pyenv/versions/3.12.1/bin/python3", "3.12")
    fake_python(machine / "bin/python3.13", "3.11")  # a mislabelled one is no 3.13
    uv13 = fake_python(machine / "uv/cpython-3.13.5-linux-x86_64-gnu/bin/python3.13", "3.13")
    assert pythons.discover() == {"3.12": (str(real12), "pyenv"), "3.13": (str(uv13), "uv")}


def test_build_pythons_is_all_there_is(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_python(machine / "bin/python3.12", "3.12")
    given = fake_python(machine / "given/python", "3.13")
    monkeypatch.setenv("BUILD_PYTHONS", str(given))
    assert pythons.discover() == {"3.13": (str(given), "BUILD_PYTHONS")}
    monkeypatch.setenv("BUILD_PYTHONS", str(machine / "nothing-there"))
    with pytest.raises(pythons.InterpreterError, match="does not run"):
        pythons.discover()


def test_the_makefile_uses_the_same_discovery(machine: Path) -> None:
    """`make test`'s per-runtime tests iterate over what pythons.py finds: the very list."""
    p12 = fake_python(machine / "pyenv/versions/3.12.4/bin/python3", "3.12")
    p13 = fake_python(machine / "bin/python3.13", "3.13")
    env = {**os.environ, "PATH": f"{machine / 'bin'}:{os.environ['PATH']}"}
    run = subprocess.run(
        ["make", "-s", "--no-print-directory", "-C", str(ROOT), "-f", "Makefile", "-f-", "show"],
        input="show:\n\t@echo $(FOUND_PYTHONS)\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    # Through make, PATH's real python3.12 (if any) comes first; ours for 3.13 is on PATH first.
    found = run.stdout.split()
    assert str(p13) in found
    assert any(p == str(p12) or Path(p).name == "python3.12" for p in found), found
    assert "$(FOUND_PYTHONS)" in (ROOT / "Makefile").read_text().split("test-pythons:")[1]


def test_deps_installs_a_missing_python_with_uv(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make deps` (pythons.py install) runs `uv python install 3.X` for each missing version;
    here a stand-in uv installs 3.12 and fails for 3.13, which is then reported, not fatal."""
    log = machine / "uv-calls"
    fake_uv = machine / "bin" / "uv"
    fake_uv.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        'if [ "$3" = 3.12 ]; then\n'
        f'  d="{machine}/uv/cpython-3.12.12-linux-x86_64-gnu/bin"; mkdir -p "$d"\n'
        '  printf "#!/bin/sh\\necho 3.12\\n" > "$d/python3.12"; chmod 755 "$d/python3.12"\n'
        "else\n"
        '  echo "error: Failed to download https://github.com/...: connection refused" >&2\n'
        "  exit 2\n"
        "fi\n"
    )
    fake_uv.chmod(0o755)
    assert pythons.install_missing() == 0
    assert log.read_text().splitlines() == ["python install 3.12", "python install 3.13"]
    assert pythons.discover() == {
        "3.12": (str(machine / "uv/cpython-3.12.12-linux-x86_64-gnu/bin/python3.12"), "uv")
    }
    err = capsys.readouterr().err
    assert "Python 3.13 NOT installed" in err and "connection refused" in err
    assert "3.12 NOT" not in err
    # Nothing missing: uv is not called again.
    fake_python(machine / "bin/python3.13", "3.13")
    pythons.install_missing()
    assert len(log.read_text().splitlines()) == 2


def test_a_missing_python_fails_a_ci_build_saying_how_to_install_it(
    machine: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(bytecode.BytecodeError, match=r"no Python 3\.12, 3\.13 .*make deps"):
        bytecode.find_interpreters()
    monkeypatch.delenv("CI")
    monkeypatch.setenv("REQUIRE_ALL_PYTHONS", "1")
    with pytest.raises(bytecode.BytecodeError):
        build_script.build(
            "x86_64", "host", tmp_path / "dist", make_fake_function(tmp_path), tmp_path
        )
    assert not (tmp_path / "dist").exists(), "refused before anything was built"
    assert build_script.main(["--require-all-pythons", "--out", str(tmp_path / "d2")]) == 1
    assert not (tmp_path / "d2").exists()


@pytest.mark.build
def test_a_local_build_without_a_python_ships_the_rest_and_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """No Lambda Python at all (Debian 12 has 3.11 only): the zip is built, without bytecode,
    and the build says loudly which runtime lacks it and what that costs."""
    for name in ("CI", "REQUIRE_ALL_PYTHONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BUILD_PYTHONS", str(fake_python(tmp_path / "python3.11", "3.11")))
    zip_path = build_script.build(
        "x86_64", "host", tmp_path / "dist", make_fake_function(tmp_path), CACHE
    )
    names = zipfile.ZipFile(zip_path).namelist()
    assert "lambda_function.py" in names
    assert not [n for n in names if n.endswith(".pyc")]
    err = capfd.readouterr().err
    for version in pythons.LAMBDA_PYTHONS:
        assert f"no Python {version} in BUILD_PYTHONS" in err
        assert f"NO bytecode for the python{version} runtime" in err
    assert "every cold start" in err
    assert "NO bytecode for python3.12, python3.13" in err


def test_the_e2e_executor_is_told_of_uv_pythons(machine: Path) -> None:
    """The local-process Lambda executor looks on PATH, in pyenv and /usr/bin: a Python that
    `make deps` installed with uv reaches it through LOCAL_EXECUTOR_PYTHON_3_X."""
    from tests.e2e.localstack import uv_pythons

    uv13 = fake_python(machine / "uv/cpython-3.13.9-linux-x86_64-gnu/bin/python3.13", "3.13")
    fake_python(machine / "bin/python3.12", "3.12")  # the executor finds this one itself
    assert uv_pythons() == {"LOCAL_EXECUTOR_PYTHON_3_13": str(uv13)}
