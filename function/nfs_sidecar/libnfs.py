"""A small NFSv3 client on libnfs, through ctypes.

libnfs's high-level API does the mount (portmapper, MOUNT, AUTH_SYS, explicit ports). The file
operations then go straight to NFSv3 RPCs on the mount's RPC context: they work on file handles, so
a warm client resolves a folder once instead of walking the path on every call, and several RPCs can
be in flight at once (one round trip for independent calls).

Every call is bounded by a deadline, every reply status is checked, and errors carry the server's
or libnfs's own text. After a transport error or a timeout the client is unusable (``broken``): the
caller drops it and mounts again.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import select
import time
from collections.abc import Callable
from ctypes import POINTER, Structure, Union, byref, c_char_p, c_int, c_uint32, c_uint64, c_void_p
from dataclasses import dataclass
from pathlib import Path

# Only this ABI is supported: the XDR structures below are libnfs 4.0's (soname 13); libnfs 6
# changed signatures (read/write argument order), so other sonames are refused, not guessed.
SONAME = "libnfs.so.13"
BUNDLED_LIB_DIR = Path(__file__).resolve().parent.parent / "lib"

NFS3_OK = 0
NFS3_STATUS = {
    1: "NFS3ERR_PERM",
    2: "NFS3ERR_NOENT",
    5: "NFS3ERR_IO",
    6: "NFS3ERR_NXIO",
    13: "NFS3ERR_ACCES",
    17: "NFS3ERR_EXIST",
    18: "NFS3ERR_XDEV",
    19: "NFS3ERR_NODEV",
    20: "NFS3ERR_NOTDIR",
    21: "NFS3ERR_ISDIR",
    22: "NFS3ERR_INVAL",
    27: "NFS3ERR_FBIG",
    28: "NFS3ERR_NOSPC",
    30: "NFS3ERR_ROFS",
    31: "NFS3ERR_MLINK",
    63: "NFS3ERR_NAMETOOLONG",
    66: "NFS3ERR_NOTEMPTY",
    69: "NFS3ERR_DQUOT",
    70: "NFS3ERR_STALE",
    71: "NFS3ERR_REMOTE",
    10001: "NFS3ERR_BADHANDLE",
    10002: "NFS3ERR_NOT_SYNC",
    10003: "NFS3ERR_BAD_COOKIE",
    10004: "NFS3ERR_NOTSUPP",
    10005: "NFS3ERR_TOOSMALL",
    10006: "NFS3ERR_SERVERFAULT",
    10007: "NFS3ERR_BADTYPE",
    10008: "NFS3ERR_JUKEBOX",
}
NOENT, ACCES, EXIST, STALE, BADHANDLE = 2, 13, 17, 70, 10001

NF3REG, NF3DIR, NF3LNK = 1, 2, 5
FILE_SYNC = 2
UNCHECKED, GUARDED = 0, 1
RPC_STATUS_SUCCESS, RPC_STATUS_ERROR, RPC_STATUS_CANCEL, RPC_STATUS_TIMEOUT = 0, 1, 2, 3


class NfsError(Exception):
    """Any NFS failure."""


class LibnfsUnavailable(NfsError):
    """libnfs could not be loaded, or is not the supported ABI."""


class NfsConnectionError(NfsError):
    """The transport failed (connect, socket, timeout): the client must be dropped."""


class NfsTimeout(NfsConnectionError):
    """No reply within the deadline."""


class MountError(NfsError):
    """The server refused or failed the mount."""


class NfsStatusError(NfsError):
    """The server answered with an NFS3ERR_* status."""

    def __init__(self, operation: str, status: int) -> None:
        self.operation = operation
        self.status = status
        self.status_name = NFS3_STATUS.get(status, f"NFS3ERR_{status}")
        super().__init__(f"{operation}: {self.status_name}")


# --- XDR structures (libnfs-raw-nfs.h, generated from RFC 1813's nfs.x) ---------------------


class nfs_fh3(Structure):
    _fields_ = (("data_len", c_uint32), ("data_val", c_void_p))


class nfstime3(Structure):
    _fields_ = (("seconds", c_uint32), ("nseconds", c_uint32))


class specdata3(Structure):
    _fields_ = (("specdata1", c_uint32), ("specdata2", c_uint32))


class fattr3(Structure):
    _fields_ = (
        ("type", c_uint32),
        ("mode", c_uint32),
        ("nlink", c_uint32),
        ("uid", c_uint32),
        ("gid", c_uint32),
        ("size", c_uint64),
        ("used", c_uint64),
        ("rdev", specdata3),
        ("fsid", c_uint64),
        ("fileid", c_uint64),
        ("atime", nfstime3),
        ("mtime", nfstime3),
        ("ctime", nfstime3),
    )


class post_op_attr(Structure):
    _fields_ = (("attributes_follow", c_uint32), ("attributes", fattr3))


class wcc_attr(Structure):
    _fields_ = (("size", c_uint64), ("mtime", nfstime3), ("ctime", nfstime3))


class pre_op_attr(Structure):
    _fields_ = (("attributes_follow", c_uint32), ("attributes", wcc_attr))


class wcc_data(Structure):
    _fields_ = (("before", pre_op_attr), ("after", post_op_attr))


class diropargs3(Structure):
    _fields_ = (("dir", nfs_fh3), ("name", c_char_p))


class set_u32(Structure):  # set_mode3, set_uid3, set_gid3
    _fields_ = (("set_it", c_uint32), ("value", c_uint32))


class set_size3(Structure):
    _fields_ = (("set_it", c_uint32), ("size", c_uint64))


class set_time(Structure):  # set_atime, set_mtime
    _fields_ = (("set_it", c_uint32), ("time", nfstime3))


class sattr3(Structure):
    _fields_ = (
        ("mode", set_u32),
        ("uid", set_u32),
        ("gid", set_u32),
        ("size", set_size3),
        ("atime", set_time),
        ("mtime", set_time),
    )


class createhow3_u(Union):
    _fields_ = (("obj_attributes", sattr3), ("verf", ctypes.c_char * 8))


class createhow3(Structure):
    _fields_ = (("mode", c_uint32), ("u", createhow3_u))


class CREATE3args(Structure):
    _fields_ = (("where", diropargs3), ("how", createhow3))


class post_op_fh3(Structure):
    _fields_ = (("handle_follows", c_uint32), ("handle", nfs_fh3))


class CREATE3res(Structure):
    _fields_ = (("status", c_uint32), ("obj", post_op_fh3), ("obj_attributes", post_op_attr))


class LOOKUP3args(Structure):
    _fields_ = (("what", diropargs3),)


class LOOKUP3res(Structure):
    _fields_ = (("status", c_uint32), ("object", nfs_fh3), ("obj_attributes", post_op_attr))


class opaque(Structure):
    _fields_ = (("len", c_uint32), ("val", c_void_p))


class WRITE3args(Structure):
    _fields_ = (
        ("file", nfs_fh3),
        ("offset", c_uint64),
        ("count", c_uint32),
        ("stable", c_uint32),
        ("data", opaque),
    )


class WRITE3res(Structure):
    _fields_ = (
        ("status", c_uint32),
        ("file_wcc", wcc_data),
        ("count", c_uint32),
        ("committed", c_uint32),
    )


class READ3args(Structure):
    _fields_ = (("file", nfs_fh3), ("offset", c_uint64), ("count", c_uint32))


class READ3res(Structure):
    _fields_ = (
        ("status", c_uint32),
        ("file_attributes", post_op_attr),
        ("count", c_uint32),
        ("eof", c_uint32),
        ("data", opaque),
    )


class RENAME3args(Structure):
    _fields_ = (("from_", diropargs3), ("to", diropargs3))


class LINK3args(Structure):
    _fields_ = (("file", nfs_fh3), ("link", diropargs3))


class REMOVE3args(Structure):
    _fields_ = (("object", diropargs3),)


class nfs_url(Structure):
    _fields_ = (("server", c_char_p), ("path", c_char_p), ("file", c_char_p))


class Status(Structure):  # the leading nfsstat3 every *3res starts with
    _fields_ = (("status", c_uint32),)


RPC_CB = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_void_p, c_void_p)

# name: (restype, argtypes)
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "nfs_init_context": (c_void_p, []),
    "nfs_destroy_context": (None, [c_void_p]),
    "nfs_get_error": (c_char_p, [c_void_p]),
    "nfs_set_timeout": (None, [c_void_p, c_int]),
    "nfs_set_autoreconnect": (None, [c_void_p, c_int]),
    "nfs_set_uid": (None, [c_void_p, c_int]),
    "nfs_set_gid": (None, [c_void_p, c_int]),
    "nfs_parse_url_dir": (POINTER(nfs_url), [c_void_p, c_char_p]),
    "nfs_destroy_url": (None, [POINTER(nfs_url)]),
    "nfs_mount": (c_int, [c_void_p, c_char_p, c_char_p]),
    "nfs_open": (c_int, [c_void_p, c_char_p, c_int, POINTER(c_void_p)]),
    "nfs_close": (c_int, [c_void_p, c_void_p]),
    "nfs_get_fh": (POINTER(nfs_fh3), [c_void_p]),
    "nfs_get_writemax": (c_uint64, [c_void_p]),
    "nfs_get_readmax": (c_uint64, [c_void_p]),
    "nfs_get_rpc_context": (c_void_p, [c_void_p]),
    "rpc_get_fd": (c_int, [c_void_p]),
    "rpc_which_events": (c_int, [c_void_p]),
    "rpc_service": (c_int, [c_void_p, c_int]),
    "rpc_get_error": (c_char_p, [c_void_p]),
    "rpc_nfs3_lookup_async": (c_int, [c_void_p, RPC_CB, POINTER(LOOKUP3args), c_void_p]),
    "rpc_nfs3_create_async": (c_int, [c_void_p, RPC_CB, POINTER(CREATE3args), c_void_p]),
    "rpc_nfs3_write_async": (c_int, [c_void_p, RPC_CB, POINTER(WRITE3args), c_void_p]),
    "rpc_nfs3_read_async": (c_int, [c_void_p, RPC_CB, POINTER(READ3args), c_void_p]),
    "rpc_nfs3_rename_async": (c_int, [c_void_p, RPC_CB, POINTER(RENAME3args), c_void_p]),
    "rpc_nfs3_remove_async": (c_int, [c_void_p, RPC_CB, POINTER(REMOVE3args), c_void_p]),
    "rpc_nfs3_link_async": (c_int, [c_void_p, RPC_CB, POINTER(LINK3args), c_void_p]),
}

_lib: ctypes.CDLL | None = None
_lib_path: str | None = None


def load_libnfs() -> ctypes.CDLL:
    """Loads libnfs once: the package's bundled copy by absolute path, else the system's."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    bundled = BUNDLED_LIB_DIR / SONAME
    candidates = [str(bundled)] if bundled.exists() else []
    candidates.append(SONAME)  # the dynamic loader's search: Debian libnfs13, RPM libnfs
    errors = []
    for candidate in candidates:
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as exc:
            errors.append(str(exc))
            continue
        missing = [name for name in _SIGNATURES if not hasattr(lib, name)]
        if missing:
            raise LibnfsUnavailable(f"{candidate} lacks {', '.join(missing)}: not libnfs 4.0 ABI")
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        _lib, _lib_path = lib, candidate
        return lib
    others = (
        sorted(p.name for p in BUNDLED_LIB_DIR.glob("libnfs.so*"))
        if BUNDLED_LIB_DIR.exists()
        else []
    )
    hint = f" (found {', '.join(others)}: unsupported ABI)" if others else ""
    raise LibnfsUnavailable(
        f"cannot load {SONAME}{hint}: bundle it in {BUNDLED_LIB_DIR} or install libnfs 4.0 "
        f"(Debian/Ubuntu: libnfs13; RPM: libnfs). Tried: {'; '.join(errors)}"
    )


