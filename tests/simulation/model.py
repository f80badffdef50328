"""An in-memory NFSv3 server: the procedures the writer uses, as RFC 1813 defines them.

File handles never repeat (a removed file's handle answers NFS3ERR_STALE), fileids are unique,
and every change stamps ctime (and mtime for data and entries) from the server's own clock, which
need not agree with any client's. ``on_change`` lets the simulation check its invariants after
each procedure that changed something, with who called it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nfs_sidecar.nfs.client import Attributes, DirEntry, DirPage, Entry
from nfs_sidecar.nfs.xdr import (
    EXIST,
    ISDIR,
    JUKEBOX,
    NF3DIR,
    NF3REG,
    NOENT,
    NOSPC,
    NOT_SYNC,
    NOTDIR,
    NOTEMPTY,
    NOTSUPP,
    STALE,
)

PAGE_ENTRIES = 64  # a READDIRPLUS page: one covers a folder of the simulation


class Status(Exception):
    """The server's answer is an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(eq=False)
class Inode:
    fileid: int
    type: int
    ctime_ns: int
    mtime_ns: int
    data: bytes = b""
    entries: dict[str, int] = field(default_factory=dict)  # a folder's names -> fileids
    nlink: int = 1
    # who made it: ("user",) for files that are not ours, or (env, invocation) for a writer's
    owner: tuple = ("user",)
    handle: bytes = b""
    atime_ns: int | None = None  # set by its CREATE; else its mtime stands in

    def attributes(self) -> Attributes:
        size = len(self.data) if self.type == NF3REG else 4096
        atime_ns = self.mtime_ns if self.atime_ns is None else self.atime_ns
        return Attributes(
            self.type, 0o644, 0, 0, size, self.fileid, atime_ns, self.mtime_ns, self.ctime_ns
        )


