"""Which Python interpreter serves each supported Lambda runtime: one discovery for the Makefile
(`make test`'s per-runtime function tests, `make deps`), the build (the zip's bytecode) and the
tests. Standard library only; runs under the distribution's python3.

For each version (3.12, 3.13): $BUILD_PYTHONS (paths, space-separated) when set and nothing else;
otherwise, first that runs as that version, python3.X on PATH, the newest pyenv one
(~/.pyenv/versions/3.X.*), the newest uv-managed one (`uv python install 3.X`, under
$UV_PYTHON_INSTALL_DIR or ~/.local/share/uv/python).

    python3 build/pythons.py paths     # the interpreters found, one per line (for make)
    python3 build/pythons.py report    # version, path and where it came from; what is missing
    python3 build/pythons.py install   # `uv python install` what is missing (uv from PyPI)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# The Lambda Python runtimes the function supports (the Makefile's LAMBDA_PYTHONS, the Terraform
# module's var.runtime; a test keeps them equal).
LAMBDA_PYTHONS = ("3.12", "3.13")
ROOT = Path(__file__).resolve().parents[1]
# uv installed from PyPI by `install` when none is on PATH: a venv of its own, as PEP 668 forbids
# pip outside one on Debian 12+ and Ubuntu 24.04.
UV_VENV = ROOT / ".venv-uv"


class InterpreterError(RuntimeError):
    pass


def interpreter_version(python: str) -> str:
    """ "3.12" for a Python 3.12 interpreter; InterpreterError if it does not run."""
    try:
        result = subprocess.run(
            [python, "-I", "-S", "-c", 'import sys; print("%d.%d" % sys.version_info[:2])'],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InterpreterError(f"{python} does not run: {e}") from e
    if result.returncode != 0:
        raise InterpreterError(f"{python} failed to report its version: {result.stderr.strip()}")
    return result.stdout.strip()


def _runs_as(python: str, version: str) -> bool:
    try:
        return interpreter_version(python) == version
    except InterpreterError:
        return False


def _newest(paths: list[tuple[tuple[int, ...], Path]]) -> str | None:
    found = [(v, p) for v, p in paths if p.is_file()]
    return str(max(found)[1]) if found else None


def pyenv_python(version: str) -> str | None:
    """The newest pyenv interpreter of ``version`` (3.12.10 after 3.12.9)."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    return _newest(
        [
            (tuple(int(n) for n in p.name.split(".")), p / "bin" / "python3")
            for p in root.glob(f"{version}.*")
            if re.fullmatch(r"\d+\.\d+\.\d+", p.name)
        ]
    )


def uv_python_dir() -> Path:
    """Where `uv python install` puts interpreters (uv's documented default and override)."""
    if os.environ.get("UV_PYTHON_INSTALL_DIR"):
        return Path(os.environ["UV_PYTHON_INSTALL_DIR"])
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "uv" / "python"


def uv_python(version: str) -> str | None:
    """The newest uv-managed CPython of ``version`` (cpython-3.12.11-linux-x86_64-gnu/...)."""
    found = []
    for p in uv_python_dir().glob(f"cpython-{version}.*"):
        m = re.match(r"cpython-(\d+)\.(\d+)\.(\d+)-", p.name)
        if m and "freethreaded" not in p.name:
            found.append((tuple(int(n) for n in m.groups()), p / "bin" / f"python{version}"))
    return _newest(found)


def candidates(version: str) -> list[tuple[str, str]]:
    """[(path, where it came from)] in the order of preference, maybe not running."""
    out = []
    for where, path in (
        ("PATH", shutil.which(f"python{version}")),
        ("pyenv", pyenv_python(version)),
        ("uv", uv_python(version)),
    ):
        if path is not None:
            out.append((path, where))
    return out


def discover(versions: tuple[str, ...] = LAMBDA_PYTHONS) -> dict[str, tuple[str, str]]:
    """{version: (path, where)} of the versions found; $BUILD_PYTHONS, if set, is all there is."""
    found: dict[str, tuple[str, str]] = {}
    given = os.environ.get("BUILD_PYTHONS", "").split()
    if given:
        for python in given:
            found.setdefault(interpreter_version(python), (python, "BUILD_PYTHONS"))
        return {v: found[v] for v in versions if v in found}
    for version in versions:
        # pyenv's shims are on PATH whether or not they answer: take what runs as that version.
        for path, where in candidates(version):
            if _runs_as(path, version):
                found[version] = (path, where)
                break
    return found


def how_to_install(version: str) -> str:
    return (
        f"`make deps` (uv python install {version}), pyenv install {version}, your "
        f"distribution's python{version} package, or name it: "
        f"BUILD_PYTHONS='/path/python{version} ...'"
    )


def _uv() -> str:
    """A uv executable: PATH's, else one installed from PyPI into .venv-uv."""
    on_path = shutil.which("uv")
    if on_path:
        return on_path
    uv = UV_VENV / "bin" / "uv"
    if not uv.is_file():
        print(f"installing uv (PyPI) into {UV_VENV.name}/ for the missing Pythons", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(UV_VENV)], check=True)
        subprocess.run(
            [str(UV_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "uv"], check=True
        )
    return str(uv)


def install_missing() -> int:
    """`uv python install` each missing version; says what stays missing (never fails: a local
    build goes on without it, and CI's insists)."""
    missing = [v for v in LAMBDA_PYTHONS if v not in discover()]
    if not missing or os.environ.get("BUILD_PYTHONS"):
        return 0
    try:
        uv = _uv()
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"!! could not install uv to fetch Python {' '.join(missing)}: {e}", file=sys.stderr)
        return 0
    for version in missing:
        print(f"installing Python {version} with uv (a Lambda runtime not here)", flush=True)
        run = subprocess.run(
            [uv, "python", "install", version], capture_output=True, text=True, timeout=600
        )
        if run.returncode != 0 or uv_python(version) is None:
            said = [ln.strip() for ln in (run.stderr or run.stdout).splitlines() if ln.strip()]
            # uv says what failed first and the root cause last.
            reason = [" ... ".join(dict.fromkeys(said[:1] + said[-1:]))] if said else ["no python"]
            print(
                f"!! Python {version} NOT installed: `uv python install {version}` failed "
                f"({reason[0]}). Builds here ship no bytecode for python{version}; install it: "
                f"{how_to_install(version)}",
                file=sys.stderr,
            )
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "report"
    try:
        if command == "install":
            return install_missing()
        found = discover()
    except InterpreterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if command == "paths":
        print("\n".join(path for path, _ in found.values()))
        return 0
    if command == "report":
        for version in LAMBDA_PYTHONS:
            if version in found:
                print(f"python{version}: {found[version][0]} ({found[version][1]})")
            else:
                print(f"python{version}: MISSING; install it: {how_to_install(version)}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
