"""Where the sandbox user's files go: folders it can reach wherever LocalStack and the checkout are.

The sandbox user (e.g. ``nobody``) must read the function's code and the bootstrap, and enter every
folder on the way to them. LocalStack's own folders may sit in a checkout that only its owner can
enter (mode 0700, as ``mktemp -d`` and many home folders are), so the executor copies what the user
needs into a root of its own: ``LOCAL_EXECUTOR_ROOT`` (the LocalStack launcher makes one per run)
or, when that is not set, a folder it makes under /tmp. Standard library only: the tests import
this module too.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path

# Not tempfile.gettempdir(): LocalStack's TMPDIR is a folder of its own, maybe in the checkout.
DEFAULT_PARENT = Path("/tmp")
_root: Path | None = None
_lock = threading.Lock()


def sandbox_root() -> Path:
    """The folder the per-version and per-environment folders go in (mode 0755)."""
    global _root
    with _lock:
        if _root is None:
            configured = os.environ.get("LOCAL_EXECUTOR_ROOT", "").strip()
            if configured:
                _root = Path(configured)
                _root.mkdir(parents=True, exist_ok=True)
            else:
                _root = Path(tempfile.mkdtemp(prefix="nfs-sidecar-lambda-", dir=DEFAULT_PARENT))
                atexit.register(shutil.rmtree, _root, ignore_errors=True)
            _root.chmod(0o755)
        return _root


def blocked_on_the_way(path: Path, uid: int, gid: int) -> Path | None:
    """The first folder from / down to ``path`` (included) that a process with this uid and only
    this gid (the sandbox drops its supplementary groups) may not enter; None when it may enter
    them all. Mode bits only, as the kernel checks them without ACLs."""
    if uid == 0:
        return None
    for folder in [*reversed(path.parents), path]:
        st = folder.stat()
        if st.st_uid == uid:
            search = stat.S_IXUSR
        elif st.st_gid == gid:
            search = stat.S_IXGRP
        else:
            search = stat.S_IXOTH
        if not st.st_mode & search:
            return folder
    return None


def unreachable_reason(path: Path, user: str, uid: int, gid: int) -> str | None:
    """Why ``user`` cannot reach ``path``, with the fix; None when it can."""
    blocked = blocked_on_the_way(path, uid, gid)
    if blocked is None:
        return None
    st = blocked.stat()
    return (
        f"the Lambda sandbox user {user} cannot enter {blocked} (mode "
        f"{stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}) on the way to {path}: "
        "set LOCAL_EXECUTOR_ROOT to a folder every user may enter (e.g. under /tmp)"
    )


def copy_readable(src: Path, dst: Path) -> None:
    """Copies a tree so that any user may read it (and run what was executable), like /var/task."""
    shutil.copytree(src, dst, symlinks=True)
    for root, dirs, files in os.walk(dst):
        os.chmod(root, 0o755)
        for name in files:
            p = Path(root, name)
            if not p.is_symlink():
                p.chmod(0o755 if p.stat().st_mode & 0o111 else 0o644)
        for name in dirs:
            os.chmod(Path(root, name), 0o755)
