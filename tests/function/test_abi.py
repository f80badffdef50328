"""The ctypes layouts agree with libnfs's own headers, byte for byte, and the loader refuses
anything but the libnfs 7 ABI.

A C program compiled against the pinned release's headers (from the verified source archive the
build uses) prints sizeof and offsetof for every structure and field the client declares; the
ctypes side must give the same numbers. A wrong layout would otherwise corrupt memory silently.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from nfs_sidecar.nfs import libnfs, xdr
from nfs_sidecar.nfs.errors import LibnfsUnavailable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "build"))
import libnfs_sources  # noqa: E402  (build/libnfs_sources.py)

# ctypes class -> (C type, {ctypes field: C member designator}); *res structures are flattened
# on our side to the status and the resok arm of the C union.
LAYOUTS: dict[type[ctypes.Structure], tuple[str, dict[str, str]]] = {
    xdr.nfs_fh3: ("nfs_fh3", {"data_len": "data.data_len", "data_val": "data.data_val"}),
    xdr.nfstime3: ("nfstime3", {"seconds": "seconds", "nseconds": "nseconds"}),
    xdr.specdata3: ("specdata3", {"specdata1": "specdata1", "specdata2": "specdata2"}),
    xdr.fattr3: (
        "fattr3",
        {f: f for f in ("type", "mode", "nlink", "uid", "gid", "size", "used", "rdev", "fsid")}
        | {f: f for f in ("fileid", "atime", "mtime", "ctime")},
    ),
    xdr.post_op_attr: (
        "post_op_attr",
        {"attributes_follow": "attributes_follow", "attributes": "post_op_attr_u.attributes"},
    ),
    xdr.wcc_attr: ("wcc_attr", {"size": "size", "mtime": "mtime", "ctime": "ctime"}),
    xdr.pre_op_attr: (
        "pre_op_attr",
        {"attributes_follow": "attributes_follow", "attributes": "pre_op_attr_u.attributes"},
    ),
    xdr.wcc_data: ("wcc_data", {"before": "before", "after": "after"}),
    xdr.diropargs3: ("diropargs3", {"dir": "dir", "name": "name"}),
    xdr.set_u32: ("set_mode3", {"set_it": "set_it", "value": "set_mode3_u.mode"}),
    xdr.set_size3: ("set_size3", {"set_it": "set_it", "size": "set_size3_u.size"}),
    xdr.set_time: ("set_atime", {"set_it": "set_it", "time": "set_atime_u.atime"}),
    xdr.sattr3: ("sattr3", {f: f for f in ("mode", "uid", "gid", "size", "atime", "mtime")}),
    xdr.createhow3: ("createhow3", {"mode": "mode", "u": "createhow3_u"}),
    xdr.CREATE3args: ("CREATE3args", {"where": "where", "how": "how"}),
    xdr.post_op_fh3: (
        "post_op_fh3",
        {"handle_follows": "handle_follows", "handle": "post_op_fh3_u.handle"},
    ),
    xdr.CREATE3res: (
        "CREATE3res",
        {
            "status": "status",
            "obj": "CREATE3res_u.resok.obj",
            "obj_attributes": "CREATE3res_u.resok.obj_attributes",
        },
    ),
    xdr.LOOKUP3args: ("LOOKUP3args", {"what": "what"}),
    xdr.LOOKUP3res: (
        "LOOKUP3res",
        {
            "status": "status",
            "object": "LOOKUP3res_u.resok.object",
            "obj_attributes": "LOOKUP3res_u.resok.obj_attributes",
        },
    ),
    xdr.WRITE3args: (
        "WRITE3args",
        {
            "file": "file",
            "offset": "offset",
            "count": "count",
            "stable": "stable",
            "data": "data",
        },
    ),
    xdr.WRITE3res: (
        "WRITE3res",
        {
            "status": "status",
            "file_wcc": "WRITE3res_u.resok.file_wcc",
            "count": "WRITE3res_u.resok.count",
            "committed": "WRITE3res_u.resok.committed",
        },
    ),
    xdr.READ3args: ("READ3args", {"file": "file", "offset": "offset", "count": "count"}),
    xdr.READ3res: (
        "READ3res",
        {
            "status": "status",
            "file_attributes": "READ3res_u.resok.file_attributes",
            "count": "READ3res_u.resok.count",
            "eof": "READ3res_u.resok.eof",
            "data": "READ3res_u.resok.data",
        },
    ),
    xdr.RENAME3args: ("RENAME3args", {"from_": "from", "to": "to"}),
    xdr.LINK3args: ("LINK3args", {"file": "file", "link": "link"}),
    xdr.REMOVE3args: ("REMOVE3args", {"object": "object"}),
    xdr.sattrguard3: (
        "sattrguard3",
        {"check": "check", "obj_ctime": "sattrguard3_u.obj_ctime"},
    ),
    xdr.SETATTR3args: (
        "SETATTR3args",
        {"object": "object", "new_attributes": "new_attributes", "guard": "guard"},
    ),
    xdr.READDIRPLUS3args: (
        "READDIRPLUS3args",
        {f: f for f in ("dir", "cookie", "cookieverf", "dircount", "maxcount")},
    ),
    xdr.entryplus3: (
        "entryplus3",
        {f: f for f in ("fileid", "name", "cookie", "name_attributes", "name_handle", "nextentry")},
    ),
    xdr.READDIRPLUS3res: (
        "READDIRPLUS3res",
        {
            "status": "status",
            "dir_attributes": "READDIRPLUS3res_u.resok.dir_attributes",
            "cookieverf": "READDIRPLUS3res_u.resok.cookieverf",
            "entries": "READDIRPLUS3res_u.resok.reply.entries",
            "eof": "READDIRPLUS3res_u.resok.reply.eof",
        },
    ),
    libnfs.nfs_url: (
        "struct nfs_url",
        {"server": "server", "port": "port", "path": "path", "file": "file"},
    ),
}
# Structures passed to libnfs whole (arguments) must match in size too; results are read only.
ARGUMENTS = {
    xdr.nfs_fh3,
    xdr.diropargs3,
    xdr.sattr3,
    xdr.createhow3,
    xdr.CREATE3args,
    xdr.LOOKUP3args,
    xdr.WRITE3args,
    xdr.READ3args,
    xdr.RENAME3args,
    xdr.LINK3args,
    xdr.REMOVE3args,
    xdr.sattrguard3,
    xdr.SETATTR3args,
    xdr.READDIRPLUS3args,
    libnfs.nfs_url,
}


@pytest.fixture(scope="module")
def c_layouts(tmp_path_factory: pytest.TempPathFactory, bundled_libnfs: Path) -> dict[str, int]:
    """{"sizeof T" | "offsetof T member": value} from a C program built on the pinned headers."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to check the ctypes layouts: apt-get install gcc")
    tmp = tmp_path_factory.mktemp("abi")
    # bundled_libnfs built the zip, so the verified source archive is in the build cache.
    tarball = ROOT / ".tmp" / "build-cache" / libnfs_sources.SOURCE.filename
    with tarfile.open(tarball) as tar:
        # extractall's filter (PEP 706) came in 3.11.4: Debian 12's Python is 3.11.2. The archive
        # is the pinned source the build verified either way.
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp, filter="data")
        else:
            tar.extractall(tmp)
    src = tmp / libnfs_sources.SOURCE.top_folder
    lines = []
    for c_type, members in LAYOUTS.values():
        lines.append(f'printf("sizeof {c_type} %zu\\n", sizeof({c_type}));')
        for field, member in members.items():
            key = f"offsetof {c_type} {field}"
            lines.append(f'printf("{key} %zu\\n", offsetof({c_type}, {member}));')
    program = tmp / "layouts.c"
    program.write_text(
        "#include <stddef.h>\n#include <stdio.h>\n#include <stdint.h>\n"
        '#include "libnfs-raw-nfs.h"\n#include <nfsc/libnfs.h>\n'
        "int main(void) {\n" + "\n".join(lines) + "\nreturn 0;\n}\n"
    )
    exe = tmp / "layouts"
    subprocess.run(
        ["gcc", "-I", str(src / "include"), "-I", str(src / "nfs"), "-o", str(exe), str(program)],
        check=True,
        capture_output=True,
    )
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    pairs = (line.rpartition(" ") for line in out.splitlines())
    return {key: int(value) for key, _, value in pairs}


