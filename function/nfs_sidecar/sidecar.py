"""Writing one sidecar: atomically, in order, in few round trips.

For ``dir/name.ext`` with sidecar ``dir/name-sidecar.json`` (SIDECAR_NAMING=full_name:
``dir/name.ext-sidecar.json``), holding a handle for ``dir``:

1. LOOKUP the file (its attributes), CREATE a unique temp file
   ``.name-sidecar.json.<token>.tmp``, LOOKUP the sidecar (is one there?) and, for a cached
   ``dir``, LOOKUP each folder on its path (one round trip: all in flight together). A cached
   folder whose LOOKUP gives another handle was replaced (``mv d d.old; mv d.new d``): the write
   starts over on a fresh lookup;
2. WRITE the sidecar to the temp file with FILE_SYNC (on stable storage before the reply);
3. publish it:
   - no sidecar yet (the usual case): LINK the temp file as the sidecar. LINK never replaces, so
     of several writers racing to create it exactly one succeeds; the others take the next path;
   - a sidecar exists: the sidecar's lock is taken (CREATE, guarded, of
     ``.name-sidecar.json.lock``) and the sidecar READ in step 2's round trip, beside the WRITE.
     Under the lock a LOOKUP of the sidecar must find the very file read, unchanged (handle,
     ctime, size), or it is read again: then the temp file is RENAMEd over it - unless it is for
     a newer notification, which is kept. What is there is never replaced unless it is a
     sidecar of ours for this same file (SidecarInTheWay, SidecarCollision: not retryable, the
     operator decides);
   - the server has no hard links (LINK answers NFS3ERR_NOTSUPP, as S3 File Gateway, Azure Blob
     NFS 3.0 and IBM COS NFS do, or NFS3ERR_PERM, Linux's answer for a file system without
     them): every sidecar takes the lock path, where RENAME also creates a missing sidecar. The
     writer remembers it for the mount and sends no more LINKs;
4. REMOVE the temp name (and the lock), without waiting for the replies: they are read in the
   next write's first round trip.

The call counts of each path are stated once, in docs/design.md ("Round trips and calls").

A lock is this writer's own as a file, not as a name (``Held``: its handle and its ctime once
ours). When the connection breaks mid-way, or a removal fails (also the temp name's, sent
without waiting), what this writer made is remembered (``Orphan``) and removed before its next
write, over a new connection if need be: a temp name by name (it is unique), a lock only while a
LOOKUP still finds that very file unchanged and it is younger than half of
``lock_stale_seconds`` (its REMOVE may have been carried out with the reply lost, and another
writer's lock made since; a stale lock may be taken over). A lock whose CREATE reply was lost
is known by the access time its CREATE set (the write's token; a server that does not keep it
leaves such a lock to the stale rule). Ages are measured on the server's clock: the temp file's
ctime, stamped by the server in step 1, plus the time seen since.

Words: an *orphan* is a name this writer made and still has to remove (it knows it); a
*leftover* (sweep.py) is a temp name or lock found in a folder's listing, anyone's.

What a writer that died (its process killed) left is removed by later writers (sweep.py): a
page of the folder's listing rides along with a write's first round trip when one is due
(``Sweeper.start``) and is read once the sidecar is published (``Sweeper.finish``).

Batches (SQS): the sidecars of several notifications are written together (nfs/conversation.py's
``as_one``). Every writer's step 1 is in flight at once, then every step 2, and so on: N sidecars
take the waited round trips of one. Notifications for one file go newest first:
once its sidecar is settled (written, or a newer one found there) the older ones are settled too,
skipped without a call. If it fails for its own file (not found, not a regular file) the next
newest is tried; any other cause would meet the older ones too, and is theirs as well.

Readers see no sidecar, the old one or the new one: never a partial one. An older notification
never replaces a sidecar written for a newer one, also when both are processed at once, and an
acknowledged one's sidecar is in its file's folder. The simulation (tests/simulation) checks
these after every step of many schedules; docs/design.md lists the assumptions they rest on.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from .document import FORMAT_VERSION, MAX_SIDECAR_BYTES, render
from .errors import (
    FileNotFoundOnExport,
    NotARegularFile,
    SidecarBusy,
    SidecarCollision,
    SidecarInTheWay,
)
from .message import STEM, Notification, sidecar_location
from .nfs.client import Attributes, Entry, NfsClient
from .nfs.conversation import Conversation, Sleep, as_one, call
from .nfs.engine import Pending
from .nfs.errors import NfsConnectionError, NfsError, NfsStatusError
from .nfs.xdr import BADHANDLE, EXIST, NOENT, NOTDIR, NOTSUPP, PERM, STALE
from .sweep import Sweeper, is_stale, take_over

MAX_CACHED_FOLDERS = 4096
# LINK's answers that mean "no hard links on this server". PERM: link(2) gives EPERM on a file
# system without hard links; the other causes (a folder, a file owned by another user under
# protected_hardlinks) cannot apply to the regular temp file this writer just created.
NO_HARD_LINKS = frozenset({NOTSUPP, PERM})
# A cached folder's check LOOKUP answered so: the path no longer leads to that folder.
FOLDER_GONE = frozenset({NOENT, STALE, BADHANDLE, NOTDIR})
VIA_LINK, VIA_RENAME = "link", "lock+rename"


class _FolderReplaced(Exception):
    """A cached folder handle no longer is the folder at its path (replaced by rename)."""


class Held(NamedTuple):
    """A lock this writer holds, as the file it is: the name alone may be another's lock later.
    One whose CREATE went unanswered is known by the access time it was created with instead
    (``fh`` empty): no other writer's lock has it, and none could take it over while young."""

    fh: bytes
    ctime_ns: int  # its ctime once ours: any later change (a takeover) moves it
    taken: float  # clock() when it became ours (or its CREATE was sent)
    atime_s: int | None = None  # the access time its CREATE set: this write's token


