"""The races of issue 17's "Why", one test each on the real server (some through the fault proxy).
Each failed on the write protocol before its fix (c6a95dd; see the commit that added this file):

(a) a lock the sweep took over was removed again, by name, by the environment's next write: by
    then another writer's live lock;
(b) the same after a lost reply: the lock's REMOVE carried out, its reply lost, the connection
    dropped, another writer's lock made since: removed as "still its own" after the reconnect;
(c) a lock's age judged on the function's clock: one ahead of the server's took a live lock over;
(d) a folder replaced by rename kept its cached handle: the sidecar went into the old folder;
(e) a failed takeover (guarded SETATTR refused) spun without waiting, past the lock wait;
(f) the sweep SETATTR'd and REMOVE'd a folder named like a lock on every pass, and remembered
    every removal it ever sent;
(g) a user's file at the sidecar's name was replaced without a word;
(h) two files sharing a sidecar name (a.csv, a.json): one's metadata lost, acknowledged;
(i) a name from the server holding '/' passed for a leftover and was sent back in a REMOVE;
(j) a stale handle of the export's root was never looked up again.

The tests name errors by their type's name and import nothing the fix added, so that the file
also runs against the code before it (``-o pythonpath=<old function dir> .``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from nfs_sidecar.handler import Handler
from nfs_sidecar.nfs.client import Attributes, Entry, NfsClient
from nfs_sidecar.nfs.conversation import run
from nfs_sidecar.nfs.xdr import NOT_SYNC, STALE
from nfs_sidecar.retry import retryable
from nfs_sidecar.sidecar import SidecarWriter
from nfs_sidecar.sweep import Sweeper, leftover_kind
from tests.fault_proxy import Fault, FaultProxy
from tests.function.helpers import (
    FakeContext,
    envelope,
    handler_for,
    leftovers,
    settle_removals,
    slack,
    sns_event,
    sqs_event,
    wait_until,
)
from tests.nfs_server import NfsServer

SUFFIX = "-sidecar.json"
STALE_S = 5  # lock_stale_seconds where a test waits for a lock to become stale
T1, T2, T3 = "2026-11-24T10:00:00Z", "2026-11-24T11:00:00Z", "2026-11-24T12:00:00Z"
REMEMBERED_REMOVALS = 64  # sweep.REMEMBERED_REMOVALS: the bound of Sweeper.removed


def age(path: Path, seconds: float) -> None:
    """Waits until ``path`` is unchanged for longer than ``seconds`` (ctimes cannot be set back;
    the server runs on this machine's clock)."""
    wait_until(lambda: time.time() - path.stat().st_ctime > seconds + 0.5, f"{path.name} aged")


def outcome(handler: Handler, event: dict[str, Any], seconds: float = 10) -> Exception | None:
    """The error the invocation raised, None if it succeeded."""
    try:
        handler(event, FakeContext(seconds))
    except Exception as exc:
        return exc
    return None


def sidecar(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def take_lock(lock: Path) -> int:
    """Another writer's lock, live (what its CREATE GUARDED makes) -> its inode."""
    os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    return lock.stat().st_ino


# (a) ---------------------------------------------------------------------------------------


def test_a_lock_the_sweep_took_over_is_not_removed_again_once_another_writers(
    nfs_server: NfsServer, folder: Path
) -> None:
    (folder / "g.bin").write_bytes(b"g")
    (folder / "h.bin").write_bytes(b"h")
    lock = folder / ".f-sidecar.json.lock"
    lock.touch()  # left by a writer that died
    age(lock, STALE_S)
    handler = handler_for(nfs_server, lock_stale_seconds=STALE_S)
    try:
        # The environment's first write into the folder: its sweep takes the dead writer's lock
        # over and removes it.
        handler(sns_event(f"{folder.name}/g.bin", "m-g"), FakeContext(4))
        wait_until(lambda: not lock.exists(), "the sweep removed the dead writer's lock", 10)
        inode = take_lock(lock)  # writer B replaces f's sidecar: its lock, at the same name
        # The environment's next write (another file), well within lock_stale_seconds / 2.
        handler(sns_event(f"{folder.name}/h.bin", "m-h"), FakeContext(4))
        time.sleep(0.2)  # a removal sent without waiting would have landed by now
        assert lock.exists(), "another writer's live lock was removed"
        assert lock.stat().st_ino == inode
        lock.unlink()  # B is done
        assert leftovers(folder) == []  # (before the connection closes: removals in flight)
    finally:
        handler.disconnect()


# (b) ---------------------------------------------------------------------------------------


def test_a_lock_whose_removal_lost_its_reply_is_not_removed_once_another_writers(
    nfs_server: NfsServer, folder: Path, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"{folder.name}/f.bin"
    lock = folder / ".f-sidecar.json.lock"
    handler = handler_for(
        nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port, timeout_ms=1000
    )
    inode: list[int] = []

    def reply_lost() -> None:
        # The server removed the lock; its reply never arrives: writer B takes the lock, and
        # the connection drops.
        inode.append(take_lock(lock))
        proxy.drop_connections()

    try:
        handler(sns_event(name, "m-1", T1, results="first"), FakeContext(10))
        assert leftovers(folder) == []  # the temp name's removal has landed
        # A replacement: the lock's REMOVE is the first REMOVE (the temp file is renamed).
        proxy.arm(Fault("NFS.REMOVE", "hook_on_reply", hook=reply_lost))
        error = outcome(handler, sns_event(name, "m-2", T2, results="second"), 4)
        # The lock's REMOVE is not waited for: m-2 is published, and acknowledged.
        assert error is None, repr(error)
        assert sidecar(folder / "f-sidecar.json")["results"] == "second"
        wait_until(lambda: proxy.applied, "the lock's REMOVE reached the server")
        applied = list(proxy.applied)
        proxy.disarm()
        assert applied == [("NFS.REMOVE", 1, "hook_on_reply")]
        # The next write learns over a new connection that the REMOVE went unanswered: it must
        # not take B's lock for the one it made, nor remove it.
        error = outcome(handler, sns_event(name, "m-3", T3, results="third"), 4)
        assert lock.exists(), f"another writer's live lock was removed (outcome: {error!r})"
        assert lock.stat().st_ino == inode[0]
        assert handler.reconnects == 1
        # It meets B's lock, held: busy, retried later.
        assert type(error).__name__ == "SidecarBusy", repr(error)
        assert sidecar(folder / "f-sidecar.json")["results"] == "second"
        lock.unlink()  # B is done
        handler(sns_event(name, "m-3", T3, results="third"), FakeContext(10))
        assert sidecar(folder / "f-sidecar.json")["results"] == "third"
        assert leftovers(folder) == []
    finally:
        handler.disconnect()


# (c) ---------------------------------------------------------------------------------------


def test_a_function_clock_ahead_of_the_servers_does_not_take_a_live_lock(
    nfs_server: NfsServer, folder: Path
) -> None:
    name = f"{folder.name}/f.bin"
    lock = folder / ".f-sidecar.json.lock"
    handler = handler_for(nfs_server)  # lock_stale_seconds 120
    ahead_ns = 3600 * 1_000_000_000  # the function's wall clock an hour ahead of the server's

    def skewed_writer(client: NfsClient) -> SidecarWriter:
        c = handler.config
        return SidecarWriter(
            client,
            c.suffix,
            c.lock_stale_seconds,
            handler._orphans,
            wall_ns=lambda: time.time_ns() + ahead_ns,
        )

    handler.make_writer = skewed_writer  # type: ignore[method-assign]
    try:
        handler(sns_event(name, "m-1", T1, results="first"), FakeContext(10))
        inode = take_lock(lock)  # writer B is replacing the sidecar right now
        error = outcome(handler, sns_event(name, "m-2", T2, results="second"), 2)
        assert lock.exists(), "a live lock was taken over and removed"
        assert lock.stat().st_ino == inode
        assert sidecar(folder / "f-sidecar.json")["results"] == "first"
        assert type(error).__name__ == "SidecarBusy", repr(error)
    finally:
        handler.disconnect()
    lock.unlink()


# (d) ---------------------------------------------------------------------------------------


def test_a_folder_replaced_by_rename_gets_the_sidecar_of_its_new_file(
    nfs_server: NfsServer, folder: Path
) -> None:
    d, new, old = folder / "d", folder / "d.new", folder / "d.old"
    d.mkdir()
    (d / "x.bin").write_bytes(b"old")
    new.mkdir()
    (new / "x.bin").write_bytes(b"the new x.bin")
    handler = handler_for(nfs_server)
    try:
        handler(sns_event(f"{folder.name}/d/x.bin", "m-1", T1), FakeContext(10))  # d cached
        assert sidecar(d / "x-sidecar.json")["size"] == 3
        d.rename(old)  # mv d d.old; mv d.new d: a folder published atomically
        new.rename(d)
        handler(sns_event(f"{folder.name}/d/x.bin", "m-2", T2), FakeContext(10))
        left = leftovers(folder)
    finally:
        handler.disconnect()
    assert (d / "x-sidecar.json").exists(), "the sidecar did not land in d/"
    written = sidecar(d / "x-sidecar.json")
    assert (written["size"], written["source"]["sns_message_id"]) == (len(b"the new x.bin"), "m-2")
    assert sidecar(old / "x-sidecar.json")["source"]["sns_message_id"] == "m-1"  # untouched
    assert left == []


@pytest.mark.parametrize("old_has_it", [True, False], ids=["old has sub", "old has no sub"])
def test_a_new_subfolder_of_a_folder_replaced_by_rename_gets_its_sidecar(
    nfs_server: NfsServer, folder: Path, old_has_it: bool
) -> None:
    """d is cached, d/sub never was: d/sub is looked up from d's cached handle, which must be
    checked too (else the sidecar lands in d.old/sub, or the file is "not found")."""
    d, new, old = folder / "d", folder / "d.new", folder / "d.old"
    d.mkdir()
    (d / "x.bin").write_bytes(b"old")
    if old_has_it:
        (d / "sub").mkdir()
        (d / "sub" / "y.bin").write_bytes(b"old")
    (new / "sub").mkdir(parents=True)
    (new / "sub" / "y.bin").write_bytes(b"the new y.bin")
    handler = handler_for(nfs_server)
    try:
        handler(sns_event(f"{folder.name}/d/x.bin", "m-1", T1), FakeContext(10))  # d cached
        d.rename(old)
        new.rename(d)
        error = outcome(handler, sns_event(f"{folder.name}/d/sub/y.bin", "m-2", T2))
        left = leftovers(folder)
    finally:
        handler.disconnect()
    assert not (old / "sub" / "y-sidecar.json").exists(), "the sidecar went into d.old/sub"
    assert error is None, repr(error)
    assert sidecar(d / "sub" / "y-sidecar.json")["size"] == len(b"the new y.bin")
    assert left == []


# (e) ---------------------------------------------------------------------------------------


def test_a_refused_takeover_waits_and_ends_busy_within_the_lock_wait(
    nfs_server: NfsServer, folder: Path, proxy: FaultProxy
) -> None:
    name = f"{folder.name}/f.bin"
    lock = folder / ".f-sidecar.json.lock"
    handler = handler_for(
        nfs_server,
        nfs_port=proxy.nfs_port,
        mount_port=proxy.mount_port,
        timeout_ms=1000,
        lock_stale_seconds=STALE_S,
    )
    try:
        handler(sns_event(name, "m-1", T1, results="first"), FakeContext(10))
        lock.touch()  # a dead writer's
        age(lock, STALE_S)
        # Every guarded SETATTR refused, as when another writer always takes the lock first.
        proxy.arm(Fault("NFS.SETATTR", "status", status=NOT_SYNC, times=None))
        started = time.monotonic()
        error = outcome(handler, sns_event(name, "m-2", T2, results="second"), 4)  # waits 2 s
        elapsed = time.monotonic() - started
        counts = dict(proxy.counts)
        proxy.disarm()
    finally:
        handler.disconnect()
    calls = sum(n for call, n in counts.items() if call.startswith("NFS."))
    assert calls < 150, f"{calls} calls in {elapsed:.1f} s: {counts}"
    assert type(error).__name__ == "SidecarBusy", repr(error)
    assert elapsed < slack(2)
    assert counts["NFS.SETATTR"] >= 2  # it did try again, after waiting
    assert sidecar(folder / "f-sidecar.json")["results"] == "first"
    assert lock.exists()
    lock.unlink()


# (f) ---------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_sweep_never_touches_folders_named_like_leftovers_and_remembers_a_bounded_number(
    nfs_server: NfsServer, folder: Path, proxy: FaultProxy
) -> None:
    (folder / "f.bin").unlink()
    for name in (".f-sidecar.json.lock", ".g-sidecar.json.0123abcd.tmp"):
        (folder / name).mkdir()  # a user's folders, named like our leftovers
        (folder / name / "keep.txt").write_text("keep")
    client = NfsClient(
        nfs_server.host,
        nfs_server.open.path,
        nfs_port=proxy.nfs_port,
        mount_port=proxy.mount_port,
        timeout_ms=3000,
    )
    clock = Clock()
    sweeper = Sweeper(client, SUFFIX, lock_stale_seconds=STALE_S, clock=clock)
    passes = 2 * REMEMBERED_REMOVALS
    try:
        entry: Entry = client.call(client.lookup(client.root, folder.name))  # type: ignore[assignment]
        proxy.arm()
        for i in range(passes):
            # Each pass finds one dead writer's temp file (to show that the sweep works).
            (folder / f".t{i}-sidecar.json.{i:08x}.tmp").write_bytes(b"dead")
            page = sweeper.start(folder.name, entry.fh)
            assert page is not None, f"pass {i}: no page due"
            client.wait(page.call)
            # The server's "now" an hour on: everything listed counts as stale.
            now_ns = time.time_ns() + 3600 * 1_000_000_000
            run(sweeper.finish(page, Attributes(1, 0o600, 0, 0, 0, 1, now_ns, now_ns, now_ns)))
            clock.now += STALE_S  # the next pass is due
        wait_until(lambda: not list(folder.glob(".t*.tmp")), "the dead temp files are removed")
        counts = dict(proxy.counts)
    finally:
        client.close()
    assert counts.get("NFS.SETATTR", 0) == 0  # no takeover of the folder named like a lock
    assert counts["NFS.REMOVE"] == passes  # the temp files, never the folders
    for name in (".f-sidecar.json.lock", ".g-sidecar.json.0123abcd.tmp"):
        assert (folder / name / "keep.txt").read_text() == "keep"
        assert name not in sweeper.removed
    assert len(sweeper.removed) <= REMEMBERED_REMOVALS


# (g) ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"plain text, a user's notes\n",
        b'{"owner": "me", "notes": [1, 2, 3]}',
        # Ours in shape but for format_version: not a sidecar this function wrote.
        b'{"filename": "x", "source": {"sns_message_id": "m", "published": "2026-11-24T09:00Z"}}',
    ],
    ids=["not JSON", "JSON of another shape", "JSON without format_version"],
)
def test_a_users_file_at_the_sidecar_name_is_left_and_the_notification_fails_in_the_way(
    nfs_server: NfsServer, folder: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    (folder / "u.dat").write_bytes(b"u")
    theirs = folder / "u-sidecar.json"
    theirs.write_bytes(content)
    handler = handler_for(nfs_server)
    try:
        error = outcome(handler, sns_event(f"{folder.name}/u.dat", "m-1", results="ours"))
        left = leftovers(folder)
    finally:
        handler.disconnect()
    assert theirs.read_bytes() == content, "a user's file was replaced"
    assert type(error).__name__ == "SidecarInTheWay", repr(error)
    assert retryable(error) is False  # type: ignore[arg-type]
    assert "u-sidecar.json" in str(error)
    failed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (failed["outcome"], failed["retryable"]) == ("failed", False)
    assert left == []


# (h) ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("second_is", ["older", "newer"])
def test_files_sharing_a_sidecar_name_collide_and_nothing_is_replaced(
    nfs_server: NfsServer, folder: Path, second_is: str
) -> None:
    c = folder / "c"
    c.mkdir()
    (c / "a.csv").write_bytes(b"csv")
    (c / "a.json").write_bytes(b"{}")
    first, second = ("12:00:05", "12:00:01") if second_is == "older" else ("12:00:01", "12:00:05")
    handler = handler_for(nfs_server)
    try:
        handler(sns_event(f"{folder.name}/c/a.csv", "m-csv", f"2026-11-24T{first}Z", "csv"))
        before = (c / "a-sidecar.json").read_bytes()
        error = outcome(
            handler, sns_event(f"{folder.name}/c/a.json", "m-json", f"2026-11-24T{second}Z", "js")
        )
        left = leftovers(folder)
    finally:
        handler.disconnect()
    assert (c / "a-sidecar.json").read_bytes() == before, "a.csv's sidecar was replaced"
    assert type(error).__name__ == "SidecarCollision", repr(error)
    assert retryable(error) is False  # type: ignore[arg-type]
    assert left == []


def test_files_sharing_a_sidecar_name_in_one_batch_collide(
    nfs_server: NfsServer, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = folder / "c"
    c.mkdir()
    (c / "a.csv").write_bytes(b"csv")
    (c / "a.json").write_bytes(b"{}")
    handler = handler_for(nfs_server)
    try:
        result = handler(
            sqs_event(
                envelope(f"{folder.name}/c/a.csv", "m-csv", "2026-11-24T12:00:05Z", "csv"),
                envelope(f"{folder.name}/c/a.json", "m-json", "2026-11-24T12:00:01Z", "js"),
            ),
            FakeContext(10),
        )
        left = leftovers(folder)
    finally:
        handler.disconnect()
    lines = {
        line["message_id"]: line
        for line in map(json.loads, capsys.readouterr().out.splitlines())
        if "message_id" in line
    }
    # One of the two is written (they race for the name), the other collides: never
    # skipped_older, which would acknowledge a file that has no sidecar.
    assert sorted(line["outcome"] for line in lines.values()) == ["failed", "written"], lines
    [failed] = [line for line in lines.values() if line["outcome"] == "failed"]
    [written] = [line for line in lines.values() if line["outcome"] == "written"]
    assert (failed["error_type"], failed["retryable"]) == ("SidecarCollision", False)
    assert len(result["batchItemFailures"]) == 1  # type: ignore[index]
    assert sidecar(c / "a-sidecar.json")["filename"] == written["file"]
    assert left == []


# (i) ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        b"../../other/.x-sidecar.json.lock",
        b"../.x-sidecar.json.0123abcd.tmp",
        b".a/b-sidecar.json.lock",
        b".x/-sidecar.json.0123abcd.tmp",
        b".x\x00-sidecar.json.lock",
    ],
)
def test_a_name_from_the_server_with_a_slash_or_nul_is_never_a_leftover(name: bytes) -> None:
    # Sent back as one name in a REMOVE, it would name another file.
    assert leftover_kind(name, SUFFIX) is None
    # Names of our forms without them still are ours.
    assert leftover_kind(b".x-sidecar.json.lock", SUFFIX) == "lock"
    assert leftover_kind(b".x-sidecar.json.0123abcd.tmp", SUFFIX) == "temp"


