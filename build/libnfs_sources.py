"""Where the bundled libnfs comes from: pinned, checksummed downloads, cached, verified every time.

- For the host build: Debian 12 (bookworm)'s binary package libnfs13 4.0.0-1 for amd64 or arm64.
  Its sha256 is the one in bookworm's signed package index. The .deb is read with the standard
  library (an ar archive holding data.tar.xz), so no dpkg-deb is needed.
- For the container build: the libnfs 4.0.0 upstream source release. Its sha256 is the one in
  Debian's signed libnfs_4.0.0-1.dsc (libnfs_4.0.0.orig.tar.gz is that same file).

Downloads land in a cache folder (default .tmp/build-cache) and are checked against the pinned
sha256 on every use; a mismatch deletes the file and fails the build.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import shutil
import subprocess
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

LIBNFS_VERSION = "4.0.0"
LIBNFS_SONAME = "libnfs.so.13"


@dataclass(frozen=True)
class Pinned:
    filename: str
    sha256: str
    size: int


# Debian bookworm, package libnfs13, version 4.0.0-1 (pool/main/libn/libnfs/).
DEBIAN_POOL_DIR = "pool/main/libn/libnfs"
DEBIAN_DEBS = {
    "x86_64": Pinned(
        "libnfs13_4.0.0-1_amd64.deb",
        "9332a578879dec1e4aa5c58c77ad2e8ea7ac3cc38a295ba1113be25f5568eba0",
        100480,
    ),
    "arm64": Pinned(
        "libnfs13_4.0.0-1_arm64.deb",
        "ce019f3dfc89069babea9a9caa7e24101f66e07adc6485fc619ce32c0d881ff6",
        96044,
    ),
}
DEBIAN_MULTIARCH = {"x86_64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}

# The upstream source release: GitHub's archive of the tag libnfs-4.0.0 (top folder
# libnfs-libnfs-4.0.0), the same file as Debian's libnfs_4.0.0.orig.tar.gz.
SOURCE_URL = f"https://github.com/sahlberg/libnfs/archive/libnfs-{LIBNFS_VERSION}.tar.gz"
SOURCE = Pinned(
    f"libnfs-{LIBNFS_VERSION}.tar.gz",
    "6ee77e9fe220e2d3e3b1f53cfea04fb319828cc7dbb97dd9df09e46e901d797d",
    251662,
)


class SourceError(RuntimeError):
    """A pinned input could not be fetched or did not match its checksum."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verified(path: Path, pin: Pinned) -> bool:
    if not path.is_file():
        return False
    actual = sha256_of(path)
    if actual == pin.sha256:
        return True
    path.unlink()
    raise SourceError(
        f"{path}: sha256 {actual} does not match the pinned {pin.sha256}; deleted it, "
        "run the build again to download it anew"
    )


def fetch(pin: Pinned, urls: list[str], cache: Path) -> Path:
    """The pinned file from the cache, else downloaded from the first of `urls` that serves it."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / pin.filename
    if _verified(path, pin):
        return path
    errors = []
    for url in urls:
        partial = path.with_suffix(path.suffix + ".part")
        try:
            with urllib.request.urlopen(url, timeout=30) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as e:
            errors.append(f"{url}: {e}")
            partial.unlink(missing_ok=True)
            continue
        partial.replace(path)
        if _verified(path, pin):
            print(f"downloaded {url} (sha256 {pin.sha256[:16]}... ok)")
            return path
    tried = "\n  ".join(errors) or "(no URL to try)"
    raise SourceError(f"could not download {pin.filename}:\n  {tried}")


def debian_mirrors() -> list[str]:
    """Debian archive base URLs (the folder that holds pool/) to fetch the pinned .deb from.

    $DEBIAN_MIRROR first when set, then the Debian archives this machine's apt is configured with:
    those whose release says Origin: Debian or, when apt has no lists yet (no `apt-get update`),
    the configured sources whose path ends in /debian.
    """
    mirrors = [os.environ["DEBIAN_MIRROR"]] if os.environ.get("DEBIAN_MIRROR") else []
    if shutil.which("apt-get"):
        targets = [line.partition(" ") for line in _apt_index_targets("$(ORIGIN) $(REPO_URI)")]
        from_apt = [uri for origin, _, uri in targets if origin == "Debian" and uri]
        if not from_apt:  # apt has no lists yet
            uris = _apt_index_targets("$(REPO_URI)", "--no-release-info")
            from_apt = [uri for uri in uris if uri.rstrip("/").endswith("/debian")]
        mirrors += from_apt
    # unique, in order; without the trailing slash
    return list(dict.fromkeys(m.rstrip("/") for m in mirrors))


def _apt_index_targets(fmt: str, *options: str) -> list[str]:
    out = subprocess.run(
        ["apt-get", "indextargets", *options, "--format", fmt],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def fetch_deb(arch: str, cache: Path) -> Path:
    pin = DEBIAN_DEBS[arch]
    mirrors = debian_mirrors()
    if not mirrors and not (cache / pin.filename).is_file():
        raise SourceError(
            f"no Debian archive to download {pin.filename} from: this machine has no apt sources; "
            "set DEBIAN_MIRROR to a Debian archive's base URL (the folder holding pool/), "
            "or build in a container (BUILD_IN=container)"
        )
    return fetch(pin, [f"{m}/{DEBIAN_POOL_DIR}/{pin.filename}" for m in mirrors], cache)


def fetch_source(cache: Path) -> Path:
    return fetch(SOURCE, [os.environ.get("LIBNFS_SOURCE_URL", SOURCE_URL)], cache)


def _ar_members(data: bytes) -> dict[str, bytes]:
    """Members of an ar archive (the container format of a .deb)."""
    if not data.startswith(b"!<arch>\n"):
        raise SourceError("not an ar archive (.deb)")
    members, off = {}, 8
    while off + 60 <= len(data):
        header = data[off : off + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        members[name] = data[off + 60 : off + 60 + size]
        off += 60 + size + (size % 2)  # members are 2-byte aligned
    return members


def library_from_deb(deb: Path, arch: str) -> bytes:
    """The bytes of the real file behind usr/lib/<multiarch>/libnfs.so.13 in the .deb."""
    members = _ar_members(deb.read_bytes())
    if "data.tar.xz" not in members:
        raise SourceError(f"{deb.name}: no data.tar.xz (members: {', '.join(members)})")
    libdir = f"./usr/lib/{DEBIAN_MULTIARCH[arch]}"
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(members["data.tar.xz"]))) as tar:
        link = tar.getmember(f"{libdir}/{LIBNFS_SONAME}")
        target = tar.getmember(f"{libdir}/{link.linkname}") if link.issym() else link
        if not target.isfile():
            raise SourceError(f"{deb.name}: {target.name} is not a regular file")
        f = tar.extractfile(target)
        assert f is not None
        return f.read()