class Orphan(NamedTuple):
    """A name this writer made and could not remove yet."""

    folder: str
    name: str
    lock: Held | None = None  # a lock: removed only while still that file, and young


class Outcome(NamedTuple):
    sidecar: str
    written: bool  # False: a sidecar for a newer notification was already there
    via: str | None = None  # how it was published: VIA_LINK or VIA_RENAME


def order_key_of(sidecar: bytes, note: Notification, where: str) -> tuple[str, str]:
    """The order key of the notification the sidecar at ``where`` was written for. Raises
    SidecarInTheWay when it is not a sidecar of ours, SidecarCollision when it is another
    file's."""
    try:
        document = json.loads(sidecar)
        source, version, filename = (
            document["source"],
            document["format_version"],
            document["filename"],
        )
        published = datetime.fromisoformat(source["published"]).astimezone(UTC)
        key = (published.isoformat(), str(source["sns_message_id"]))
        ours = isinstance(version, int) and 1 <= version <= FORMAT_VERSION
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
        ours = False
    if not ours:
        raise SidecarInTheWay(
            f"{where} is not a sidecar this function wrote (not JSON with its format_version "
            "and source): it is left as it is; rename or remove it, or choose another "
            "SIDECAR_SUFFIX, then redrive the notification"
        )
    if filename != note.filename:
        raise SidecarCollision(
            f"{where} describes {filename!r}, not {note.filename!r}: both files map to one "
            "sidecar name; set SIDECAR_NAMING=full_name (sidecar_naming in Terraform) to keep "
            "them apart, then redrive the notification"
        )
    return key


