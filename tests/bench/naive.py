"""The baseline: the same sidecar written the naive way, through libnfs's high-level path API,
with a new mount per message (what the tutorial's function does, minus its hangs)."""

from __future__ import annotations

import ctypes
import functools
import os
from ctypes import POINTER, byref, c_char_p, c_int, c_uint64, c_void_p

from nfs_sidecar.document import render
from nfs_sidecar.message import Notification, sidecar_location
from nfs_sidecar.nfs.libnfs import load_libnfs


class nfs_stat_64(ctypes.Structure):
    _fields_ = [
        (name, c_uint64)
        for name in (
            "dev",
            "ino",
            "mode",
            "nlink",
            "uid",
            "gid",
            "rdev",
            "size",
            "blksize",
            "blocks",
            "atime",
            "mtime",
            "ctime",
            "atime_nsec",
            "mtime_nsec",
            "ctime_nsec",
            "used",
        )
    ]


class Stat:  # what render() reads from an Entry's attributes
    def __init__(self, st: nfs_stat_64) -> None:
        self.size = st.size
        self.ctime_ns = st.ctime * 10**9 + st.ctime_nsec
        self.mtime_ns = st.mtime * 10**9 + st.mtime_nsec


class Entry:
    def __init__(self, st: nfs_stat_64) -> None:
        self.attributes = Stat(st)


@functools.cache  # once, like the function: not part of the per-message work
def _lib() -> ctypes.CDLL:
    lib = load_libnfs()
    lib.nfs_stat64.argtypes = [c_void_p, c_char_p, POINTER(nfs_stat_64)]
    lib.nfs_open2.argtypes = [c_void_p, c_char_p, c_int, c_int, POINTER(c_void_p)]
    lib.nfs_write.argtypes = [c_void_p, c_void_p, c_char_p, c_uint64]  # libnfs 6+: buf, count
    return lib


def write_sidecar_naive(url: str, note: Notification, suffix: str, timeout_ms: int) -> None:
    lib = _lib()
    ctx = lib.nfs_init_context()
    try:
        lib.nfs_set_timeout(ctx, timeout_ms)
        parsed = lib.nfs_parse_url_dir(ctx, url.encode())
        if not parsed or lib.nfs_mount(ctx, parsed.contents.server, parsed.contents.path):
            raise RuntimeError(f"mount: {lib.nfs_get_error(ctx)}")
        lib.nfs_destroy_url(parsed)
        st = nfs_stat_64()
        if lib.nfs_stat64(ctx, ("/" + note.filename).encode(), byref(st)):
            raise RuntimeError(f"stat: {lib.nfs_get_error(ctx)}")
        folder, _name, sidecar = sidecar_location(note.filename, suffix)
        content = render(note, Entry(st))  # type: ignore[arg-type]
        fh = c_void_p()
        path = f"/{folder}/{sidecar}".encode()
        if lib.nfs_open2(ctx, path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, byref(fh)):
            raise RuntimeError(f"create: {lib.nfs_get_error(ctx)}")
        if lib.nfs_write(ctx, fh, content, len(content)) != len(content):
            raise RuntimeError(f"write: {lib.nfs_get_error(ctx)}")
        if lib.nfs_close(ctx, fh):
            raise RuntimeError(f"close: {lib.nfs_get_error(ctx)}")
    finally:
        lib.nfs_destroy_context(ctx)
