"""What dead writers leave behind (temp files, locks), removed by later writers, never a live one's.

A writer killed mid-way (Lambda's timeout, out of memory) cannot clean up: its temp file
``.name-sidecar.json.<8 hex>.tmp`` and, on the lock path, its lock ``.name-sidecar.json.lock``
stay. Two mechanisms remove them.

**The sweep.** Writers read their folders' listings a page at a time and remove the leftovers
they find:

- A page is one READDIRPLUS (names with their attributes and handles) of at most
  ``PAGE_BYTES``, sent together with a write's first round trip (LOOKUP + CREATE) and read once
  the sidecar is published (a reply not in by then is read by a later write; nothing waits for
  it): it adds no round trip, and a folder of a million names costs a write no more than one
  bounded page (the calls it costs: docs/design.md, "Round trips and calls"). The removals are
  sent without waiting for their replies.
- A pass over a folder starts at most once every ``lock_stale_seconds`` per execution
  environment (nothing becomes removable sooner than that), and a folder longer than a page
  continues from its cookie one page every ``PAGE_EVERY_WRITES`` writes into it, across
  invocations. The state lives with the connection (a reconnect starts afresh), so in a folder
  far longer than an environment's writes into it cover, names late in the listing are reached
  less often.
- Only names of exactly our two forms (with the configured suffix) are ever touched, and only
  when both their ctime and mtime are older than ``lock_stale_seconds``, measured on the
  server's clock: "now" is the ctime of this write's own temp file, created in the same round
  trip as the page was read, so a skewed client clock cannot make a file look old.

Why that age rule is safe: ``lock_stale_seconds`` exceeds the function's timeout (Terraform
checks it), and no writer lives longer than that. A temp name is created (GUARDED, with 32
random bits) by one writer, which uses it only while it runs; any change to the file moves its
ctime forward, and a ctime cannot be set back. A file whose ctime is older than the longest a
writer lives therefore belongs to a writer that has ended. (A new writer would have to draw the
same 32 random bits in the moment between the listing and the removal; even then it loses no
data: its WRITE to a removed file fails, and it is retried.) A temp name that is already the
sidecar's second name (the writer died after LINK) is only that name: the sidecar stays.

**Locks of dead writers are taken over, not removed by name.** The lock path used to LOOKUP a
stale lock and REMOVE it by name; two writers breaking the same stale lock could both remove,
the second one deleting the fresh lock the first had just created, and both then replaced the
sidecar (an older notification could win). NFSv3 has no "remove this file if it is still that
file", but SETATTR has a guard: it fails NFS3ERR_NOT_SYNC unless the file's ctime is still the
one the caller saw (RFC 1813). A stale lock is taken over by setting its mtime to the server's
time with the guard set to the ctime seen: the SETATTR changes the ctime, so of all writers that
saw the same stale lock exactly one succeeds; the others see a fresh lock and wait. The winner
holds the lock (the same file, now fresh) and removes it by name at the end, as it would its
own. A sweep that finds a stale lock takes it over the same way and then removes it: nobody
else removes a fresh lock. The guard's atomicity is the server's: Linux's nfsd checks it under
the inode lock; nfs-ganesha checks then sets, so two SETATTRs of one file arriving within the
same microseconds could both pass - a window inside the server, where removal by name had one
of several round trips.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

from .nfs.client import Attributes, DirPage, Entry, NfsClient
from .nfs.conversation import Conversation, call
from .nfs.engine import Pending
from .nfs.errors import NfsError, NfsStatusError
from .nfs.xdr import NOENT, NOT_SYNC, STALE

PAGE_BYTES = 16 * 1024  # about 70-100 names with attributes and handles
PAGE_EVERY_WRITES = 16
MAX_SWEPT_FOLDERS = 4096
MAX_WAITING_PAGES = 4
REMEMBERED_REMOVALS = 64
TEMP, LOCK = "temp", "lock"


@lru_cache(maxsize=8)
def _leftover_pattern(suffix: str) -> re.Pattern[str]:
    # The forms SidecarWriter makes: f".{stem}{suffix}.{token_hex(4)}.tmp" and
    # f".{stem}{suffix}.lock"; the stem is never empty. A name from the server is checked like
    # a publisher's: no '/' (it is sent back as one name) and no NUL.
    stem = r"\.[^/\x00]+"
    return re.compile(stem + re.escape(suffix) + r"\.(?:(?P<temp>[0-9a-f]{8}\.tmp)|lock)", re.S)


def leftover_kind(name: bytes, suffix: str) -> str | None:
    """TEMP or LOCK for a name of one of our two forms; None for anything else."""
    try:
        text = name.decode()
    except UnicodeDecodeError:
        return None  # ours are UTF-8
    match = _leftover_pattern(suffix).fullmatch(text)
    if match is None:
        return None
    return TEMP if match.group("temp") else LOCK


def is_stale(attributes: Attributes, now_ns: int, stale_ns: int) -> bool:
    """Unchanged (ctime) and unwritten (mtime) for longer than any writer lives."""
    return now_ns - attributes.ctime_ns > stale_ns and now_ns - attributes.mtime_ns > stale_ns


def take_over(client: NfsClient, lock: Entry) -> Conversation[Entry | None]:
    """Makes a dead writer's lock the caller's own -> the lock as it is now the caller's; None
    if another writer was first (or the lock is gone). One round trip."""
    if lock.attributes is None:
        return None
    try:
        after = yield from call(client.touch_if_unchanged(lock.fh, lock.attributes.ctime_ns))
    except NfsStatusError as exc:
        if exc.status in (NOT_SYNC, NOENT, STALE):
            return None
        raise
    return Entry(lock.fh, after)


class _FolderState:
    __slots__ = ("cookie", "pass_started", "verifier", "writes")

    def __init__(self) -> None:
        self.cookie = 0  # 0: between passes
        self.verifier = bytes(8)
        self.pass_started = float("-inf")
        self.writes = 0  # into the folder since its last page was sent


class Page(NamedTuple):
    """A listing page in flight with a write's first round trip."""

    folder: str
    dir_fh: bytes
    call: Pending