class FolderCache:
    """Handles of the export's folders, so a warm client looks each one up only once. A cached
    handle is checked in the first round trip of every write that uses it: a LOOKUP of each
    folder on the path travels with the write's first calls and must give the same handle."""

    def __init__(self, client: NfsClient) -> None:
        self.client = client
        self._handles: dict[str, bytes] = {"": client.root}
        self._looking_up: dict[str, Pending] = {}
        self._checking: dict[str, Pending] = {}  # check LOOKUPs in flight, by folder

    def __contains__(self, folder: str) -> bool:
        return folder in self._handles

    def checkable(self, folder: str) -> bool:
        """Whether the folder and every folder above it are cached (``check`` looks up each).
        Not so after the cache started afresh while the folder was looked up, or a folder
        above it was forgotten meanwhile by another write of the batch."""
        parts = folder.split("/") if folder else []
        return all("/".join(parts[:i]) in self._handles for i in range(1, len(parts) + 1))

    def resolve(self, folder: str, along: tuple[Pending, ...] = ()) -> Conversation[bytes]:
        """The folder's handle, looked up from the deepest cached folder above it. ``along``:
        calls sent already (checks) that its first LOOKUP's round trip waits for too."""
        handle = self._handles.get(folder)
        if handle is not None:
            return handle
        parent, name = posixpath.split(folder)
        first = parent in self._handles  # this LOOKUP is the first one sent
        parent_fh = yield from self.resolve(parent, () if first else along)
        # Writers in one batch that need the same folder share one LOOKUP.
        pending = self._looking_up.get(folder)
        if pending is None:
            pending = self._looking_up[folder] = self.client.lookup(parent_fh, name)
        try:
            yield (pending, *(along if first else ()))
            entry: Entry = pending.result()  # type: ignore[assignment]
        except NfsStatusError as exc:
            if exc.status == NOENT:
                raise FileNotFoundOnExport(f"folder {folder!r} not found in the export") from None
            raise
        finally:
            self._looking_up.pop(folder, None)
        if entry.attributes is None or not entry.attributes.is_dir:
            # Symlinks are not followed: a path cannot leave the export through one.
            raise NotARegularFile(f"{folder!r} is not a folder (symlinks are not followed)")
        if len(self._handles) >= MAX_CACHED_FOLDERS:
            self._handles = {"": self.client.root}
        self._handles[folder] = entry.fh
        return entry.fh

    def check(self, folder: str) -> list[tuple[str, bytes, Pending]]:
        """Sends a LOOKUP of each cached folder on the path (none for the export's root). Writers
        in one batch share the checks of the folders they have in common."""
        if len(self._checking) >= MAX_CACHED_FOLDERS:
            self._checking = {}
        checks = []
        parent = ""
        for part in folder.split("/") if folder else []:
            path = posixpath.join(parent, part)
            lookup = self._checking.get(path)
            if lookup is None or lookup.done:  # done: an earlier write's, not this round trip's
                lookup = self._checking[path] = self.client.lookup(self._handles[parent], part)
            checks.append((path, self._handles[path], lookup))
            parent = path
        return checks

    def confirm(self, checks: list[tuple[str, bytes, Pending]]) -> None:
        """Raises _FolderReplaced (forgetting the folder) unless every check found its folder."""
        for path, expected, pending in checks:
            if pending.error is None and pending.value.fh == expected:  # type: ignore[attr-defined]
                continue
            error = pending.error
            if error is not None and not _is_status(error, *FOLDER_GONE):
                raise error
            self.forget(path)
            raise _FolderReplaced(path)

    def cached_part(self, folder: str) -> str:
        """The longest cached folder the path starts with ("" for the export's root)."""
        parts = folder.split("/") if folder else []
        for i in range(len(parts), 0, -1):
            if (path := "/".join(parts[:i])) in self._handles:
                return path
        return ""

    def forget(self, folder: str) -> None:
        """Drops a folder and everything under it (after NFS3ERR_STALE or a vanished file)."""
        for cached in list(self._handles):
            if cached and (cached == folder or cached.startswith(folder + "/") or not folder):
                del self._handles[cached]


class _Write:
    """One sidecar's write under way: where it goes and what it made (to publish, or to clean
    up). Its conversations update it instead of returning several things."""

    __slots__ = (
        "dir_fh",
        "folder",
        "lock",
        "lock_asked",
        "lock_atime_s",
        "lock_name",
        "made",
        "server_now",
        "sidecar_name",
        "tmp",
        "tmp_name",
    )

    def __init__(self, folder: str, dir_fh: bytes, sidecar_name: str, token: str) -> None:
        self.folder, self.dir_fh, self.sidecar_name = folder, dir_fh, sidecar_name
        self.tmp_name = f".{sidecar_name}.{token}.tmp"
        self.lock_name = f".{sidecar_name}.lock"
        self.lock_atime_s = int(token, 16)  # the lock's CREATE sets it: whose lock it is
        self.made: list[str] = []  # names this write made and has not removed: temp, lock
        self.tmp: Entry | None = None
        self.lock: Held | None = None  # the sidecar's lock, once this write holds it
        self.lock_asked: float | None = None  # clock() at a lock CREATE not answered yet
        # The server's clock now (ns), from the temp file's ctime: None without its attributes.
        self.server_now: Callable[[], int] | None = None

    def where(self) -> str:
        return posixpath.join(self.folder, self.sidecar_name)

    def orphan(self, name: str) -> Orphan | None:
        """What the name leaves to be removed later if its removal fails. A lock whose ctime
        this writer never learnt cannot be told from another writer's later: None, it is left
        to the stale rule."""
        if name != self.lock_name:
            return Orphan(self.folder, name)
        if self.lock is not None and self.lock.ctime_ns >= 0:
            return Orphan(self.folder, name, self.lock)
        return None

    def orphans(self) -> list[Orphan]:
        """What this write leaves to be removed later (see ``orphan``), also a lock it may
        have made: its CREATE unanswered (known then by its access time)."""
        orphans = [orphan for name in self.made if (orphan := self.orphan(name)) is not None]
        if self.lock is None and self.lock_asked is not None:
            held = Held(b"", -1, self.lock_asked, self.lock_atime_s)
            orphans.append(Orphan(self.folder, self.lock_name, held))
        return orphans