# (j) ---------------------------------------------------------------------------------------


def test_a_stale_handle_of_the_exports_root_is_mounted_afresh(
    nfs_server: NfsServer, folder: Path, proxy: FaultProxy
) -> None:
    root = nfs_server.open.local
    stem = folder.name
    (root / f"{stem}.bin").write_bytes(b"in the export's root")
    (folder / "w.bin").write_bytes(b"w")
    handler = handler_for(
        nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port, timeout_ms=1000
    )
    mounts = threading.Event()

    def mounted_afresh() -> None:
        mounts.set()
        proxy.arm()  # the new mount's root handle is good

    try:
        handler(sns_event(f"{stem}/w.bin", "warm"), FakeContext(10))  # mounted
        # The root's handle went stale on the server: every call with it fails, until a new
        # mount gives the root's handle afresh.
        proxy.arm(
            Fault("NFS.LOOKUP", "status", status=STALE, times=None),
            Fault("NFS.CREATE", "status", status=STALE, times=None),
            Fault("MOUNT.MNT", "hook", hook=mounted_afresh),
        )
        error = outcome(handler, sns_event(f"{stem}.bin", "m-1", results="after stale"))
        proxy.disarm()
        assert error is None, repr(error)
        # The temp name's removal is sent without waiting: give it a moment to land.
        wait_until(lambda: not list(root.glob(f".{stem}-sidecar.json.*")), "nothing left", 10)
    finally:
        handler.disconnect()
    assert mounts.is_set()
    assert sidecar(root / f"{stem}-sidecar.json")["results"] == "after stale"


