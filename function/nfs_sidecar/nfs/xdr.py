"""NFSv3 as libnfs lays it out in memory: status codes, constants and the XDR structures of
libnfs-raw-nfs.h (generated from RFC 1813's nfs.x; unchanged from libnfs 4.0 to 7.0).

Pure data: no library is loaded here.
"""

from __future__ import annotations

import ctypes
from ctypes import Structure, Union, c_char_p, c_uint32, c_uint64, c_void_p

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
PERM, NOENT, IO, ACCES, EXIST, NOSPC, ROFS, MLINK = 1, 2, 5, 13, 17, 28, 30, 31
DQUOT, STALE, BADHANDLE, NOTSUPP, SERVERFAULT, JUKEBOX = 69, 70, 10001, 10004, 10006, 10008
NOT_SYNC, BAD_COOKIE = 10002, 10003
NOTDIR, ISDIR, NOTEMPTY = 20, 21, 66

NF3REG, NF3DIR, NF3LNK = 1, 2, 5
FILE_SYNC = 2
UNCHECKED, GUARDED = 0, 1
DONT_CHANGE, SET_TO_SERVER_TIME, SET_TO_CLIENT_TIME = 0, 1, 2  # time_how


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


class sattrguard3(Structure):
    _fields_ = (("check", c_uint32), ("obj_ctime", nfstime3))


class SETATTR3args(Structure):
    _fields_ = (("object", nfs_fh3), ("new_attributes", sattr3), ("guard", sattrguard3))


class SETATTR3res(Structure):  # resok and resfail both hold just the wcc_data
    _fields_ = (("status", c_uint32), ("obj_wcc", wcc_data))


cookieverf3 = ctypes.c_ubyte * 8  # c_char would cut the bytes at the first NUL


class READDIRPLUS3args(Structure):
    _fields_ = (
        ("dir", nfs_fh3),
        ("cookie", c_uint64),
        ("cookieverf", cookieverf3),
        ("dircount", c_uint32),
        ("maxcount", c_uint32),
    )


class entryplus3(Structure):
    pass


entryplus3._fields_ = (
    ("fileid", c_uint64),
    ("name", c_char_p),
    ("cookie", c_uint64),
    ("name_attributes", post_op_attr),
    ("name_handle", post_op_fh3),
    ("nextentry", ctypes.POINTER(entryplus3)),
)


class READDIRPLUS3res(Structure):
    _fields_ = (
        ("status", c_uint32),
        ("dir_attributes", post_op_attr),
        ("cookieverf", cookieverf3),
        ("entries", ctypes.POINTER(entryplus3)),
        ("eof", c_uint32),
    )


class Status(Structure):  # the leading nfsstat3 every *3res starts with
    _fields_ = (("status", c_uint32),)
