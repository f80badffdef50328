"""Sidecars written to a real NFS server (nfs-ganesha on loopback)."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nfs_sidecar.errors import (
    FileNotFoundOnExport,
    InvalidMessage,
    NotARegularFile,
    SidecarBusy,
    SidecarInTheWay,
)
from nfs_sidecar.handler import Handler
from tests.function.helpers import (
    TOPIC,
    FakeContext,
    handler_for,
    leftovers,
    race_writers,
    settle_removals,
    slack,
    sns_event,
)
from tests.nfs_server import NfsServer


@pytest.fixture
def export(nfs_server: NfsServer, request: pytest.FixtureRequest) -> Path:
    """A fresh folder of the open export for each test."""
    folder = nfs_server.open.local / request.node.name.replace("[", "_").replace("]", "")
    folder.mkdir()
    return folder


@pytest.fixture
def handler(nfs_server: NfsServer) -> Handler:
    handler = handler_for(nfs_server)
    yield handler
    handler.disconnect()


def make_file(path: Path, data: bytes = b"payload") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def read_sidecar(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


def test_sidecar_content(export: Path, handler: Handler) -> None:
    data = make_file(export / "data/run.tar.gz", b"x" * 1234)
    name = f"/{export.name}/data/run.tar.gz"
    handler(sns_event(name, "m-1", "2026-11-24T10:00:00.250Z", results={"rows": 3, "ok": True}))

    sidecar = export / "data/run.tar-sidecar.json"
    stat = data.stat()
    assert read_sidecar(sidecar) == {
        "filename": f"{export.name}/data/run.tar.gz",
        "size": 1234,
        "created": iso(stat.st_ctime_ns),
        "modified": iso(stat.st_mtime_ns),
        "results": {"rows": 3, "ok": True},
        "source": {
            "sns_message_id": "m-1",
            "topic_arn": TOPIC,
            "published": "2026-11-24T10:00:00.250000+00:00",
        },
        "format_version": 1,
    }
    assert sidecar.stat().st_mode & 0o777 == 0o644
    assert leftovers(export) == []


def test_nested_folders_and_non_ascii_names(export: Path, handler: Handler) -> None:
    names = ["a/b/c/d/deep.bin", "données/été 2026/résumé.csv", "日本/ファイル.dat", "top.txt"]
    for i, name in enumerate(names):
        make_file(export / name, b"y" * (i + 1))
        handler(sns_event(f"{export.name}/{name}", f"m-{i}"))
    for i, name in enumerate(names):
        base = name.rsplit(".", 1)[0]
        sidecar = read_sidecar(export / f"{base}-sidecar.json")
        assert sidecar["filename"] == f"{export.name}/{name}"
        assert sidecar["size"] == i + 1
    assert leftovers(export) == []


def test_missing_file_fails_and_leaves_nothing(export: Path, handler: Handler) -> None:
    make_file(export / "present.txt")
    with pytest.raises(FileNotFoundOnExport, match=r"absent\.txt' not found"):
        handler(sns_event(f"{export.name}/absent.txt"))
    with pytest.raises(FileNotFoundOnExport, match=r"folder .*nofolder' not found"):
        handler(sns_event(f"{export.name}/nofolder/x.txt"))
    assert sorted(os.listdir(export)) == ["present.txt"]


def test_folders_and_symlinks_are_not_files(export: Path, handler: Handler) -> None:
    (export / "dir.d").mkdir()
    (export / "escape").symlink_to("/etc")
    (export / "link.txt").symlink_to("/etc/hostname")
    with pytest.raises(NotARegularFile, match="not a regular file"):
        handler(sns_event(f"{export.name}/dir.d"))
    # A symlink on the path could lead out of the export: it is never followed.
    with pytest.raises(NotARegularFile, match="not a folder"):
        handler(sns_event(f"{export.name}/escape/hostname"))
    with pytest.raises(NotARegularFile, match="not a regular file"):
        handler(sns_event(f"{export.name}/link.txt"))
    assert not list(Path("/etc").glob("*-sidecar.json"))
    assert leftovers(export) == []


def test_invalid_message_fails_before_touching_the_server(export: Path, handler: Handler) -> None:
    with pytest.raises(InvalidMessage, match=r"'\.\.'"):
        handler(sns_event("../../etc/passwd"))
    with pytest.raises(InvalidMessage, match="not JSON"):
        handler(sns_event("x", message="{oops"))
    assert handler._writer is None  # never mounted


def test_permission_denied_is_reported_and_leaves_nothing(
    nfs_server: NfsServer, export: Path
) -> None:
    make_file(export / "locked/file.txt")
    (export / "locked").chmod(0o755)  # owned by root: not writable for uid 65534
    handler = handler_for(nfs_server, uid=65534, gid=65534)
    with pytest.raises(Exception, match="NFS3ERR_ACCES"):
        handler(sns_event(f"{export.name}/locked/file.txt"))
    assert sorted(os.listdir(export / "locked")) == ["file.txt"]


def test_redelivery_rewrites_the_sidecar(export: Path, handler: Handler) -> None:
    data = make_file(export / "f.bin", b"1")
    event = sns_event(f"{export.name}/f.bin", "m-1", results="first")
    handler(event)
    data.write_bytes(b"12345")  # the file changed before SNS delivered the message again
    handler(event)
    assert read_sidecar(export / "f-sidecar.json")["size"] == 5
    assert leftovers(export) == []


def test_older_notification_never_replaces_a_newer_one(export: Path, handler: Handler) -> None:
    make_file(export / "f.bin")
    name = f"{export.name}/f.bin"
    handler(sns_event(name, "new", "2026-11-24T10:00:05.000Z", results="newer"))
    handler(sns_event(name, "old", "2026-11-24T10:00:01.000Z", results="older"))
    assert read_sidecar(export / "f-sidecar.json")["results"] == "newer"
    handler(sns_event(name, "newest", "2026-11-24T10:00:09.000Z", results="newest"))
    assert read_sidecar(export / "f-sidecar.json")["results"] == "newest"
    assert leftovers(export) == []


def test_a_foreign_file_at_the_sidecar_name_is_left_and_named(
    export: Path, handler: Handler, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file at the sidecar's name that is not a sidecar of ours is somebody's data: it is
    never replaced, and the notification fails at once (not retryable) saying what is in the
    way. (It used to be replaced without a word: issue 17.)"""
    make_file(export / "f.bin")
    foreign = b"written by hand, not JSON"
    (export / "f-sidecar.json").write_bytes(foreign)
    with pytest.raises(SidecarInTheWay, match=r"f-sidecar\.json is not a sidecar"):
        handler(sns_event(f"{export.name}/f.bin", results="ours"))
    assert (export / "f-sidecar.json").read_bytes() == foreign
    failed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (failed["error_type"], failed["retryable"]) == ("SidecarInTheWay", False)
    assert leftovers(export) == []


