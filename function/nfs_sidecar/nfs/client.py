"""A small NFSv3 client: libnfs's high-level API mounts, then NFSv3 RPCs work on file handles.

Mounting goes through libnfs (portmapper or explicit ports, MOUNT, AUTH_SYS). The file operations
are then single NFSv3 RPCs on the mount's RPC context (nfs/engine.py): they take file handles, so a
warm client resolves a folder once instead of walking the path on every call, and independent
calls share one round trip.

libnfs's own resilience is switched off (no retransmission, no reconnect): a lost connection or a
timeout surfaces at once as ``NfsConnectionError``, and the caller decides whether to mount again.
"""

from __future__ import annotations

import ctypes
import os
import re
import time
from collections.abc import Callable
from ctypes import c_void_p
from typing import NamedTuple

from .engine import Pending, RpcEngine
from .errors import MountError, NfsError
from .libnfs import NFS_CB, load_libnfs
from .xdr import (
    FILE_SYNC,
    GUARDED,
    NF3DIR,
    NF3REG,
    SET_TO_CLIENT_TIME,
    SET_TO_SERVER_TIME,
    UNCHECKED,
    CREATE3args,
    CREATE3res,
    LINK3args,
    LOOKUP3args,
    LOOKUP3res,
    READ3args,
    READ3res,
    READDIRPLUS3args,
    READDIRPLUS3res,
    REMOVE3args,
    RENAME3args,
    SETATTR3args,
    SETATTR3res,
    WRITE3args,
    WRITE3res,
    cookieverf3,
    createhow3,
    diropargs3,
    nfs_fh3,
    nfstime3,
    opaque,
    post_op_attr,
    sattr3,
    sattrguard3,
    set_time,
    set_u32,
)

# A mount is two connects and about five round trips (MNT, NULL, FSINFO, GETATTR, the root's
# GETATTR): as a whole it may take this many timeouts, never more (nor past the budget).
MOUNT_TIMEOUTS = 2
# libnfs's words for a transport failure (not a refusal by the server)
TRANSPORT_FAILURE = re.compile(
    r"socket|connect|refused\(|reset|POLLHUP|POLLERR|timed out|broken pipe|EOF", re.IGNORECASE
)


class Attributes(NamedTuple):
    type: int
    mode: int
    uid: int
    gid: int
    size: int
    fileid: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int

    @property
    def is_dir(self) -> bool:
        return self.type == NF3DIR

    @property
    def is_regular(self) -> bool:
        return self.type == NF3REG


class Entry(NamedTuple):
    fh: bytes
    attributes: Attributes | None


class DirEntry(NamedTuple):
    """One name of a READDIRPLUS page."""

    name: bytes
    fileid: int
    cookie: int
    attributes: Attributes | None
    fh: bytes | None


class DirPage(NamedTuple):
    entries: list[DirEntry]
    verifier: bytes  # the cookie verifier to send with the next page's cookie
    eof: bool


def _ns(t: nfstime3) -> int:
    return int(t.seconds) * 1_000_000_000 + int(t.nseconds)  # ctypes fields are untyped


def _attributes(attrs: post_op_attr) -> Attributes | None:
    if not attrs.attributes_follow:
        return None
    a = attrs.attributes
    return Attributes(
        a.type, a.mode, a.uid, a.gid, a.size, a.fileid, _ns(a.atime), _ns(a.mtime), _ns(a.ctime)
    )


def _fh_bytes(fh: nfs_fh3) -> bytes:
    return ctypes.string_at(fh.data_val, fh.data_len)


def _fh(fh: bytes) -> nfs_fh3:
    buf = ctypes.create_string_buffer(fh, len(fh))
    # ctypes keeps ``buf`` alive through the cast, and through any struct this is copied into.
    return nfs_fh3(len(fh), ctypes.cast(buf, c_void_p))


def _dirop(dir_fh: bytes, name: str) -> diropargs3:
    return diropargs3(_fh(dir_fh), name.encode())


def _no_result(_data: int) -> None:
    return None