@pytest.mark.parametrize("struct", list(LAYOUTS), ids=lambda s: s.__name__)
def test_ctypes_layout_matches_the_headers(
    struct: type[ctypes.Structure], c_layouts: dict[str, int]
) -> None:
    c_type, members = LAYOUTS[struct]
    declared = {name for name, *_ in struct._fields_}
    assert declared == set(members), "every ctypes field is checked"
    for field in declared:
        assert getattr(struct, field).offset == c_layouts[f"offsetof {c_type} {field}"], field
    if struct in ARGUMENTS:
        assert ctypes.sizeof(struct) == c_layouts[f"sizeof {c_type}"]


def test_loaded_library_is_the_bundled_libnfs_7(bundled_libnfs: Path) -> None:
    assert libnfs.loaded_library_path() == str(bundled_libnfs)
    assert bundled_libnfs.name == libnfs.SONAME == "libnfs.so.17"


def test_an_older_abi_is_refused_by_its_missing_marker(tmp_path: Path) -> None:
    """A library without libnfs 7's marker (here: libc, which has none of libnfs's functions,
    standing in for a libnfs 6 named libnfs.so.17) is refused, naming what it lacks."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from nfs_sidecar.nfs import libnfs\n"
        "try:\n    libnfs.load_libnfs(sys.argv[2])\n"
        "except libnfs.LibnfsUnavailable as e:\n    print('refused:', e)\n"
    )
    libc = ctypes.util.find_library("c")
    out = subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "function"), libc or "libc.so.6"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("refused:"), out
    assert libnfs.MARKER_SYMBOL in out and "not the libnfs 7.0 ABI" in out


def test_a_missing_library_names_the_fix(tmp_path: Path) -> None:
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from nfs_sidecar.nfs import libnfs\n"
        "libnfs.BUNDLED_LIB_DIR = sys.argv[2]\n"
        "libnfs.SONAME = 'libnfs.so.999'\n"
        "try:\n    libnfs.load_libnfs()\n"
        "except libnfs.LibnfsUnavailable as e:\n    print('refused:', e)\n"
    )
    (tmp_path / "libnfs.so.13").write_bytes(b"")
    out = subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "function"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("refused:"), out
    assert "found libnfs.so.13: unsupported ABI" in out and "make build" in out


def test_loading_a_second_copy_is_refused(bundled_libnfs: Path, tmp_path: Path) -> None:
    other = tmp_path / "libnfs.so.17"
    other.write_bytes(bundled_libnfs.read_bytes())
    with pytest.raises(LibnfsUnavailable, match="already loaded"):
        libnfs.load_libnfs(str(other))