class Sweeper:
    """Per connection: which folders are due for a page, and where each pass has got to."""

    def __init__(
        self,
        client: NfsClient,
        suffix: str,
        lock_stale_seconds: int,
        clock: Callable[[], float] = time.monotonic,
        remember: Callable[[Pending, str, str, Entry], None] | None = None,
    ) -> None:
        self.client, self.suffix, self.clock = client, suffix, clock
        # (its removal, folder, name, the lock as taken over): a lock this sweep made its own,
        # for the writer to remove before its next write should the removal sent here fail
        self.remember = remember or (lambda _removal, _folder, _name, _lock: None)
        self.stale_ns = lock_stale_seconds * 1_000_000_000
        self.pass_interval_s = float(lock_stale_seconds)
        # the last names whose removal was sent (for logs and tests); bounded
        self.removed: deque[str] = deque(maxlen=REMEMBERED_REMOVALS)
        self._folders: dict[str, _FolderState] = {}
        self._waiting: list[tuple[Page, int]] = []  # pages in flight, with their "now"

    def due(self, folder: str) -> _FolderState | None:
        """Counts a write into ``folder``; its state when a page is due now."""
        state = self._folders.get(folder)
        if state is None:
            if len(self._folders) >= MAX_SWEPT_FOLDERS:
                self._folders.clear()
            state = self._folders[folder] = _FolderState()
        state.writes += 1
        now = self.clock()
        if state.cookie == 0:  # between passes (or the last page's reply is not in yet)
            if now - state.pass_started < self.pass_interval_s:
                return None
            state.pass_started = now
        elif state.writes < PAGE_EVERY_WRITES:
            return None
        state.writes = 0
        return state

    def start(self, folder: str, dir_fh: bytes) -> Page | None:
        """Hook 1, after the write's first calls are queued: sends a page when one is due."""
        state = self.due(folder)
        if state is None:
            return None
        maxcount = min(PAGE_BYTES, self.client.readmax)
        call = self.client.readdirplus(dir_fh, state.cookie, state.verifier, maxcount)
        return Page(folder, dir_fh, call)

    def finish(self, page: Page | None, reference: Attributes | None) -> Conversation[None]:
        """Hook 2, once the sidecar is published: reads the pages whose replies are in (this
        write's, or an earlier one's that came late) and removes the stale leftovers they list.
        ``reference``: the attributes of this write's own new temp file, whose ctime is the
        server's "now" at the time the page was read. Never raises: the sidecar is written."""
        if page is not None and reference is not None:
            self._waiting.append((page, reference.ctime_ns))
        waiting, self._waiting = self._waiting, []
        for page, now_ns in waiting:
            if self.client.broken:
                return  # the pages died with the connection
            if page.call.done:
                # A failure here is the connection's: its owner sees that at its next call.
                with contextlib.suppress(NfsError):
                    yield from self._consume(page, now_ns)
            else:  # still on its way: read by a later write (waits service it meanwhile)
                self._waiting.append((page, now_ns))
        del self._waiting[:-MAX_WAITING_PAGES]

    def _consume(self, page: Page, now_ns: int) -> Conversation[None]:
        state = self._folders.get(page.folder)
        try:
            listing: DirPage = page.call.result()  # type: ignore[assignment]
        except NfsError:
            if state is not None:  # NFS3ERR_BAD_COOKIE, a folder we may not read, ...
                state.cookie, state.verifier = 0, bytes(8)
            raise
        if state is not None:
            if listing.eof or not listing.entries:
                state.cookie, state.verifier = 0, bytes(8)
            else:
                state.cookie, state.verifier = listing.entries[-1].cookie, listing.verifier
        yield from self._remove_stale(page.folder, page.dir_fh, listing, now_ns)

    def _remove_stale(
        self, folder: str, dir_fh: bytes, listing: DirPage, now_ns: int
    ) -> Conversation[None]:
        client = self.client
        temps: list[str] = []
        locks: list[tuple[str, bytes, Pending]] = []
        for entry in listing.entries:
            kind = leftover_kind(entry.name, self.suffix)
            # Only regular files are ours: a folder of such a name is somebody else's.
            if kind is None or entry.attributes is None or not entry.attributes.is_regular:
                continue
            if not is_stale(entry.attributes, now_ns, self.stale_ns):
                continue
            name = entry.name.decode()
            if kind == TEMP:
                temps.append(name)
            elif entry.fh is not None:
                takeover = client.touch_if_unchanged(entry.fh, entry.attributes.ctime_ns)
                locks.append((name, entry.fh, takeover))
        taken: list[tuple[str, Entry]] = []
        if locks:
            # Rare (a writer died holding a lock): one round trip to make each lock ours first.
            yield tuple(pending for _, _, pending in locks)
            for name, fh, pending in locks:
                if pending.error is None:
                    taken.append((name, Entry(fh, pending.value)))  # type: ignore[arg-type]
        removals = [(name, client.remove(dir_fh, name)) for name in temps]
        for name, lock in taken:
            removal = client.remove(dir_fh, name)
            removals.append((name, removal))
            self.remember(removal, folder, name, lock)  # ours now: the writer sees it removed
        if removals:
            # Nothing waits on these: a temp whose removal fails is tried at the next pass.
            client.send_without_waiting(*(pending for _, pending in removals), report=False)
            self.removed.extend(name for name, _ in removals)