def test_concurrent_writers_keep_the_newest(nfs_server: NfsServer, export: Path) -> None:
    """Writers in separate environments (own mounts) race on one sidecar, in shuffled order,
    while a reader polls it: never a partial sidecar, never an older one than seen before."""
    race_writers(export, [handler_for(nfs_server) for _ in range(6)], per_writer=8)


def test_a_held_lock_delays_then_gives_up(export: Path, nfs_server: NfsServer) -> None:
    handler = handler_for(nfs_server)
    make_file(export / "f.bin")
    name = f"{export.name}/f.bin"
    handler(sns_event(name, "m-1", "2026-11-24T10:00:00.000Z", results="first"))
    (export / ".f-sidecar.json.lock").touch()  # another writer is replacing it right now
    started = time.monotonic()
    with pytest.raises(SidecarBusy, match="held by another writer"):
        handler.process(_note(name, "m-2", "2026-11-24T10:00:01.000Z"), lock_wait_s=0.3)
    assert 0.3 <= time.monotonic() - started < 3
    assert read_sidecar(export / "f-sidecar.json")["results"] == "first"
    assert leftovers(export, settle_s=0) == [".f-sidecar.json.lock"]  # not ours to remove


def test_a_stale_lock_is_broken(export: Path, nfs_server: NfsServer) -> None:
    stale_s = 3
    handler = handler_for(nfs_server, lock_stale_seconds=stale_s)
    make_file(export / "f.bin")
    name = f"{export.name}/f.bin"
    handler(sns_event(name, "m-1", "2026-11-24T10:00:00.000Z", results="first"))
    lock = export / ".f-sidecar.json.lock"
    lock.touch()
    # Its writer died: the lock's age is judged on the server's clock by its ctime and mtime
    # (a ctime cannot be set back, so wait until it is older than lock_stale_seconds).
    deadline = time.monotonic() + 60
    while time.time() - lock.stat().st_ctime <= stale_s + 0.5:
        assert time.monotonic() < deadline, "the lock did not age"
        time.sleep(0.1)
    handler(sns_event(name, "m-2", "2026-11-24T10:00:01.000Z", results="second"), FakeContext(2))
    assert read_sidecar(export / "f-sidecar.json")["results"] == "second"
    assert leftovers(export) == []


