"""On the wire: every WRITE of a temp file asks for FILE_SYNC, and a reply committing less (the
server kept the data only in memory) fails the write: nothing is published from it."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from nfs_sidecar.nfs.errors import NfsError
from tests.fault_proxy import Fault, FaultProxy
from tests.function.helpers import FakeContext, handler_for, leftovers, sns_event
from tests.nfs_server import NfsServer

FILE_SYNC, UNSTABLE = 2, 0


def _skip_opaque(payload: bytes, at: int) -> int:
    (length,) = struct.unpack_from(">I", payload, at)
    return at + 4 + (length + 3) // 4 * 4


def write_stability(call: bytes) -> int:
    """The ``stable`` field of a WRITE3args call (RFC 1813: fh, offset, count, stable, data)."""
    at = 24  # xid, CALL, rpcvers, prog, vers, proc
    at = _skip_opaque(call, at + 4)  # credential: flavor, body
    at = _skip_opaque(call, at + 4)  # verifier: flavor, body
    at = _skip_opaque(call, at)  # the file handle
    (stable,) = struct.unpack_from(">I", call, at + 8 + 4)  # after offset (8) and count (4)
    return int(stable)


def committed_as(level: int):  # type: ignore[no-untyped-def]
    """Rewrites a WRITE3resok's ``committed`` (it ends: count, committed, 8-byte verifier)."""

    def rewrite(reply: bytes) -> bytes:
        return reply[:-12] + struct.pack(">I", level) + reply[-8:]

    return rewrite


@pytest.fixture
def proxy(nfs_server: NfsServer):  # type: ignore[no-untyped-def]
    with FaultProxy(nfs_server.host, nfs_server.nfs_port, nfs_server.mount_port) as proxy:
        yield proxy


def test_every_write_asks_for_file_sync(nfs_server: NfsServer, proxy: FaultProxy) -> None:
    folder = nfs_server.open.local / "stable-all"
    folder.mkdir()
    (folder / "f.bin").write_bytes(b"x")
    handler = handler_for(nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port)
    proxy.record = {"NFS.WRITE"}
    try:
        # A new sidecar, then a replacement (WRITEs split past the server's wtmax - ganesha's
        # is 1 MiB, more than a message gives - are the simulation's: its WRITEs are 64 bytes).
        handler(sns_event("stable-all/f.bin", "m-1", "2026-11-24T10:00:00Z"), FakeContext(30))
        big = {"rows": ["y" * 1000] * 200}
        handler(
            sns_event("stable-all/f.bin", "m-2", "2026-11-24T10:00:01Z", results=big),
            FakeContext(30),
        )
    finally:
        handler.disconnect()
    levels = [write_stability(call) for _, call in proxy.calls_seen]
    print(f"{len(levels)} WRITEs, stable levels {sorted(set(levels))}")
    assert len(levels) == 2
    assert set(levels) == {FILE_SYNC}


@pytest.mark.parametrize("level", [UNSTABLE, 1])  # UNSTABLE, DATA_SYNC
def test_a_write_committed_below_file_sync_fails_and_publishes_nothing(
    nfs_server: NfsServer, proxy: FaultProxy, level: int
) -> None:
    folder = nfs_server.open.local / f"stable-{level}"
    folder.mkdir()
    (folder / "f.bin").write_bytes(b"x")
    handler = handler_for(nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port)
    proxy.arm(Fault("NFS.WRITE", "rewrite_reply", rewrite=committed_as(level)))
    try:
        with pytest.raises(NfsError, match=f"server committed {level}, not FILE_SYNC"):
            handler(sns_event(f"{folder.name}/f.bin", "m-1"), FakeContext(30))
    finally:
        handler.disconnect()
    assert proxy.applied == [("NFS.WRITE", 1, "rewrite_reply")]
    assert not (folder / "f-sidecar.json").exists()
    assert leftovers(Path(folder)) == []