class NfsClient(RpcEngine):
    """One NFSv3 mount. Not thread-safe: one per execution environment."""

    def __init__(
        self,
        server: str,
        export: str,
        *,
        nfs_port: int | None = None,
        mount_port: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        timeout_ms: int = 5000,
        deadline: float | None = None,
    ) -> None:
        super().__init__(load_libnfs(), server, timeout_ms)
        self.export = export
        self.deadline = deadline  # the mount too ends by then
        self._async_callbacks: list[object] = []
        self._ctx = self.lib.nfs_init_context()
        if not self._ctx:
            raise NfsError("nfs_init_context failed (out of memory?)")
        try:
            self._mount(nfs_port, mount_port, uid, gid)
        except BaseException:
            self.close()
            raise

    # --- mount ---

    def _mount(
        self, nfs_port: int | None, mount_port: int | None, uid: int | None, gid: int | None
    ) -> None:
        """Connects and mounts (every RPC of it, and the connects between them) from the
        engine's poll loop, against one deadline: MOUNT_TIMEOUTS x ``timeout_ms`` from now, or
        the invocation's budget if that ends first. libnfs 7 has no connect timeout, and its
        synchronous mount bounds only each RPC: a dropped SYN hung it for the kernel's ~130 s,
        a slow server took a timeout per step."""
        lib, ctx = self.lib, self._ctx
        # Timeouts are the engine's (see engine.py); a broken connection or a timeout is the
        # caller's to handle: libnfs must neither reconnect nor resend behind our back (its
        # defaults emulate a "hard" mount).
        lib.nfs_set_timeout(ctx, -1)
        lib.nfs_set_autoreconnect(ctx, 0)
        lib.nfs_set_retrans(ctx, 0)
        if uid is not None:
            lib.nfs_set_uid(ctx, uid)
        if gid is not None:
            lib.nfs_set_gid(ctx, gid)
        query = ["version=3"]
        if nfs_port:
            query.append(f"nfsport={nfs_port}")
        if mount_port:
            query.append(f"mountport={mount_port}")
        url = f"nfs://{self.server}{self.export}?{'&'.join(query)}"
        self._rpc = lib.nfs_get_rpc_context(ctx)
        bound_ms = MOUNT_TIMEOUTS * self.timeout_ms
        bound = f"{bound_ms} ms"
        if self.deadline is not None:
            left_ms = max(1, int((self.deadline - time.monotonic()) * 1000))
            if left_ms < bound_ms:
                bound_ms, bound = left_ms, f"{left_ms} ms (the invocation's time budget)"
        ends = time.monotonic() + bound_ms / 1000
        parsed = lib.nfs_parse_url_dir(ctx, url.encode())
        if not parsed:
            raise MountError(f"bad NFS URL {url}: {self._error() or 'cannot parse it'}")
        try:
            mounted = self._run_async(
                "mount",
                ends,
                bound,
                lambda cb: lib.nfs_mount_async(
                    ctx, parsed.contents.server, parsed.contents.path, cb, None
                ),
            )
        finally:
            lib.nfs_destroy_url(parsed)
        if mounted is not None:
            raise MountError(
                self._mount_failure(mounted),
                transient=bool(TRANSPORT_FAILURE.search(mounted)),
            )
        root = c_void_p()
        opened = self._run_async(
            "mount",  # the root's handle is the mount's last step
            ends,
            bound,
            lambda cb: lib.nfs_open_async(ctx, b"/", os.O_RDONLY, cb, None),
            root,
        )
        if opened is not None:
            raise MountError(
                f"cannot open the root of {self.export}: {opened}",
                transient=bool(TRANSPORT_FAILURE.search(opened)),
            )
        fh = lib.nfs_get_fh(root).contents
        self.root = ctypes.string_at(fh.val, fh.len)
        if lib.nfs_close(ctx, root) != 0:  # no RPC: the root was opened read-only
            raise MountError(f"cannot close the root of {self.export}: {self._error()}")
        self.writemax = int(lib.nfs_get_writemax(ctx)) or 65536
        self.readmax = int(lib.nfs_get_readmax(ctx)) or 65536
        self._last_sent = time.monotonic()

    def _run_async(
        self,
        what: str,
        ends: float,
        bound: str,
        start: Callable[[object], int],
        result: c_void_p | None = None,
    ) -> str | None:
        """Starts an ``nfs_*_async`` call and services the connection until its callback ran
        or ``ends`` -> None when it succeeded (``result`` then holds its data), else why not.
        A timeout raises MountError: "no answer within N ms"."""
        done: list[str | None] = []

        def finished(err: int, _nfs: int, data: int, _private: int) -> None:
            if err == 0:
                if result is not None:
                    result.value = data
                done.append(None)
            else:
                text = ctypes.string_at(data).decode(errors="replace") if data else ""
                done.append(text or self._error() or f"error {err}")

        # libnfs calls it again if the context is destroyed mid-way (cancelling): keep it.
        self._async_callbacks.append(NFS_CB(finished))
        if start(self._async_callbacks[-1]) != 0:
            return self._error() or "cannot start"
        revents = 0
        while not done:
            if self.lib.rpc_service(self._rpc, revents) < 0 and not done:
                return self._error() or self._rpc_error()
            if done:
                break
            remaining = ends - time.monotonic()
            if remaining <= 0:
                raise MountError(
                    f"{what} {self.server}:{self.export}: no answer within {bound}"
                    + (f" ({self._error()})" if self._error() else ""),
                    transient=True,
                )
            revents = self._poll(remaining)
            if revents < 0:
                return self._error() or "not connected"
        return done[0]

    def _mount_failure(self, error: str) -> str:
        where = f"{self.server}:{self.export}"
        if (not error or "not accepted" in error) and os.geteuid() != 0:
            # Rejected at the RPC level, without a MOUNT status or a transport error: what a
            # server does to a client on a non-privileged source port when it only admits
            # privileged ones (VAST's default).
            return (
                f"mount {where} refused without a reason ({error or 'no text'}); this client runs "
                "unprivileged, so "
                "its source port is above 1023: the server must accept non-privileged ports (VAST: "
                "`vtool vsettings set NFS_ALLOW_INSECURE_PORTS=true`; Linux/ganesha: `insecure` / "
                "PrivilegedPort = false), and the export must allow this client"
            )
        return f"mount {where} failed: {error or 'no reason given'}"

    def _error(self) -> str:
        """libnfs's last error text; "" when it has none."""
        raw = self.lib.nfs_get_error(self._ctx)
        return raw.decode(errors="replace") if raw else ""

    # --- NFSv3 procedures, each returning a Pending ---

    def lookup(self, dir_fh: bytes, name: str) -> Pending:
        """LOOKUP: the handle and attributes of ``name`` in a folder -> Entry."""

        def parse(data: int) -> Entry:
            res = LOOKUP3res.from_address(data)
            return Entry(_fh_bytes(res.object), _attributes(res.obj_attributes))

        return self.send(
            f"LOOKUP {name}", "rpc_nfs3_lookup_task", LOOKUP3args(_dirop(dir_fh, name)), parse
        )

    def create(
        self,
        dir_fh: bytes,
        name: str,
        mode: int = 0o644,
        exclusive: bool = True,
        atime_s: int | None = None,
    ) -> Pending:
        """CREATE (GUARDED: fails NFS3ERR_EXIST if ``name`` exists) -> Entry of the new file.
        ``atime_s``: the access time it is created with (whole seconds), if not the server's."""
        how = createhow3(GUARDED if exclusive else UNCHECKED)
        how.u.obj_attributes.mode = set_u32(1, mode)
        if atime_s is not None:
            how.u.obj_attributes.atime = set_time(SET_TO_CLIENT_TIME, nfstime3(atime_s, 0))

        def parse(data: int) -> Entry:
            res = CREATE3res.from_address(data)
            if not res.obj.handle_follows:
                raise NfsError(f"CREATE {name}: server returned no file handle")
            return Entry(_fh_bytes(res.obj.handle), _attributes(res.obj_attributes))

        return self.send(
            f"CREATE {name}",
            "rpc_nfs3_create_task",
            CREATE3args(_dirop(dir_fh, name), how),
            parse,
        )

    def write(self, fh: bytes, offset: int, data: bytes) -> Pending:
        """WRITE with FILE_SYNC: on stable storage when the reply comes -> bytes written."""
        buf = ctypes.create_string_buffer(data, len(data))
        args = WRITE3args(
            _fh(fh), offset, len(data), FILE_SYNC, opaque(len(data), ctypes.cast(buf, c_void_p))
        )

        def parse(res_address: int) -> int:
            res = WRITE3res.from_address(res_address)
            if res.committed != FILE_SYNC:
                raise NfsError(f"WRITE: server committed {res.committed}, not FILE_SYNC")
            return int(res.count)

        # libnfs 7 sends ``buf`` in place: it must live until the reply.
        return self.send(f"WRITE {len(data)} bytes", "rpc_nfs3_write_task", args, parse, keep=buf)

    def read(self, fh: bytes, offset: int, count: int) -> Pending:
        """READ -> (data, eof); the data is received straight into a buffer of ours."""
        buf = ctypes.create_string_buffer(count)

        def parse(data: int) -> tuple[bytes, bool]:
            res = READ3res.from_address(data)
            return buf.raw[: min(res.count, count)], bool(res.eof)

        return self.send(
            f"READ {count} bytes",
            "rpc_nfs3_read_task",
            READ3args(_fh(fh), offset, count),
            parse,
            buf,
            count,
            keep=buf,
        )

    def rename(self, from_dir: bytes, from_name: str, to_dir: bytes, to_name: str) -> Pending:
        """RENAME: atomically replaces ``to_name`` if it exists."""
        args = RENAME3args(_dirop(from_dir, from_name), _dirop(to_dir, to_name))
        return self.send(
            f"RENAME {from_name} -> {to_name}", "rpc_nfs3_rename_task", args, _no_result
        )

    def link(self, fh: bytes, dir_fh: bytes, name: str) -> Pending:
        """LINK: a new name for a file; fails NFS3ERR_EXIST if ``name`` exists (never replaces)."""
        return self.send(
            f"LINK {name}",
            "rpc_nfs3_link_task",
            LINK3args(_fh(fh), _dirop(dir_fh, name)),
            _no_result,
        )

    def touch_if_unchanged(self, fh: bytes, ctime_ns: int) -> Pending:
        """SETATTR mtime to the server's time, guarded: fails NFS3ERR_NOT_SYNC unless the file's
        ctime is still ``ctime_ns`` (RFC 1813's guard; SETATTR itself changes the ctime, so of
        several callers with the same guard one succeeds) -> the file's attributes after it."""
        new = sattr3()
        new.mtime = set_time(SET_TO_SERVER_TIME)
        guard = sattrguard3(1, nfstime3(*divmod(ctime_ns, 1_000_000_000)))

        def parse(data: int) -> Attributes | None:
            return _attributes(SETATTR3res.from_address(data).obj_wcc.after)

        return self.send(
            "SETATTR mtime (guarded)",
            "rpc_nfs3_setattr_task",
            SETATTR3args(_fh(fh), new, guard),
            parse,
        )

    def readdirplus(self, dir_fh: bytes, cookie: int, verifier: bytes, maxcount: int) -> Pending:
        """One READDIRPLUS page of at most ``maxcount`` bytes from ``cookie`` -> DirPage."""
        args = READDIRPLUS3args(
            _fh(dir_fh), cookie, cookieverf3.from_buffer_copy(verifier), maxcount, maxcount
        )

        def parse(data: int) -> DirPage:
            res = READDIRPLUS3res.from_address(data)
            entries = []
            node = res.entries
            while node:
                e = node.contents
                handle = e.name_handle
                fh = _fh_bytes(handle.handle) if handle.handle_follows else None
                attributes = _attributes(e.name_attributes)
                entries.append(DirEntry(e.name or b"", e.fileid, e.cookie, attributes, fh))
                node = e.nextentry
            return DirPage(entries, bytes(res.cookieverf), bool(res.eof))

        return self.send("READDIRPLUS", "rpc_nfs3_readdirplus_task", args, parse)

    def remove(self, dir_fh: bytes, name: str) -> Pending:
        return self.send(
            f"REMOVE {name}", "rpc_nfs3_remove_task", REMOVE3args(_dirop(dir_fh, name)), _no_result
        )

    def close(self) -> None:
        """Drops the connection; calls still queued are cancelled (their callbacks still run)."""
        ctx, self._ctx = self._ctx, None
        if ctx:
            self.lib.nfs_destroy_context(ctx)
        self.forget_pending()