def test_replaced_folder_is_looked_up_again(export: Path, handler: Handler) -> None:
    make_file(export / "d/one.txt")
    handler(sns_event(f"{export.name}/d/one.txt", "m-1"))
    (export / "d").rename(export / "d.old")  # the cached handle now points at d.old
    make_file(export / "d/two.txt")
    handler(sns_event(f"{export.name}/d/two.txt", "m-2"))
    assert (export / "d/two-sidecar.json").exists()
    assert not (export / "d.old/two-sidecar.json").exists()


def test_rpcs_per_sidecar_stay_few(export: Path, handler: Handler) -> None:
    """6 RPCs in 3 round trips for a new sidecar (LOOKUP file, CREATE temp, LOOKUP sidecar;
    WRITE; LINK; REMOVE temp unwaited), 9 in 4 to replace one (LOOKUP file, CREATE temp,
    LOOKUP sidecar; WRITE, CREATE lock, READ; LOOKUP sidecar; RENAME; REMOVE lock unwaited),
    and one LOOKUP per cached folder on the path (checked in the first round trip): here two."""
    for i in range(3):
        make_file(export / f"batch/f{i}.bin")
    handler(sns_event(f"{export.name}/batch/f0.bin", "m-0"))  # mounts, caches the folders
    writer = handler._writer
    assert writer is not None
    client = writer.client

    def cost(event: dict) -> tuple[int, int]:
        # The last write's temp name was removed without waiting: its reply read first.
        settle_removals(handler)
        before = client.rpc_count, client.round_trips
        handler(event)
        return client.rpc_count - before[0], client.round_trips - before[1]

    assert cost(sns_event(f"{export.name}/batch/f1.bin", "m-1")) == (6 + 2, 3)
    assert cost(sns_event(f"{export.name}/batch/f1.bin", "m-2", "2026-11-24T11:00:00.000Z")) == (
        9 + 2,
        4,
    )


def _note(filename: str, message_id: str, published: str):
    from nfs_sidecar.message import from_envelope
    from tests.function.helpers import envelope

    return from_envelope(envelope(filename, message_id, published), "-sidecar.json")


def test_sidecars_belong_to_nfs_uid_and_gid(export: Path, nfs_server: NfsServer) -> None:
    make_file(export / "owned/f.bin")
    (export / "owned").chmod(0o777)
    handler = handler_for(nfs_server, uid=4321, gid=8765)
    handler(sns_event(f"{export.name}/owned/f.bin"))
    handler.disconnect()
    stat = (export / "owned/f-sidecar.json").stat()
    assert (stat.st_uid, stat.st_gid) == (4321, 8765)
    assert leftovers(export) == []


def test_the_lock_wait_is_half_the_time_left(export: Path, nfs_server: NfsServer) -> None:
    handler = handler_for(nfs_server)
    make_file(export / "f.bin")
    name = f"{export.name}/f.bin"
    handler(sns_event(name, "m-1", "2026-11-24T10:00:00.000Z", results="first"))
    (export / ".f-sidecar.json.lock").touch()  # another writer is replacing it right now
    started = time.monotonic()
    with pytest.raises(SidecarBusy, match="held by another writer"):
        handler(sns_event(name, "m-2", "2026-11-24T10:00:01.000Z"), FakeContext(3))
    waited = time.monotonic() - started
    assert 1.5 <= waited < slack(1.5)  # half of the 3 s left, not the 10 s cap
    assert read_sidecar(export / "f-sidecar.json")["results"] == "first"
    (export / ".f-sidecar.json.lock").unlink()


def test_a_full_folder_cache_starts_afresh_and_keeps_writing(
    export: Path, handler: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder cache is bounded: once full it starts afresh. A folder cached then must still
    have its whole path cached, since a write into a cached folder checks every folder on it."""
    monkeypatch.setattr("nfs_sidecar.sidecar.MAX_CACHED_FOLDERS", 2)
    for name in ("a/b/x.bin", "a/b/y.bin", "c/z.bin", "a/b/w.bin"):
        make_file(export / name)
        handler(sns_event(f"{export.name}/{name}", f"m-{name}"))
        assert (export / name.replace(".bin", "-sidecar.json")).exists()
    assert leftovers(export) == []
