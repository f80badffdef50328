"""Reads what a shared library needs from its ELF headers, and checks it against a Lambda runtime.

Only the standard library: no objdump/readelf needed. Handles 64-bit little-endian ELF (all Lambda
architectures are), which is where its checks start:

- the machine is the target architecture (e_machine 62 = x86_64, 183 = aarch64);
- it depends on nothing outside libc (DT_NEEDED is libc.so.6 and, if at all, the dynamic loader);
- the newest GLIBC_x.y symbol version it needs is no newer than the runtime's glibc
  (Amazon Linux 2023, under the python3.12 and python3.13 runtimes: 2.34).

Usage: python3 build/elf_check.py --arch x86_64|arm64 LIB.so...
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

# The glibc of each Lambda runtime the Terraform module accepts (var.runtime; a test keeps the two
# lists equal). Both run on Amazon Linux 2023. python3.11 (Amazon Linux 2, glibc 2.26) is not
# offered: the container build compiles against Amazon Linux 2023's glibc.
RUNTIME_GLIBCS = {"python3.12": (2, 34), "python3.13": (2, 34)}
# A bundled library must run on the oldest of them.
RUNTIME_GLIBC = min(RUNTIME_GLIBCS.values())

E_MACHINE = {"x86_64": 62, "arm64": 183}
# Beside libc, the dynamic loader may be named in DT_NEEDED; it is part of glibc.
ALLOWED_NEEDED = {
    "x86_64": {"libc.so.6", "ld-linux-x86-64.so.2"},
    "arm64": {"libc.so.6", "ld-linux-aarch64.so.1"},
}

SHT_DYNAMIC = 6
SHT_GNU_VERNEED = 0x6FFFFFFE
DT_NULL, DT_NEEDED, DT_SONAME = 0, 1, 14


class ElfError(ValueError):
    """The file is not an ELF shared library this checker can read."""


@dataclass
class ElfInfo:
    machine: int
    soname: str | None
    needed: list[str]
    # (library, version name) pairs from .gnu.version_r, e.g. ("libc.so.6", "GLIBC_2.17")
    version_needs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def newest_glibc(self) -> tuple[int, ...] | None:
        versions = [
            tuple(int(p) for p in m.group(1).split("."))
            for _lib, name in self.version_needs
            if (m := re.fullmatch(r"GLIBC_(\d+(?:\.\d+)*)", name))
        ]
        return max(versions) if versions else None


def _cstr(blob: bytes, offset: int) -> str:
    end = blob.index(b"\0", offset)
    return blob[offset:end].decode()


def read_elf(path: Path) -> ElfInfo:
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF":
        raise ElfError(f"{path}: not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise ElfError(
            f"{path}: not a 64-bit little-endian ELF file (class {data[4]}, data {data[5]})"
        )
    (e_type, e_machine) = struct.unpack_from("<HH", data, 16)
    (e_shoff,) = struct.unpack_from("<Q", data, 40)
    e_shentsize, e_shnum, _e_shstrndx = struct.unpack_from("<HHH", data, 58)
    if e_type != 3:  # ET_DYN
        raise ElfError(f"{path}: not a shared object (e_type {e_type})")
    if e_shoff == 0 or e_shnum == 0:
        raise ElfError(f"{path}: no section headers")

    # (sh_type, sh_link, sh_offset, sh_size, sh_info) for every section
    sections = []
    for i in range(e_shnum):
        (_name, sh_type, _flags, _addr, sh_offset, sh_size, sh_link, sh_info, _align, _entsize) = (
            struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
        )
        sections.append((sh_type, sh_link, sh_offset, sh_size, sh_info))

    def section_bytes(index: int) -> bytes:
        _t, _l, offset, size, _i = sections[index]
        return data[offset : offset + size]

    soname, needed, version_needs = None, [], []
    for sh_type, sh_link, sh_offset, sh_size, sh_info in sections:
        if sh_type == SHT_DYNAMIC:
            strtab = section_bytes(sh_link)
            for off in range(sh_offset, sh_offset + sh_size, 16):
                d_tag, d_val = struct.unpack_from("<qQ", data, off)
                if d_tag == DT_NULL:
                    break
                if d_tag == DT_NEEDED:
                    needed.append(_cstr(strtab, d_val))
                elif d_tag == DT_SONAME:
                    soname = _cstr(strtab, d_val)
        elif sh_type == SHT_GNU_VERNEED:
            strtab = section_bytes(sh_link)
            off = sh_offset
            for _ in range(sh_info):  # sh_info = number of Verneed entries
                _ver, cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", data, off)
                aux = off + vn_aux
                for _ in range(cnt):
                    _hash, _flags, _other, vna_name, vna_next = struct.unpack_from(
                        "<IHHII", data, aux
                    )
                    version_needs.append((_cstr(strtab, vn_file), _cstr(strtab, vna_name)))
                    aux += vna_next
                off += vn_next
    return ElfInfo(e_machine, soname, needed, version_needs)


def problems(path: Path, arch: str, max_glibc: tuple[int, ...] = RUNTIME_GLIBC) -> list[str]:
    """What makes the library unfit for the runtime on `arch` (empty when it fits)."""
    try:
        info = read_elf(path)
    except ElfError as e:
        return [str(e)]
    found = []
    if info.machine != E_MACHINE[arch]:
        found.append(
            f"{path.name}: built for e_machine {info.machine}, not {arch} ({E_MACHINE[arch]})"
        )
    outside = sorted(set(info.needed) - ALLOWED_NEEDED[arch])
    if outside:
        found.append(f"{path.name}: depends on libraries outside libc: {', '.join(outside)}")
    newest = info.newest_glibc
    if newest is not None and newest > max_glibc:
        found.append(
            f"{path.name}: needs GLIBC_{'.'.join(map(str, newest))}, newer than the runtime's "
            f"{'.'.join(map(str, max_glibc))}"
        )
    private = [name for _lib, name in info.version_needs if name == "GLIBC_PRIVATE"]
    if private:
        found.append(f"{path.name}: uses GLIBC_PRIVATE symbols")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(E_MACHINE), required=True)
    parser.add_argument("libs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failed = False
    for lib in args.libs:
        found = problems(lib, args.arch)
        if found:
            failed = True
            print("\n".join(f"FAIL {p}" for p in found))
        else:
            info = read_elf(lib)
            glibc = ".".join(map(str, info.newest_glibc or ()))
            print(
                f"ok   {lib.name}: {args.arch}, SONAME {info.soname}, "
                f"NEEDED {', '.join(info.needed)}, newest GLIBC_{glibc}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