def loaded_library_path() -> str | None:
    return _lib_path


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attributes:
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


@dataclass(frozen=True)
class Entry:
    fh: bytes
    attributes: Attributes | None


def _ns(t: nfstime3) -> int:
    return t.seconds * 1_000_000_000 + t.nseconds


def _attributes(attrs: post_op_attr) -> Attributes | None:
    if not attrs.attributes_follow:
        return None
    a = attrs.attributes
    return Attributes(
        a.type, a.mode, a.uid, a.gid, a.size, a.fileid, _ns(a.atime), _ns(a.mtime), _ns(a.ctime)
    )


def _fh_bytes(fh: nfs_fh3) -> bytes:
    return ctypes.string_at(fh.data_val, fh.data_len)


class Pending:
    """One RPC in flight; ``result()`` returns its value or raises its error."""

    __slots__ = ("_keep", "done", "error", "parse", "value", "what")

    def __init__(self, what: str, parse: Callable[[int], object], keep: object) -> None:
        self.what, self.parse, self._keep = what, parse, keep
        self.done = False
        self.value: object = None
        self.error: NfsError | None = None

    def result(self) -> object:
        if not self.done:
            raise NfsError(f"{self.what}: no reply yet")
        if self.error is not None:
            raise self.error
        return self.value


class NfsClient:
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
    ) -> None:
        self.lib = load_libnfs()
        self.server, self.export, self.timeout_ms = server, export, timeout_ms
        self.broken: str | None = None
        self.rpc_count = 0
        self._pending: dict[int, Pending] = {}
        self._unwaited: list[Pending] = []
        self._poller = select.poll()
        self._tokens = itertools.count(1)
        self._callback = RPC_CB(self._on_reply)  # must outlive the context
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
        lib, ctx = self.lib, self._ctx
        lib.nfs_set_timeout(ctx, self.timeout_ms)  # bounds every synchronous call below
        lib.nfs_set_autoreconnect(ctx, 0)  # a broken connection is the caller's to handle
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
        parsed = lib.nfs_parse_url_dir(ctx, url.encode())
        if not parsed:
            raise MountError(f"bad NFS URL {url}: {self._error()}")
        try:
            started = time.monotonic()
            if lib.nfs_mount(ctx, parsed.contents.server, parsed.contents.path) != 0:
                raise MountError(self._mount_failure(time.monotonic() - started))
        finally:
            lib.nfs_destroy_url(parsed)
        root = c_void_p()
        if lib.nfs_open(ctx, b"/", os.O_RDONLY, byref(root)) != 0:
            raise MountError(f"cannot open the root of {self.export}: {self._error()}")
        self.root = _fh_bytes(lib.nfs_get_fh(root).contents)
        if lib.nfs_close(ctx, root) != 0:
            raise MountError(f"cannot close the root of {self.export}: {self._error()}")
        self.writemax = int(lib.nfs_get_writemax(ctx)) or 65536
        self.readmax = int(lib.nfs_get_readmax(ctx)) or 65536
        self._rpc = lib.nfs_get_rpc_context(ctx)

    def _mount_failure(self, elapsed: float) -> str:
        error = self._error()
        where = f"{self.server}:{self.export}"
        if "timed out" in error or elapsed * 1000 >= self.timeout_ms * 0.9:
            return f"mount {where}: no answer within {self.timeout_ms} ms ({error})"
        if error.rstrip().endswith("(null)") and os.geteuid() != 0:
            # The RPC was rejected without a MOUNT status: what a server does to a client on a
            # non-privileged source port when it only admits privileged ones (VAST's default).
            return (
                f"mount {where} refused ({error}); this client runs unprivileged, so its source "
                "port is above 1023: the server must accept non-privileged ports (VAST: "
                "`vtool vsettings set NFS_ALLOW_INSECURE_PORTS=true`; Linux/ganesha: `insecure` / "
                "PrivilegedPort = false), and the export must allow this client"
            )
        return f"mount {where} failed: {error}"

    def _error(self) -> str:
        raw = self.lib.nfs_get_error(self._ctx)
        return raw.decode(errors="replace") if raw else "unknown error"

    # --- the RPC engine ---

    def _on_reply(self, _rpc: int, status: int, data: int, private: int) -> None:
        pending = self._pending.pop(private or 0, None)
        if pending is None:
            return  # a call we gave up on
        try:
            if status == RPC_STATUS_SUCCESS:
                code = Status.from_address(data).status
                if code == NFS3_OK:
                    pending.value = pending.parse(data)
                else:
                    pending.error = NfsStatusError(pending.what, code)
            elif status == RPC_STATUS_TIMEOUT:
                pending.error = NfsTimeout(f"{pending.what}: timed out")
            elif status == RPC_STATUS_CANCEL:
                pending.error = NfsConnectionError(f"{pending.what}: cancelled")
            else:
                text = ctypes.string_at(data).decode(errors="replace") if data else "RPC error"
                pending.error = NfsConnectionError(f"{pending.what}: {text}")
        except Exception as exc:  # never let an exception cross into C
            pending.error = NfsError(f"{pending.what}: cannot decode reply: {exc!r}")
        pending.done = True

    def _send(
        self, what: str, function: str, args: Structure, parse: Callable[[int], object]
    ) -> Pending:
        if self.broken:
            raise NfsConnectionError(f"{what}: connection unusable ({self.broken})")
        pending = Pending(what, parse, args)
        token = next(self._tokens)
        self._pending[token] = pending
        if getattr(self.lib, function)(self._rpc, self._callback, byref(args), token) != 0:
            del self._pending[token]
            self.broken = self._rpc_error()
            raise NfsConnectionError(f"{what}: cannot queue: {self.broken}")
        self.rpc_count += 1
        return pending

    def wait(self, *calls: Pending) -> None:
        """Services the connection until every call has its reply; bounded by the timeout."""
        self._service_until(
            lambda: all(call.done for call in calls),
            lambda: ", ".join(c.what for c in calls if not c.done),
        )
        for call in calls:
            if isinstance(call.error, NfsConnectionError):
                self.broken = str(call.error)

    def send_without_waiting(self, *calls: Pending) -> None:
        """Puts the calls on the wire and returns: their replies are read by later waits.

        For cleanup whose outcome changes nothing for the caller; failures are collected in
        ``unwaited_errors`` as the replies come in.
        """
        self._unwaited.extend(calls)
        self._service_until(
            lambda: not self.lib.rpc_which_events(self._rpc) & select.POLLOUT,
            lambda: "sending " + ", ".join(c.what for c in calls),
        )

    def take_unwaited_errors(self) -> list[NfsError]:
        done = [call for call in self._unwaited if call.done]
        self._unwaited = [call for call in self._unwaited if not call.done]
        return [call.error for call in done if call.error is not None]

    def _service_until(self, finished: Callable[[], bool], waiting: Callable[[], str]) -> None:
        deadline = time.monotonic() + self.timeout_ms / 1000
        # Send what is queued at once, without a poll first. Servicing with no events still
        # lets libnfs run its scan for calls past their own timeout.
        revents = self.lib.rpc_which_events(self._rpc) & select.POLLOUT
        while True:
            if self.lib.rpc_service(self._rpc, revents) < 0:
                self.broken = self._rpc_error()
                raise NfsConnectionError(f"{self.server}: {self.broken}")
            if finished():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.broken = f"no reply within {self.timeout_ms} ms"
                raise NfsTimeout(f"{waiting()}: {self.broken} from {self.server}")
            fd = self.lib.rpc_get_fd(self._rpc)
            if fd < 0:
                self.broken = "not connected"
                raise NfsConnectionError(f"{self.server}: {self.broken}")
            self._poller.register(fd, self.lib.rpc_which_events(self._rpc))
            # Wake at least every 100 ms so libnfs can expire its own per-call timeouts.
            ready = self._poller.poll(min(remaining, 0.1) * 1000)
            revents = ready[0][1] if ready else 0

    def call(self, pending: Pending) -> object:
        self.wait(pending)
        return pending.result()

    def _rpc_error(self) -> str:
        raw = self.lib.rpc_get_error(self._rpc)
        return raw.decode(errors="replace") if raw else "RPC failure"

    # --- NFSv3 procedures, each returning a Pending ---

    @staticmethod
    def _fh(fh: bytes) -> nfs_fh3:
        buf = ctypes.create_string_buffer(fh, len(fh))
        # ctypes keeps ``buf`` alive through the cast, and through any struct this is copied into.
        return nfs_fh3(len(fh), ctypes.cast(buf, c_void_p))

    def _dirop(self, dir_fh: bytes, name: str) -> diropargs3:
        return diropargs3(self._fh(dir_fh), name.encode())

    def lookup(self, dir_fh: bytes, name: str) -> Pending:
        """LOOKUP: the handle and attributes of ``name`` in a folder -> Entry."""

        def parse(data: int) -> Entry:
            res = LOOKUP3res.from_address(data)
            return Entry(_fh_bytes(res.object), _attributes(res.obj_attributes))

        return self._send(
            f"LOOKUP {name}", "rpc_nfs3_lookup_async", LOOKUP3args(self._dirop(dir_fh, name)), parse
        )

    def create(
        self, dir_fh: bytes, name: str, mode: int = 0o644, exclusive: bool = True
    ) -> Pending:
        """CREATE (GUARDED: fails NFS3ERR_EXIST if ``name`` exists) -> Entry of the new file."""
        how = createhow3(GUARDED if exclusive else UNCHECKED)
        how.u.obj_attributes.mode = set_u32(1, mode)

        def parse(data: int) -> Entry:
            res = CREATE3res.from_address(data)
            if not res.obj.handle_follows:
                raise NfsError(f"CREATE {name}: server returned no file handle")
            return Entry(_fh_bytes(res.obj.handle), _attributes(res.obj_attributes))

        return self._send(
            f"CREATE {name}",
            "rpc_nfs3_create_async",
            CREATE3args(self._dirop(dir_fh, name), how),
            parse,
        )

    def write(self, fh: bytes, offset: int, data: bytes) -> Pending:
        """WRITE with FILE_SYNC: on stable storage when the reply comes -> bytes written."""
        buf = ctypes.create_string_buffer(data, len(data))
        args = WRITE3args(
            self._fh(fh),
            offset,
            len(data),
            FILE_SYNC,
            opaque(len(data), ctypes.cast(buf, c_void_p)),
        )
        args._buf = buf  # type: ignore[attr-defined]

        def parse(res_address: int) -> int:
            res = WRITE3res.from_address(res_address)
            if res.committed != FILE_SYNC:
                raise NfsError(f"WRITE: server committed {res.committed}, not FILE_SYNC")
            return int(res.count)

        return self._send(f"WRITE {len(data)} bytes", "rpc_nfs3_write_async", args, parse)

    def read(self, fh: bytes, offset: int, count: int) -> Pending:
        """READ -> (data, eof)."""

        def parse(data: int) -> tuple[bytes, bool]:
            res = READ3res.from_address(data)
            return ctypes.string_at(res.data.val, res.data.len), bool(res.eof)

        return self._send(
            f"READ {count} bytes",
            "rpc_nfs3_read_async",
            READ3args(self._fh(fh), offset, count),
            parse,
        )

    def rename(self, from_dir: bytes, from_name: str, to_dir: bytes, to_name: str) -> Pending:
        """RENAME: atomically replaces ``to_name`` if it exists."""
        args = RENAME3args(self._dirop(from_dir, from_name), self._dirop(to_dir, to_name))
        return self._send(
            f"RENAME {from_name} -> {to_name}", "rpc_nfs3_rename_async", args, lambda _data: None
        )

    def link(self, fh: bytes, dir_fh: bytes, name: str) -> Pending:
        """LINK: a new name for a file; fails NFS3ERR_EXIST if ``name`` exists (never replaces)."""
        return self._send(
            f"LINK {name}",
            "rpc_nfs3_link_async",
            LINK3args(self._fh(fh), self._dirop(dir_fh, name)),
            lambda _data: None,
        )

    def remove(self, dir_fh: bytes, name: str) -> Pending:
        return self._send(
            f"REMOVE {name}",
            "rpc_nfs3_remove_async",
            REMOVE3args(self._dirop(dir_fh, name)),
            lambda _data: None,
        )

    # --- whole-file helpers ---

    def write_all(self, fh: bytes, data: bytes, *also: Pending) -> None:
        """Writes ``data`` from offset 0, waiting for ``also`` (calls sent before) as well."""
        calls = [
            self.write(fh, offset, data[offset : offset + self.writemax])
            for offset in range(0, len(data), self.writemax)
        ] or [self.write(fh, 0, b"")]
        self.wait(*also, *calls)
        written = sum(int(call.result()) for call in calls)  # type: ignore[call-overload]
        if written != len(data):
            raise NfsError(f"WRITE: short write, {written} of {len(data)} bytes")

    def read_all(self, fh: bytes, size_hint: int, limit: int) -> bytes:
        """Reads a whole file of at most ``limit`` bytes (more is an error)."""
        chunks: list[bytes] = []
        offset = 0
        while True:
            count = min(self.readmax, max(size_hint - offset, 0) + 1, limit + 1 - offset)
            data, eof = self.call(self.read(fh, offset, count))  # type: ignore[misc]
            chunks.append(data)
            offset += len(data)
            if offset > limit:
                raise NfsError(f"READ: file larger than {limit} bytes")
            if eof or not data:
                return b"".join(chunks)

    def close(self) -> None:
        """Drops the connection; pending calls are cancelled (their callbacks still run)."""
        ctx, self._ctx = self._ctx, None
        if ctx:
            self.lib.nfs_destroy_context(ctx)
        self.broken = self.broken or "closed"
        self._pending.clear()
