"""The local executor's checks of what its sandbox user can reach (pure logic on real folders)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.executor.nfs_sidecar_local_executor.sandbox import (
    blocked_on_the_way,
    copy_readable,
    unreachable_reason,
)

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder anyone may enter (pytest's own tmp is private to its user)."""
    path = Path(tempfile.mkdtemp(prefix="nfs-sidecar-sandbox-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def nobody_can_enter(path: Path) -> bool:
    run = subprocess.run(["runuser", "-u", "nobody", "--", "test", "-x", str(path)])
    return run.returncode == 0


def make(path: Path, mode: int, owner: tuple[int, int] | None = None) -> Path:
    path.mkdir(parents=True)
    path.chmod(mode)
    if owner:
        os.chown(path, *owner)
    return path


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("needs root: chown and runuser (run the tests as root)")


def test_open_folders_all_the_way(base: Path) -> None:
    leaf = make(base / "new comer ü" / "p", 0o755)
    (base / "new comer ü").chmod(0o755)
    assert blocked_on_the_way(leaf, NOBODY.pw_uid, NOBODY.pw_gid) is None
    assert unreachable_reason(leaf, "nobody", NOBODY.pw_uid, NOBODY.pw_gid) is None
    assert nobody_can_enter(leaf)


def test_a_private_folder_on_the_way_is_named(base: Path) -> None:
    private = make(base / "private", 0o700)
    leaf = make(private / "new comer ü" / "p", 0o755)
    assert blocked_on_the_way(leaf, NOBODY.pw_uid, NOBODY.pw_gid) == private
    reason = unreachable_reason(leaf, "nobody", NOBODY.pw_uid, NOBODY.pw_gid)
    assert reason is not None
    assert f"cannot enter {private} (mode 0700" in reason
    assert "LOCAL_EXECUTOR_ROOT" in reason
    assert not nobody_can_enter(leaf)
    # root may enter anything
    assert blocked_on_the_way(leaf, 0, 0) is None


def test_owner_and_group_bits_count_for_the_owner_and_the_group(base: Path) -> None:
    owned = make(base / "owned", 0o700, owner=(NOBODY.pw_uid, 0))
    grouped = make(base / "grouped", 0o750, owner=(0, NOBODY.pw_gid))
    assert blocked_on_the_way(owned, NOBODY.pw_uid, NOBODY.pw_gid) is None
    assert blocked_on_the_way(grouped, NOBODY.pw_uid, NOBODY.pw_gid) is None
    assert nobody_can_enter(owned)
    assert nobody_can_enter(grouped)
    # A folder only the others' bits would open, but the user is its owner: blocked.
    owner_closed = make(base / "owner-closed", 0o075, owner=(NOBODY.pw_uid, 0))
    assert blocked_on_the_way(owner_closed, NOBODY.pw_uid, NOBODY.pw_gid) == owner_closed
    assert not nobody_can_enter(owner_closed)


def test_copy_readable_opens_a_private_tree(base: Path) -> None:
    src = make(base / "src", 0o700)
    make(src / "pkg", 0o700)
    (src / "pkg" / "mod.py").write_text("x = 1\n")
    (src / "pkg" / "mod.py").chmod(0o600)
    (src / "tool").write_text("#!/bin/sh\n")
    (src / "tool").chmod(0o700)
    copy_readable(src, base / "dst")
    modes = [stat.S_IMODE((base / "dst" / p).stat().st_mode) for p in (".", "pkg", "tool")]
    assert modes == [0o755, 0o755, 0o755]
    assert stat.S_IMODE((base / "dst" / "pkg" / "mod.py").stat().st_mode) == 0o644
