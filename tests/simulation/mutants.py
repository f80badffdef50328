"""Mutants of the write protocol: each breaks one of its rules. The simulation must catch each.

A mutant is a SidecarWriter subclass (and, for the sweep, a patched module function); applying
one never changes the protocol's own code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from nfs_sidecar import sweep
from nfs_sidecar.message import Notification
from nfs_sidecar.nfs.client import Entry
from nfs_sidecar.nfs.conversation import Conversation, call
from nfs_sidecar.sidecar import Held, SidecarWriter, _Write, order_key_of


class NoLock(SidecarWriter):
    """Replaces a sidecar without taking its lock."""

    def _lock(self, w: _Write, wait_s: float) -> Conversation[None]:
        return
        yield


class RenameNotLink(SidecarWriter):
    """Publishes a new sidecar by RENAME (which replaces) instead of LINK (which never does)."""

    def _link(self, w: _Write) -> Conversation[bool]:
        yield from call(self.client.rename(w.dir_fh, w.tmp_name, w.dir_fh, w.sidecar_name))
        w.made.remove(w.tmp_name)
        return True


class NoComparison(SidecarWriter):
    """Replaces the current sidecar without reading which notification it is for."""

    def _newer(self, sidecar: bytes, note: Notification, where: str) -> bool:
        return False


class TieBreakReversed(SidecarWriter):
    """Breaks a tie of publish times by message id the other way round, on the lock path only
    (a batch still sorts its notifications the right way)."""

    def _newer(self, sidecar: bytes, note: Notification, where: str) -> bool:
        key, mine = order_key_of(sidecar, note, where), note.order_key
        return key[0] > mine[0] or (key[0] == mine[0] and key[1] < mine[1])


class ReadAheadTrusted(SidecarWriter):
    """Trusts what it read of the sidecar before it held the lock, without checking that the
    sidecar is still that file."""

    def _unchanged(self, seen: Entry, now: Entry) -> bool:
        return True


class NameAlone(SidecarWriter):
    """Recognises its own orphaned lock by its name (and age) alone, not as the same file."""

    def _still_mine(self, dir_fh: bytes, name: str, lock: object) -> Conversation[bool]:
        return self.clock() - lock.taken < self.lock_stale_ns / 2e9  # type: ignore[attr-defined]
        yield


class UnansweredLockByName(SidecarWriter):
    """Takes a lock whose CREATE went unanswered for its own by its name (and age), not by the
    access time its CREATE set."""

    def _still_mine(self, dir_fh: bytes, name: str, lock: Held) -> Conversation[bool]:
        if lock.fh:
            return (yield from super()._still_mine(dir_fh, name, lock))
        return self.clock() - lock.taken < self.lock_stale_ns / 2e9


class FunctionClock(SidecarWriter):
    """Judges a lock's age by the function's own clock, not the server's."""

    def _server_clock(self, reference: object) -> object:
        return self.wall_ns


class NoFolderCheck(SidecarWriter):
    """Trusts a cached folder handle without checking it (a folder replaced by rename)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.folders.check = lambda folder: []  # type: ignore[method-assign]


@contextlib.contextmanager
def sweep_ignoring_age() -> Iterator[None]:
    """The sweep removes leftovers whatever their age (a live writer's too)."""
    original = sweep.is_stale
    sweep.is_stale = lambda *_: True  # type: ignore[assignment]
    try:
        yield
    finally:
        sweep.is_stale = original


MUTANTS: dict[str, tuple[type[SidecarWriter], object]] = {
    "replacement without the lock": (NoLock, None),
    "new sidecar published by RENAME instead of LINK": (RenameNotLink, None),
    "comparison with the current sidecar skipped": (NoComparison, None),
    "message-id tie-break reversed on one path": (TieBreakReversed, None),
    "sidecar read before the lock trusted": (ReadAheadTrusted, None),
    "own names recognised by name alone": (NameAlone, None),
    "unanswered lock taken by its name": (UnansweredLockByName, None),
    "lock age by the function's clock": (FunctionClock, None),
    "no check of cached folders": (NoFolderCheck, None),
    "a sweep that ignores age": (SidecarWriter, sweep_ignoring_age),
}


@contextlib.contextmanager
def applied(name: str | None) -> Iterator[type[SidecarWriter]]:
    """The writer class of the mutant ``name`` (None: the protocol as it is), patches applied."""
    if name is None:
        yield SidecarWriter
        return
    writer_class, patch = MUTANTS[name]
    with patch() if patch else contextlib.nullcontext():  # type: ignore[operator]
        yield writer_class