class Server:
    def __init__(self, clock_ns: Callable[[], int], hard_links: bool = True) -> None:
        self.clock_ns = clock_ns  # the server's own clock
        self.hard_links = hard_links
        self.inodes: dict[int, Inode] = {}
        self.handles: dict[bytes, int] = {}
        self._last_ns = 0
        self._next_id = 1
        self._handle_gen = 0
        # (procedure, inode or None, folder inode or None, name or None, caller): after a change
        self.on_change: Callable[[str, Inode | None, Inode | None, str | None, tuple], None] = (
            lambda *_: None
        )
        self.fault: Callable[[str], int | None] = lambda _procedure: None
        self.root = self._new(NF3DIR, ("user",))

    # --- housekeeping ---

    def now_ns(self) -> int:
        """The server's clock, strictly increasing between changes (as ctime must be)."""
        self._last_ns = max(self._last_ns + 1, self.clock_ns())
        return self._last_ns

    def _new(self, type_: int, owner: tuple, data: bytes = b"") -> Inode:
        now = self.now_ns()
        inode = Inode(self._next_id, type_, now, now, data=data, owner=owner)
        self._next_id += 1
        self._rehandle(inode)
        self.inodes[inode.fileid] = inode
        return inode

    def _rehandle(self, inode: Inode) -> None:
        self.handles.pop(inode.handle, None)
        self._handle_gen += 1
        inode.handle = b"fh:%d:%d" % (inode.fileid, self._handle_gen)
        self.handles[inode.handle] = inode.fileid

    def inode(self, fh: bytes) -> Inode:
        fileid = self.handles.get(fh)
        if fileid is None:
            raise Status(STALE)
        return self.inodes[fileid]

    def folder(self, fh: bytes) -> Inode:
        inode = self.inode(fh)
        if inode.type != NF3DIR:
            raise Status(NOTDIR)
        return inode

    def _touch(self, inode: Inode, data_changed: bool = True) -> None:
        now = self.now_ns()
        inode.ctime_ns = now
        if data_changed:
            inode.mtime_ns = now

    def _unlink(self, folder: Inode, name: str) -> Inode:
        inode = self.inodes[folder.entries.pop(name)]
        inode.nlink -= 1
        if inode.nlink <= 0:
            self.handles.pop(inode.handle, None)  # its handle goes stale
        else:
            self._touch(inode, data_changed=False)
        return inode

    def entry(self, inode: Inode) -> Entry:
        return Entry(inode.handle, inode.attributes())

    # --- set-up and the adversary (not NFS calls) ---

    def make(self, folder: Inode, name: str, type_: int, data: bytes = b"") -> Inode:
        inode = self._new(type_, ("user",), data)
        folder.entries[name] = inode.fileid
        self._touch(folder)
        return inode

    def move(self, folder: Inode, name: str, to_folder: Inode, to_name: str) -> None:
        """A user's rename (``mv``); replaces what is at ``to_name``."""
        if to_name in to_folder.entries:
            self._unlink(to_folder, to_name)
        to_folder.entries[to_name] = folder.entries.pop(name)
        self._touch(self.inodes[to_folder.entries[to_name]], data_changed=False)
        self._touch(folder)
        self._touch(to_folder)

    def stale_root(self) -> None:
        """The export's root gets a new handle (the export re-created): the old one is stale."""
        self._rehandle(self.root)

    def path(self, path: str) -> Inode | None:
        inode = self.root
        for part in [p for p in path.split("/") if p]:
            if inode.type != NF3DIR or part not in inode.entries:
                return None
            inode = self.inodes[inode.entries[part]]
        return inode

    # --- NFSv3 procedures; ``caller`` is (env, invocation) of the writer ---

    def call(self, procedure: str, args: tuple, caller: tuple) -> object:
        status = self.fault(procedure)
        if status is not None:
            raise Status(status)
        return getattr(self, "nfs_" + procedure)(*args, caller=caller)

    def nfs_lookup(self, dir_fh: bytes, name: str, caller: tuple) -> Entry:
        folder = self.folder(dir_fh)
        if name not in folder.entries:
            raise Status(NOENT)
        return self.entry(self.inodes[folder.entries[name]])

    def nfs_create(self, dir_fh: bytes, name: str, atime_s: int | None, caller: tuple) -> Entry:
        folder = self.folder(dir_fh)
        if name in folder.entries:
            raise Status(EXIST)  # GUARDED
        inode = self._new(NF3REG, caller)
        if atime_s is not None:
            inode.atime_ns = atime_s * 1_000_000_000
        folder.entries[name] = inode.fileid
        self._touch(folder)
        self.on_change("create", inode, folder, name, caller)
        return self.entry(inode)

    def nfs_write(self, fh: bytes, offset: int, data: bytes, caller: tuple) -> int:
        inode = self.inode(fh)
        if inode.type != NF3REG:
            raise Status(ISDIR)
        body = inode.data.ljust(offset, b"\0")
        inode.data = body[:offset] + data + body[offset + len(data) :]
        self._touch(inode)
        self.on_change("write", inode, None, None, caller)
        return len(data)

    def nfs_read(self, fh: bytes, offset: int, count: int, caller: tuple) -> tuple[bytes, bool]:
        inode = self.inode(fh)
        data = inode.data[offset : offset + count]
        return data, offset + len(data) >= len(inode.data)

    def nfs_link(self, fh: bytes, dir_fh: bytes, name: str, caller: tuple) -> None:
        if not self.hard_links:
            raise Status(NOTSUPP)
        inode, folder = self.inode(fh), self.folder(dir_fh)
        if inode.type == NF3DIR:
            raise Status(ISDIR)
        if name in folder.entries:
            raise Status(EXIST)
        folder.entries[name] = inode.fileid
        inode.nlink += 1
        self._touch(inode, data_changed=False)
        self._touch(folder)
        self.on_change("link", inode, folder, name, caller)

    def nfs_rename(
        self, from_fh: bytes, from_name: str, to_fh: bytes, to_name: str, caller: tuple
    ) -> None:
        source, target = self.folder(from_fh), self.folder(to_fh)
        if from_name not in source.entries:
            raise Status(NOENT)
        moving = self.inodes[source.entries[from_name]]
        replaced = target.entries.get(to_name)
        if replaced is not None:
            if replaced == moving.fileid:
                return  # the same file: nothing happens (RFC 1813)
            old = self.inodes[replaced]
            if old.type == NF3DIR and (moving.type != NF3DIR or old.entries):
                raise Status(EXIST if moving.type != NF3DIR else NOTEMPTY)
            if old.type != NF3DIR and moving.type == NF3DIR:
                raise Status(NOTDIR)
            self.on_change("replace", old, target, to_name, caller)
            self._unlink(target, to_name)
        del source.entries[from_name]
        target.entries[to_name] = moving.fileid
        self._touch(moving, data_changed=False)
        self._touch(source)
        self._touch(target)
        self.on_change("rename", moving, target, to_name, caller)

    def nfs_remove(self, dir_fh: bytes, name: str, caller: tuple) -> None:
        folder = self.folder(dir_fh)
        if name not in folder.entries:
            raise Status(NOENT)
        inode = self.inodes[folder.entries[name]]
        if inode.type == NF3DIR:
            raise Status(ISDIR)
        self.on_change("remove", inode, folder, name, caller)
        self._unlink(folder, name)
        self._touch(folder)

    def nfs_setattr_guarded(self, fh: bytes, ctime_ns: int, caller: tuple) -> Attributes:
        inode = self.inode(fh)
        if inode.ctime_ns != ctime_ns:
            raise Status(NOT_SYNC)
        self._touch(inode)
        self.on_change("setattr", inode, None, None, caller)
        return inode.attributes()

    def nfs_readdirplus(self, dir_fh: bytes, cookie: int, caller: tuple) -> DirPage:
        folder = self.folder(dir_fh)
        names = list(folder.entries.items())[cookie : cookie + PAGE_ENTRIES]
        entries = [
            DirEntry(
                name.encode(),
                fileid,
                cookie + i + 1,
                self.inodes[fileid].attributes(),
                self.inodes[fileid].handle,
            )
            for i, (name, fileid) in enumerate(names)
        ]
        return DirPage(entries, bytes(8), cookie + len(names) >= len(folder.entries))


TRANSIENT = (JUKEBOX, NOSPC)
