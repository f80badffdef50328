"""Loads libnfs 7 (soname libnfs.so.17) through ctypes and declares the functions the client calls.

The package's bundled copy (``lib/libnfs.so.17`` beside ``lambda_function.py``) is loaded by
absolute path, so neither LD_LIBRARY_PATH nor the system's libraries matter; a system copy of the
same soname is the fallback. Only this ABI is accepted: the soname names it, and a function that
only libnfs 7.0 has (``nfs_set_readonly``) tells it apart from a mislabelled older build. Anything
else is refused with the reason, never bound with guessed structure layouts.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import POINTER, Structure, c_char_p, c_int, c_size_t, c_void_p

from .errors import LibnfsUnavailable
from .xdr import (
    CREATE3args,
    LINK3args,
    LOOKUP3args,
    READ3args,
    READDIRPLUS3args,
    REMOVE3args,
    RENAME3args,
    SETATTR3args,
    WRITE3args,
)

SONAME = "libnfs.so.17"
VERSION = "7.0"
# First exported by libnfs 7.0 (soname 17); absent from 6.x (soname 16) and older.
MARKER_SYMBOL = "nfs_set_readonly"
# os.path, not pathlib: pathlib costs a cold start ~8 ms of imports.
# This file is <zip root>/nfs_sidecar/nfs/libnfs.py.
_ZIP_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
BUNDLED_LIB_DIR = os.path.join(_ZIP_ROOT, "lib")

RPC_STATUS_SUCCESS, RPC_STATUS_ERROR, RPC_STATUS_CANCEL, RPC_STATUS_TIMEOUT = 0, 1, 2, 3


class nfs_url(Structure):  # libnfs.h; ``port`` is new in 7.0
    _fields_ = (("server", c_char_p), ("port", c_int), ("path", c_char_p), ("file", c_char_p))


class nfs_fh(Structure):  # what nfs_get_fh() points at: the same layout as nfs_fh3
    _fields_ = (("len", c_int), ("val", c_void_p))


# void (*rpc_cb)(struct rpc_context *rpc, int status, void *data, void *private_data)
RPC_CB = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_void_p, c_void_p)
# void (*nfs_cb)(int err, struct nfs_context *nfs, void *data, void *private_data)
NFS_CB = ctypes.CFUNCTYPE(None, c_int, c_void_p, c_void_p, c_void_p)
# The rpc_nfs3_*_task functions return the queued PDU, or NULL when it could not be queued.
PDU = c_void_p

# name: (restype, argtypes), as declared in libnfs 7.0's include/nfsc/libnfs.h and libnfs-raw.h
SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "nfs_init_context": (c_void_p, []),
    "nfs_destroy_context": (None, [c_void_p]),
    "nfs_get_error": (c_char_p, [c_void_p]),
    "nfs_set_timeout": (None, [c_void_p, c_int]),
    "nfs_set_autoreconnect": (None, [c_void_p, c_int]),
    "nfs_set_retrans": (None, [c_void_p, c_int]),
    "nfs_set_uid": (None, [c_void_p, c_int]),
    "nfs_set_gid": (None, [c_void_p, c_int]),
    MARKER_SYMBOL: (None, [c_void_p, c_int]),
    "nfs_parse_url_dir": (POINTER(nfs_url), [c_void_p, c_char_p]),
    "nfs_destroy_url": (None, [POINTER(nfs_url)]),
    "nfs_mount": (c_int, [c_void_p, c_char_p, c_char_p]),  # the bench's naive handler
    # (nfs, server, export, cb, private): connects and mounts, driven by rpc_service
    "nfs_mount_async": (c_int, [c_void_p, c_char_p, c_char_p, NFS_CB, c_void_p]),
    "nfs_open_async": (c_int, [c_void_p, c_char_p, c_int, NFS_CB, c_void_p]),
    "nfs_close": (c_int, [c_void_p, c_void_p]),
    "nfs_get_fh": (POINTER(nfs_fh), [c_void_p]),
    "nfs_get_writemax": (c_size_t, [c_void_p]),
    "nfs_get_readmax": (c_size_t, [c_void_p]),
    "nfs_get_rpc_context": (c_void_p, [c_void_p]),
    "rpc_get_fd": (c_int, [c_void_p]),
    "rpc_which_events": (c_int, [c_void_p]),
    "rpc_service": (c_int, [c_void_p, c_int]),
    "rpc_get_error": (c_char_p, [c_void_p]),
    "rpc_nfs3_null_task": (PDU, [c_void_p, RPC_CB, c_void_p]),
    "rpc_nfs3_lookup_task": (PDU, [c_void_p, RPC_CB, POINTER(LOOKUP3args), c_void_p]),
    "rpc_nfs3_create_task": (PDU, [c_void_p, RPC_CB, POINTER(CREATE3args), c_void_p]),
    "rpc_nfs3_write_task": (PDU, [c_void_p, RPC_CB, POINTER(WRITE3args), c_void_p]),
    # (rpc, cb, buf, count, args, private): the data lands in the caller's buffer
    "rpc_nfs3_read_task": (
        PDU,
        [c_void_p, RPC_CB, c_void_p, c_size_t, POINTER(READ3args), c_void_p],
    ),
    "rpc_nfs3_rename_task": (PDU, [c_void_p, RPC_CB, POINTER(RENAME3args), c_void_p]),
    "rpc_nfs3_remove_task": (PDU, [c_void_p, RPC_CB, POINTER(REMOVE3args), c_void_p]),
    "rpc_nfs3_link_task": (PDU, [c_void_p, RPC_CB, POINTER(LINK3args), c_void_p]),
    "rpc_nfs3_setattr_task": (PDU, [c_void_p, RPC_CB, POINTER(SETATTR3args), c_void_p]),
    "rpc_nfs3_readdirplus_task": (PDU, [c_void_p, RPC_CB, POINTER(READDIRPLUS3args), c_void_p]),
}

_lib: ctypes.CDLL | None = None
_lib_path: str | None = None


def load_libnfs(path: str | None = None) -> ctypes.CDLL:
    """Loads libnfs once: ``path`` if given, else the bundled copy, else the system's."""
    global _lib, _lib_path
    if _lib is not None:
        if path is not None and path != _lib_path:
            raise LibnfsUnavailable(f"libnfs is already loaded from {_lib_path}, not {path}")
        return _lib
    bundled = os.path.join(BUNDLED_LIB_DIR, SONAME)
    if path is not None:
        candidates = [path]
    else:
        candidates = [bundled] if os.path.exists(bundled) else []
        candidates.append(SONAME)  # the dynamic loader's search
    errors = []
    for candidate in candidates:
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as exc:
            errors.append(str(exc))
            continue
        missing = [name for name in SIGNATURES if not hasattr(lib, name)]
        if missing:
            raise LibnfsUnavailable(
                f"{candidate} lacks {', '.join(missing)}: not the libnfs {VERSION} ABI"
            )
        for name, (restype, argtypes) in SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        _lib, _lib_path = lib, candidate
        return lib
    others = (
        sorted(n for n in os.listdir(BUNDLED_LIB_DIR) if n.startswith("libnfs.so") and n != SONAME)
        if os.path.isdir(BUNDLED_LIB_DIR)
        else []
    )
    hint = f" (found {', '.join(others)}: unsupported ABI)" if others else ""
    raise LibnfsUnavailable(
        f"cannot load {SONAME} (libnfs {VERSION}){hint}: the deployment zip bundles it in "
        f"lib/ (make build); no distribution packages this version. Tried: {'; '.join(errors)}"
    )


def loaded_library_path() -> str | None:
    return _lib_path
