"""Where the bundled libnfs comes from: its upstream source release, pinned, verified every time.

The pin is the sha256 of the release's *decompressed tar stream* (``git archive`` of the tag), so it
holds whichever compressor made the archive: GitHub's tag archive and a mirror's re-compressed copy
verify alike. The source comes from a local source cache when one is given (``--source-cache`` or
$LIBNFS_SOURCE_CACHE: a folder holding ``libnfs-<version>.tar.gz``; for machines that cannot reach
GitHub), else from the download cache, else from upstream. A download that does not verify is
deleted and fails the build; a cached copy that does not verify fails it too.

Moving to a newer libnfs: change ``SOURCE`` below (version, tag, commit, tar sha256) and the soname
if the ABI's major changed, then bind any API change in function/nfs_sidecar/.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

LIBNFS_SONAME = "libnfs.so.17"


@dataclass(frozen=True)
class SourcePin:
    name: str
    version: str
    tag: str
    commit: str
    tar_sha256: str  # of the decompressed tar stream
    url: str
    top_folder: str
    licence: str  # SPDX expression of what the library is built from
    licence_files: tuple[str, ...]  # in the source tree, shipped in the zip

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.tar.gz"


SOURCE = SourcePin(
    name="libnfs",
    version="7.0.0",
    tag="libnfs-7.0.0",
    commit="8563deedbedcbf88130460de4d01fbf68dad58ad",
    tar_sha256="69fab064c95895eff5f90abc9014d4ba603d40e8a3e1e181e377ed7d61c4b4df",
    url="https://github.com/sahlberg/libnfs/archive/refs/tags/libnfs-7.0.0.tar.gz",
    top_folder="libnfs-libnfs-7.0.0",
    # lib/ and include/ are LGPL-2.1-or-later; the XDR code generated from the .x files is BSD.
    licence="LGPL-2.1-or-later AND BSD-2-Clause",
    licence_files=("COPYING", "LICENCE-LGPL-2.1.txt", "LICENCE-BSD.txt"),
)
DOWNLOAD_TIMEOUT_S = 60


class SourceError(RuntimeError):
    """The pinned source could not be had, or did not match its pin."""


def tar_stream_sha256(path: Path) -> str:
    """sha256 of the tar stream inside ``path`` (.tar, .tar.gz or .tar.xz)."""
    with open(path, "rb") as raw:
        magic = raw.read(6)
    opener = open
    if magic[:2] == b"\x1f\x8b":
        opener = gzip.open
    elif magic == b"\xfd7zXZ\0":
        opener = lzma.open
    h = hashlib.sha256()
    try:
        with opener(path, "rb") as f:  # type: ignore[operator]
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except (OSError, EOFError, lzma.LZMAError) as e:
        raise SourceError(f"{path}: cannot decompress: {e}") from e
    return h.hexdigest()


def _check(path: Path, pin: SourcePin) -> None:
    actual = tar_stream_sha256(path)
    if actual != pin.tar_sha256:
        raise SourceError(
            f"{path}: the tar stream's sha256 is {actual}, not the pinned {pin.tar_sha256} "
            f"({pin.name} {pin.version}, tag {pin.tag})"
        )


def fetch_source(
    cache: Path, source_cache: Path | None = None, pin: SourcePin = SOURCE, url: str | None = None
) -> Path:
    """The pinned source archive, verified: from ``source_cache``, the cache or upstream."""
    source_cache = source_cache or (
        Path(os.environ["LIBNFS_SOURCE_CACHE"]) if os.environ.get("LIBNFS_SOURCE_CACHE") else None
    )
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / pin.filename
    if source_cache is not None:
        given = source_cache / pin.filename
        if not given.is_file():
            raise SourceError(f"the source cache {source_cache} holds no {pin.filename}")
        _check(given, pin)  # never deleted: it is the caller's
        if given.resolve() != path.resolve():
            shutil.copyfile(given, path.with_name(path.name + ".part"))
            path.with_name(path.name + ".part").replace(path)
        return path
    if path.is_file():
        _check(path, pin)
        return path
    url = url or os.environ.get("LIBNFS_SOURCE_URL") or pin.url
    partial = path.with_name(path.name + ".part")
    try:
        with (
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
            open(partial, "wb") as out,
        ):
            shutil.copyfileobj(response, out)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise SourceError(
            f"could not download {url}: {e}. Without access to GitHub, give a folder holding "
            f"{pin.filename} (tar sha256 {pin.tar_sha256}) as LIBNFS_SOURCE_CACHE=<folder>"
        ) from e
    try:
        _check(partial, pin)
    except SourceError:
        partial.unlink()
        raise
    partial.replace(path)
    print(f"downloaded {url} (tar sha256 {pin.tar_sha256[:16]}... ok)")
    return path


def licence_texts(tarball: Path, pin: SourcePin = SOURCE) -> dict[str, bytes]:
    """{file name: bytes} of the licence files in the (already verified) source archive."""
    with tarfile.open(tarball) as tar:
        texts = {}
        for name in pin.licence_files:
            member = tar.extractfile(f"{pin.top_folder}/{name}")
            if member is None:
                raise SourceError(f"{tarball.name}: {name} is not a regular file")
            texts[name] = member.read()
        return texts


def manifest_component(pin: SourcePin = SOURCE) -> dict[str, object]:
    """The CycloneDX component of the bundled library, as built from its pinned source."""
    return {
        "type": "library",
        "bom-ref": f"pkg:github/sahlberg/libnfs@{pin.tag}",
        "name": pin.name,
        "version": pin.version,
        "purl": f"pkg:github/sahlberg/libnfs@{pin.tag}",
        "licenses": [{"expression": pin.licence}],
        "hashes": [{"alg": "SHA-256", "content": pin.tar_sha256}],
        "externalReferences": [
            {"type": "vcs", "url": "https://github.com/sahlberg/libnfs", "comment": pin.commit},
            {"type": "distribution", "url": pin.url},
        ],
        "properties": [
            {"name": "nfs-sidecar:source-sha256-of", "value": "decompressed tar stream"},
            {"name": "nfs-sidecar:git-commit", "value": pin.commit},
        ],
    }
