"""Writes the Lambda deployment zip reproducibly: the same inputs give the same bytes.

Entries are sorted, every entry has the same timestamp (1980-01-01, the zip format's earliest) and
fixed Unix permissions (0644, 0755 for shared libraries), and are deflated at a fixed level. The
timestamp does not come from the commit: Terraform's source_code_hash then changes only when the
content does. No directory entries, no symlinks (the runtime unpacks plain files).
"""

from __future__ import annotations

import hashlib
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
COMPRESS_LEVEL = 9
# What never belongs in the zip: caches, tests, lint settings (ruff.toml), editor and OS droppings.
EXCLUDED_DIRS = {"__pycache__", "tests", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".orig", ".rej", ".swp", ".toml"}
# Packages the Lambda Python runtime already provides; bundling them is a mistake.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "awslambdaric"}


def function_files(function_dir: Path) -> dict[str, Path]:
    """{name in the zip: file} for the function's code: everything under function_dir but junk."""
    files = {}
    for path in sorted(function_dir.rglob("*")):
        rel = path.relative_to(function_dir)
        if any(part.startswith(".") or part in EXCLUDED_DIRS for part in rel.parts):
            continue
        if rel.parts[0].split("-")[0] in RUNTIME_PROVIDED or rel.parts[0].endswith(
            (".dist-info", ".egg-info")
        ):
            raise ValueError(f"{path}: the Lambda runtime provides this; do not bundle it")
        if path.is_symlink():
            raise ValueError(f"{path}: symlinks cannot go into a Lambda zip; use a plain file")
        if path.is_dir() or path.suffix in EXCLUDED_SUFFIXES or _is_test_module(rel.name):
            continue
        files[rel.as_posix()] = path
    return files


def _is_test_module(name: str) -> bool:
    return name == "conftest.py" or (name.startswith("test_") and name.endswith(".py"))


def _zip_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.create_system = 3  # Unix, so that external_attr carries permissions
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_zip(out: Path, entries: Iterable[tuple[str, bytes]]) -> None:
    """Writes (name, content) entries to `out`, sorted by name; .so files get mode 0755."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, content in sorted(entries):
            mode = 0o755 if ".so" in Path(name).suffixes else 0o644
            zf.writestr(_zip_info(name, mode), content, compresslevel=COMPRESS_LEVEL)
    tmp.replace(out)


def write_sha256(zip_path: Path) -> Path:
    """Writes `<zip>.sha256` in sha256sum's format (`sha256sum -c` checks it)."""
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    sidecar = zip_path.with_name(zip_path.name + ".sha256")
    sidecar.write_text(f"{digest}  {zip_path.name}\n")
    return sidecar