# (k) ---------------------------------------------------------------------------------------
# A replacement takes the lock and reads the sidecar in the WRITE's round trip (issue 21): what
# it read before holding the lock counts only while the sidecar is still that file.


def test_a_sidecar_replaced_before_the_lock_was_held_is_read_again_under_it(
    nfs_server: NfsServer, folder: Path, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"{folder.name}/f.bin"
    path = folder / "f-sidecar.json"
    handler = handler_for(nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port)

    def newer_meanwhile(payload: bytes) -> bytes:
        # The read ahead is done: another writer now replaces the sidecar with a newer one.
        document = sidecar(path)
        document["source"].update(sns_message_id="m-3", published="2026-11-24T12:00:00+00:00")
        document["results"] = "newer, meanwhile"
        (folder / "other.tmp").write_text(json.dumps(document))
        os.rename(folder / "other.tmp", path)
        return payload

    try:
        handler(sns_event(name, "m-1", T1, results="first"), FakeContext(10))
        settle_removals(handler)
        proxy.arm(Fault("NFS.READ", "rewrite_reply", rewrite=newer_meanwhile))
        handler(sns_event(name, "m-2", T2, results="second"), FakeContext(10))
        assert [call for call, *_ in proxy.applied] == ["NFS.READ"]
        proxy.disarm()
    finally:
        handler.disconnect()
    # Trusting the read ahead, m-2 would have replaced a sidecar for a newer notification.
    assert sidecar(path)["results"] == "newer, meanwhile"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["outcome"] == "skipped_older"
    assert leftovers(folder) == []


def test_a_lock_is_created_with_the_writes_token_as_its_access_time(
    nfs_server: NfsServer, folder: Path, proxy: FaultProxy
) -> None:
    """What lets a writer know its lock after the CREATE's reply was lost: the server keeps the
    access time the CREATE set (nfs-ganesha does; a server that does not leaves such a lock to
    the stale rule)."""
    name = f"{folder.name}/f.bin"
    seen: list[tuple[int, str]] = []

    def look(payload: bytes) -> bytes:
        (tmp,) = folder.glob(".f-sidecar.json.*.tmp")
        lock = folder / ".f-sidecar.json.lock"
        seen.append((lock.stat().st_atime_ns, tmp.name.split(".")[-2]))
        return payload

    handler = handler_for(nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port)
    try:
        handler(sns_event(name, "m-1", T1, results="first"), FakeContext(10))
        settle_removals(handler)
        proxy.arm(Fault("NFS.CREATE", "rewrite_reply", occurrence=2, rewrite=look))
        handler(sns_event(name, "m-2", T2, results="second"), FakeContext(10))
        proxy.disarm()
    finally:
        handler.disconnect()
    ((atime_ns, token),) = seen
    assert atime_ns == int(token, 16) * 1_000_000_000


def test_a_lock_whose_create_reply_was_lost_is_removed_and_the_write_retried(
    nfs_server: NfsServer, folder: Path, proxy: FaultProxy
) -> None:
    name = f"{folder.name}/f.bin"
    handler = handler_for(
        nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port, timeout_ms=1000
    )
    try:
        handler(sns_event(name, "m-1", T1, results="first"), FakeContext(10))
        settle_removals(handler)
        # The lock's CREATE is carried out; its reply never arrives.
        proxy.arm(Fault("NFS.CREATE", "drop_after", occurrence=2))
        error = outcome(handler, sns_event(name, "m-2", T2, results="second"), 10)
        proxy.disarm()
        assert error is None, repr(error)  # not SidecarBusy until the lock went stale
        assert handler.reconnects == 1
        assert sidecar(folder / "f-sidecar.json")["results"] == "second"
        wait_until(lambda: leftovers(folder, settle_s=0) == [], "the lock's removal landed", 10)
    finally:
        handler.disconnect()