class SidecarWriter:
    def __init__(
        self,
        client: NfsClient,
        suffix: str,
        lock_stale_seconds: int,
        orphans: list[Orphan] | None = None,
        clock: Callable[[], float] = time.monotonic,
        token: Callable[[], str] = lambda: os.urandom(4).hex(),
        wall_ns: Callable[[], int] = time.time_ns,
        naming: str = STEM,
    ) -> None:
        self.client = client
        self.naming = naming
        self.clock, self.token, self.wall_ns = clock, token, wall_ns  # the simulation sets them
        # names left by an attempt that failed to clean up: removed before the next write
        self.orphans = orphans if orphans is not None else []
        # removals sent without waiting for the reply, with the orphan each leaves if it failed
        self._removals_sent: list[tuple[Pending, Orphan]] = []
        self.folders = FolderCache(client)
        self.suffix = suffix
        self.lock_stale_ns = lock_stale_seconds * 1_000_000_000
        self.hard_links = True  # until the server says otherwise, for this mount
        self.sweeper = Sweeper(  # dead writers' leftovers
            client,
            suffix,
            lock_stale_seconds,
            clock=clock,
            remember=self._remember_lock,
        )

    def _remember_lock(self, removal: Pending, folder: str, name: str, lock: Entry) -> None:
        """A lock the sweep took over and is removing without waiting."""
        if lock.attributes is not None:
            held = Held(lock.fh, lock.attributes.ctime_ns, self.clock())
            self._removals_sent.append((removal, Orphan(folder, name, held)))

    def write_all(
        self, notes: list[Notification], lock_wait_s: float
    ) -> Conversation[tuple[list[Outcome | Exception], list[int]]]:
        """Writes every note's sidecar, their NFS calls in flight together -> (each one's outcome
        or error, each one's NFS calls). Notes for one file go newest first: once one of
        them is settled (written, or a newer one found), the older ones are too, without a call.
        """
        yield from self._remove_orphans()
        results: list[Outcome | Exception | None] = [None] * len(notes)
        calls = [0] * len(notes)
        groups: dict[str, list[int]] = {}  # by file: files sharing a sidecar name collide
        for index in sorted(range(len(notes)), key=lambda i: notes[i].order_key, reverse=True):
            groups.setdefault(notes[index].filename, []).append(index)
        while groups:
            heads = [group[0] for group in groups.values()]
            outcomes, spent = yield from as_one(
                [self._write(notes[i], lock_wait_s) for i in heads],
                lambda: self.client.rpc_count,
                self.clock,
            )
            for key, head, outcome, n in zip(list(groups), heads, outcomes, spent, strict=True):
                results[head], calls[head] = outcome, n
                group = groups[key]
                group.pop(0)
                if isinstance(outcome, Outcome):
                    for older in group:  # a sidecar at least as new as theirs is there
                        results[older] = Outcome(outcome.sidecar, written=False)
                    group.clear()
                elif not isinstance(outcome, FileNotFoundOnExport | NotARegularFile):
                    for older in group:  # the sidecar's cause (busy, server, connection), not
                        results[older] = outcome  # the file's: the older ones would meet it too
                    group.clear()
                if not group:
                    del groups[key]
        # A removal of an earlier write that failed, its reply read with this batch's first
        # round trip: removed now rather than an invocation later (rare: it costs a round trip).
        if self._answered_removals() and not self.client.broken:
            with contextlib.suppress(NfsError):
                yield from self._remove_orphans()
        return results, calls  # type: ignore[return-value]

    def _write(self, note: Notification, lock_wait_s: float) -> Conversation[Outcome]:
        folder, name, sidecar_name = sidecar_location(note.filename, self.suffix, self.naming)
        was_cached = folder in self.folders
        try:
            via = yield from self._write_in(note, folder, name, sidecar_name, lock_wait_s)
        except (FileNotFoundOnExport, _FolderReplaced) as exc:
            if isinstance(exc, FileNotFoundOnExport) and not was_cached:
                raise
            # The cached folder was replaced since (or may have been): look it up afresh once.
            self.folders.forget(folder)
            try:
                via = yield from self._write_in(note, folder, name, sidecar_name, lock_wait_s)
            except _FolderReplaced:
                raise FileNotFoundOnExport(f"folder {folder!r} keeps being replaced") from None
        return Outcome(posixpath.join(folder, sidecar_name), via is not None, via)

    def _write_in(
        self, note: Notification, folder: str, name: str, sidecar_name: str, lock_wait_s: float
    ) -> Conversation[str | None]:
        client = self.client
        cached = self.folders.checkable(folder)
        checks: list[tuple[str, bytes, Pending]] = []
        if not cached:
            self.folders.forget(folder)  # a handle that cannot be checked is looked up afresh
            # It is looked up from the cached folders above it: those are checked in the round
            # trip of its first LOOKUP (one of them may have been replaced by rename too).
            above = self.folders.cached_part(folder)
            while not self.folders.checkable(above):
                self.folders.forget(above)
                above = self.folders.cached_part(folder)
            checks = self.folders.check(above)
        try:
            dir_fh = yield from self.folders.resolve(folder, tuple(p for _, _, p in checks))
        except FileNotFoundOnExport:
            if checks:  # not found in a folder replaced since? (_FolderReplaced: afresh)
                waiting = tuple(pending for _, _, pending in checks if not pending.done)
                if waiting:  # (answered already: resolve's first round trip waited for them)
                    yield waiting
                self.folders.confirm(checks)
            raise
        w = _Write(folder, dir_fh, sidecar_name, self.token())
        # Round trip 1: the file, the temp file, and whether a sidecar is there already.
        file_call, tmp_call = client.lookup(dir_fh, name), client.create(dir_fh, w.tmp_name)
        sidecar_call = client.lookup(dir_fh, sidecar_name)
        if cached:
            checks = self.folders.check(folder)
        try:
            page = self.sweeper.start(folder, dir_fh)  # sweep hook 1: a page rides along
            yield (
                file_call,
                tmp_call,
                sidecar_call,
                *(pending for _, _, pending in checks),
                *self.in_flight(),
            )
        except NfsError:
            # The temp file may exist without this writer knowing (a lost reply): its name is
            # unique, so removing it later is always safe.
            self.orphans.append(Orphan(folder, w.tmp_name))
            raise
        if tmp_call.error is None:
            w.made.append(w.tmp_name)
        try:
            self.folders.confirm(checks)
            target = self._target(file_call, note.filename)
            w.tmp = tmp_call.result()  # type: ignore[assignment]
            w.server_now = self._server_clock(w.tmp.attributes)  # type: ignore[union-attr]
            current = _found(sidecar_call)
            via = yield from self._publish(note, w, render(note, target), current, lock_wait_s)
        except Exception:
            removed = False
            if not client.broken:
                with contextlib.suppress(NfsError):  # keep the original error
                    yield from self._remove(dir_fh, w.made)
                    removed = True
            if not removed:
                self.orphans.extend(w.orphans())
            raise
        self._release(w)  # published (or a newer one kept): nothing waits for the cleanup
        yield from self.sweeper.finish(page, w.tmp.attributes)  # type: ignore[union-attr]  # hook 2
        return via

    def _server_clock(self, reference: Attributes | None) -> Callable[[], int] | None:
        """The server's "now": the temp file's ctime, set by the server as it was created, plus
        the time this function saw pass since. Ages of locks are measured on it, never on the
        function's own clock (which need not agree with the server's)."""
        if reference is None:
            return None
        seen = self.clock()
        return lambda: reference.ctime_ns + int((self.clock() - seen) * 1e9)

    def _publish(
        self, note: Notification, w: _Write, data: bytes, current: Entry | None, lock_wait_s: float
    ) -> Conversation[str | None]:
        """Steps 2 and 3: the temp file's content, then it becomes the sidecar (-> how), or is
        dropped for a newer one. ``current``: the sidecar round trip 1 found, if any."""
        tmp = w.tmp
        assert tmp is not None
        ahead: bytes | None = None
        if current is None and self.hard_links:
            yield from self._write_data(tmp.fh, data)
            if (yield from self._link(w)):
                return VIA_LINK
            yield from self._lock(w, lock_wait_s)
        else:
            # A sidecar is there (or no hard links: RENAME publishes): the lock is taken, and
            # the sidecar read, in the WRITE's round trip. What is read before the lock counts
            # only if the sidecar is still that file, unchanged, once the lock is held.
            results, _ = yield from as_one(
                [
                    self._write_data(tmp.fh, data),
                    self._lock(w, lock_wait_s),
                    self._read_ahead(current, w.where()),
                ],
                clock=self.clock,
            )
            for result in results:
                if isinstance(result, Exception):
                    raise result
            read_ahead = results[2]
            ahead = read_ahead if isinstance(read_ahead, bytes) else None
        # Under the lock no other writer renames; a LINK may still create the sidecar meanwhile.
        while True:
            latest = yield from self._lookup(w.dir_fh, w.sidecar_name)
            if latest is None:
                if not self.hard_links:
                    break  # RENAME creates it
                if (yield from self._link(w)):
                    return VIA_LINK
                continue  # created meanwhile (or no hard links after all): look again
            if ahead is None or current is None or not self._unchanged(current, latest):
                ahead = yield from self._content(latest, w.where())
            if self._newer(ahead, note, w.where()):
                return None
            break
        yield from call(self.client.rename(w.dir_fh, w.tmp_name, w.dir_fh, w.sidecar_name))
        w.made.remove(w.tmp_name)
        return VIA_RENAME

    def _unchanged(self, seen: Entry, now: Entry) -> bool:
        """Whether the sidecar looked up under the lock is the file seen before it, unchanged
        (any change of content moves ctime): what was read of it then is what it holds."""
        a, b = seen.attributes, now.attributes
        return (
            seen.fh == now.fh
            and a is not None
            and b is not None
            and (a.ctime_ns, a.size) == (b.ctime_ns, b.size)
        )

    def _newer(self, sidecar: bytes, note: Notification, where: str) -> bool:
        """Whether the sidecar there is for a newer notification than ``note`` (kept then)."""
        return order_key_of(sidecar, note, where) > note.order_key

    def _write_data(self, fh: bytes, data: bytes) -> Conversation[None]:
        """WRITE ``data`` from offset 0, every chunk in flight together."""
        client = self.client
        chunks = [
            client.write(fh, offset, data[offset : offset + client.writemax])
            for offset in range(0, len(data), client.writemax)
        ] or [client.write(fh, 0, b"")]
        yield tuple(chunks)
        written = sum(int(chunk.result()) for chunk in chunks)  # type: ignore[call-overload]
        if written != len(data):
            raise NfsError(f"WRITE: short write, {written} of {len(data)} bytes")

    def _link(self, w: _Write) -> Conversation[bool]:
        """LINK the temp file as the sidecar: False if it exists or the server has no links."""
        if not self.hard_links:
            return False
        assert w.tmp is not None
        try:
            yield from call(self.client.link(w.tmp.fh, w.dir_fh, w.sidecar_name))
        except NfsStatusError as exc:
            if exc.status in NO_HARD_LINKS:
                self.hard_links = False
                return False
            if exc.status == EXIST:
                return False
            raise
        return True

    def _target(self, pending: Pending, filename: str) -> Entry:
        try:
            entry: Entry = pending.result()  # type: ignore[assignment]
        except NfsStatusError as exc:
            if exc.status == NOENT:
                raise FileNotFoundOnExport(f"{filename!r} not found in the export") from None
            raise
        if entry.attributes is None:
            raise NotARegularFile(f"{filename!r}: the server returned no attributes")
        if not entry.attributes.is_regular:
            raise NotARegularFile(f"{filename!r} is not a regular file")
        return entry

    def _lookup(self, dir_fh: bytes, name: str) -> Conversation[Entry | None]:
        """LOOKUP ``name``: its entry, None if it does not exist."""
        pending = self.client.lookup(dir_fh, name)
        yield (pending,)
        return _found(pending)

    def _read_ahead(self, entry: Entry | None, where: str) -> Conversation[bytes | None]:
        """The content of a sidecar seen before the lock was held, in one READ (None if it takes
        more, or it was replaced meanwhile): a READ that may be wasted, while the lock is busy,
        costs one call at most."""
        attributes = entry.attributes if entry is not None else None
        if entry is None or attributes is None or not attributes.is_regular:
            return None
        if attributes.size >= self.client.readmax:
            return None
        try:
            return (yield from self._content(entry, where))
        except (NfsStatusError, SidecarInTheWay):
            return None

    def _content(self, entry: Entry, where: str) -> Conversation[bytes]:
        """A sidecar's content: every READ its size needs in flight together."""
        attributes = entry.attributes
        if attributes is not None and not attributes.is_regular:
            raise SidecarInTheWay(f"{where} is not a regular file: it is left as it is")
        size = attributes.size if attributes else 0
        if size > MAX_SIDECAR_BYTES:
            # Larger than any sidecar this function writes: not read, never replaced.
            raise SidecarInTheWay(
                f"{where} is larger ({size} bytes) than any sidecar this function writes "
                f"({MAX_SIDECAR_BYTES}): it is left as it is; rename or remove it, then redrive"
            )
        readmax = self.client.readmax
        data = b""
        while True:
            # One byte past the size seen: a file that grew shows it (no EOF yet).
            end = min(max(size, len(data)) + 1, MAX_SIDECAR_BYTES + 1)
            reads = [
                self.client.read(entry.fh, offset, min(readmax, end - offset))
                for offset in range(len(data), end, readmax)
            ]
            yield tuple(reads)
            for pending in reads:
                chunk: bytes
                eof: bool
                chunk, eof = pending.result()  # type: ignore[misc]
                data += chunk
                if len(data) > MAX_SIDECAR_BYTES:
                    raise SidecarInTheWay(f"{where} grew past {MAX_SIDECAR_BYTES} bytes while read")
                if eof or not chunk:
                    return data
            size = len(data)

    def _lock(self, w: _Write, wait_s: float) -> Conversation[None]:
        """Takes the sidecar's lock (w.lock), waiting up to ``wait_s`` for its holder."""
        client, delay = self.client, 0.005
        deadline = self.clock() + wait_s
        if client.deadline is not None:  # also after a reconnect: never past the budget
            deadline = min(deadline, client.deadline)
        where = posixpath.join(w.folder, w.lock_name)
        while True:
            w.lock_asked = self.clock()
            try:
                mine: Entry = yield from call(
                    client.create(w.dir_fh, w.lock_name, atime_s=w.lock_atime_s)
                )
                w.lock_asked = None
                self._hold(w, mine)
                return
            except NfsStatusError as exc:
                w.lock_asked = None  # answered: not created
                if exc.status != EXIST:
                    raise
            if (yield from self._settle_own_lock(w)):
                continue  # it was this writer's earlier lock, being removed: try again
            lock = yield from self._lookup(w.dir_fh, w.lock_name)
            if lock is None:
                continue  # released meanwhile: try again at once
            attributes = lock.attributes
            if attributes is not None and not attributes.is_regular:
                raise SidecarInTheWay(f"{where} is not a lock of this function's (not a file)")
            # No attributes, or no server clock to judge by: count the lock as fresh.
            age_ns = w.server_now() - attributes.mtime_ns if attributes and w.server_now else 0
            if (
                attributes
                and w.server_now
                and is_stale(attributes, w.server_now(), self.lock_stale_ns)
            ):
                # Its writer died (none outlives the function timeout): take the lock over,
                # guarded so that one writer alone wins it (sweep.py says why).
                taken = yield from take_over(client, lock)
                if taken is not None:
                    self._hold(w, taken)
                    return
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise SidecarBusy(
                    f"{where} held by another writer ({age_ns / 1e9:.1f} s old); "
                    "giving up for now (the notification will be retried)"
                )
            yield Sleep(min(delay, remaining))
            delay = min(delay * 2, 0.2)

    def _settle_own_lock(self, w: _Write) -> Conversation[bool]:
        """When the lock in the way is this writer's own from an earlier write, its removal
        sent without waiting: waits for that removal and, if it failed, removes the lock as an
        orphan -> whether it was so."""
        ours = [
            pending
            for pending, orphan in self._removals_sent
            if (orphan.folder, orphan.name) == (w.folder, w.lock_name)
        ]
        if not ours:
            return False
        if waiting := tuple(pending for pending in ours if not pending.done):
            yield waiting
        if self._answered_removals():
            yield from self._remove_orphans()
        return True

    def _hold(self, w: _Write, lock: Entry) -> None:
        w.made.append(w.lock_name)
        # Without its ctime the lock cannot be recognised later: left to the stale rule then.
        ctime = lock.attributes.ctime_ns if lock.attributes is not None else -1
        w.lock = Held(lock.fh, ctime, self.clock())

    def _release(self, w: _Write) -> None:
        """Removes what the write made (the temp name, the lock) without waiting: nothing the
        notification's outcome depends on. A removal that fails leaves an orphan (``abandon``,
        ``_remove_orphans``)."""
        removals = []
        for name in w.made:
            removal = self.client.remove(w.dir_fh, name)
            removals.append(removal)
            if (orphan := w.orphan(name)) is not None:
                self._removals_sent.append((removal, orphan))
        w.made.clear()
        if removals:
            self.client.send_without_waiting(*removals)

    def in_flight(self) -> tuple[Pending, ...]:
        """Removals sent without waiting and not answered yet: a first round trip waits for
        them too (sent earlier, they are answered by then), instead of a round trip of their
        own."""
        return tuple(pending for pending, _ in self._removals_sent if not pending.done)

    def abandon(self) -> None:
        """Before the connection is dropped: removals without a reply become orphans."""
        for pending, orphan in self._removals_sent:
            if not pending.done or pending.error is not None:
                self.orphans.append(orphan)
        self._removals_sent = []

    def _answered_removals(self) -> bool:
        """Takes in the removals sent without waiting whose replies are in: a failed one
        leaves an orphan (-> whether one did). The others are waited for in the next first
        round trip (``in_flight``), and become orphans if the connection is given up."""
        sent, self._removals_sent = self._removals_sent, []
        failed = False
        for pending, orphan in sent:
            if not pending.done:
                self._removals_sent.append((pending, orphan))
            elif pending.error is not None and not _is_status(pending.error, NOENT):
                self.orphans.append(orphan)
                failed = True
        return failed

    def _remove_orphans(self) -> Conversation[None]:
        """Removes what earlier writes could not."""
        self._answered_removals()
        for orphan in list(self.orphans):
            self.orphans.remove(orphan)
            try:
                # A folder gone or replaced holds nothing of ours any more.
                with contextlib.suppress(FileNotFoundOnExport, NotARegularFile, NfsStatusError):
                    dir_fh = yield from self.folders.resolve(orphan.folder)
                    # A temp name is unique: ours whatever it holds. A lock only while it is the
                    # very file this writer held.
                    if orphan.lock is None or (
                        yield from self._still_mine(dir_fh, orphan.name, orphan.lock)
                    ):
                        yield from self._remove(dir_fh, [orphan.name])
            except NfsConnectionError:
                self.orphans.append(orphan)  # tried again over the next connection
                raise

    def _still_mine(self, dir_fh: bytes, name: str, lock: Held) -> Conversation[bool]:
        """Whether ``name`` is still the lock this writer held: the same file, unchanged since
        (a takeover changes its ctime), and young enough that nobody may take it over before
        the removal arrives. Its REMOVE may have been carried out with the reply lost, and
        another writer's lock made since: that one has another handle."""
        if self.clock() - lock.taken >= self.lock_stale_ns / 2e9:
            return False
        entry = yield from self._lookup(dir_fh, name)
        if entry is None or entry.attributes is None:
            return False
        if not lock.fh:  # its CREATE went unanswered: known by the access time it set
            return lock.atime_s is not None and entry.attributes.atime_ns == lock.atime_s * 10**9
        return entry.fh == lock.fh and entry.attributes.ctime_ns == lock.ctime_ns

    def _remove(self, dir_fh: bytes, names: list[str]) -> Conversation[None]:
        if not names:
            return
        calls = tuple(self.client.remove(dir_fh, name) for name in names)
        yield calls
        for pending in calls:
            try:
                pending.result()
            except NfsStatusError as exc:
                if exc.status != NOENT:
                    raise


def _found(lookup: Pending) -> Entry | None:
    """A LOOKUP's entry; None when the name does not exist."""
    try:
        return lookup.result()  # type: ignore[return-value]
    except NfsStatusError as exc:
        if exc.status == NOENT:
            return None
        raise


def _is_status(error: BaseException, *statuses: int) -> bool:
    return isinstance(error, NfsStatusError) and error.status in statuses
