"""The NFS client layer (nfs_sidecar/nfs) never imports the application: its ruff.toml bans every
application module, and this test keeps that list equal to the modules that exist."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "function" / "nfs_sidecar"
RUFF_TOML = PACKAGE / "nfs" / "ruff.toml"


def test_every_application_module_is_banned_in_the_nfs_layer() -> None:
    banned = tomllib.loads(RUFF_TOML.read_text())["lint"]["flake8-tidy-imports"]["banned-api"]
    modules = {f"nfs_sidecar.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert set(banned) == modules, f"update {RUFF_TOML.relative_to(ROOT)}'s banned-api"


def test_the_nfs_layer_imports_without_the_application() -> None:
    """Importing every client module loads no application module (also none imported lazily at
    import time)."""
    code = (
        "import sys, pkgutil, importlib, nfs_sidecar.nfs as n\n"
        "for m in pkgutil.iter_modules(n.__path__):\n"
        "    importlib.import_module(f'{n.__name__}.{m.name}')\n"
        "print(sorted(k for k in sys.modules if k.startswith('nfs_sidecar.')"
        " and not k.startswith('nfs_sidecar.nfs')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / "function",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[]", out
