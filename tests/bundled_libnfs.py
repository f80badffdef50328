"""The libnfs the tests and the bench load: the very bytes the Lambda zip bundles.

The zip for this machine's architecture is built on the host path (the compiled library comes from
the build cache, so this compiles libnfs only when nothing has yet) and its ``lib/libnfs.so.17`` is
written out, then loaded by path before anything else can load another copy. Standard library only:
the function tests also run under the other Lambda Python versions with nothing but pytest.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path

from tests import tiers

ROOT = Path(__file__).resolve().parent.parent
NATIVE_ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}[os.uname().machine]
WORK = ROOT / ".tmp" / "bundled-libnfs"


@functools.cache
def bundled_library() -> Path:
    """Builds (or reuses) the native zip and returns its libnfs, written out as a file."""
    tiers.require("the zip's libnfs (a build)", "build")
    if str(ROOT / "build") not in sys.path:
        sys.path.insert(0, str(ROOT / "build"))
    import build as build_script  # build/build.py

    with contextlib.redirect_stdout(io.StringIO()) as log:
        try:
            zip_path = build_script.build(
                NATIVE_ARCH, "host", WORK / "dist", ROOT / "function", ROOT / ".tmp" / "build-cache"
            )
        except Exception as exc:
            failure = f"building the zip for its libnfs failed: {exc}\n{log.getvalue()}"
            raise RuntimeError(failure) from exc
    with zipfile.ZipFile(zip_path) as zf:
        content = zf.read(f"lib/{build_script.libnfs_sources.LIBNFS_SONAME}")
    folder = WORK / hashlib.sha256(content).hexdigest()[:16]
    lib = folder / build_script.libnfs_sources.LIBNFS_SONAME
    if not lib.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        partial = lib.with_suffix(".part")
        partial.write_bytes(content)
        partial.replace(lib)
    return lib


def load_bundled_libnfs() -> Path:
    """Loads the zip's libnfs into this process; the function's clients then use it."""
    from nfs_sidecar.nfs import libnfs

    lib = bundled_library()
    libnfs.load_libnfs(str(lib))
    return lib
