"""Leftovers of dead writers: the name and age rules, the READDIRPLUS pages and the guarded
takeover on the real server, the pacing that keeps a write at 6 calls, and a live writer's temp
file that a sweep must leave alone. (Writers killed with SIGKILL at each step: test_crashes.py.)"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfs_sidecar.handler import Handler
from nfs_sidecar.nfs.client import Attributes, Entry, NfsClient
from nfs_sidecar.nfs.conversation import run
from nfs_sidecar.nfs.errors import NfsStatusError
from nfs_sidecar.nfs.xdr import NOT_SYNC
from nfs_sidecar.sweep import (
    LOCK,
    PAGE_BYTES,
    PAGE_EVERY_WRITES,
    TEMP,
    Sweeper,
    is_stale,
    leftover_kind,
    take_over,
)
from tests.fault_proxy import Fault, FaultProxy
from tests.function.helpers import (
    FakeContext,
    handler_for,
    leftovers,
    race_writers,
    settle_removals,
    sns_event,
    wait_until,
)
from tests.nfs_server import NfsServer

SUFFIX = "-sidecar.json"
S = 1_000_000_000


# --- the rules, as pure logic ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        (".f-sidecar.json.0123abcd.tmp", TEMP),
        (".run.tar-sidecar.json.ffffffff.tmp", TEMP),
        (".f-sidecar.json.lock", LOCK),
        (".bashrc-sidecar.json.lock", LOCK),  # the sidecar of ".bashrc"
        (".é ü-sidecar.json.00000000.tmp", TEMP),
        (".a\nb-sidecar.json.lock", LOCK),  # NFS names may hold a newline; ours may too
        ("f-sidecar.json", None),  # a sidecar
        (".f-sidecar.json", None),
        ("f-sidecar.json.0123abcd.tmp", None),  # no leading dot
        (".f-sidecar.json.0123ABCD.tmp", None),  # token_hex is lower case
        (".f-sidecar.json.0123abc.tmp", None),  # 7 digits
        (".f-sidecar.json.0123abcde.tmp", None),  # 9 digits
        (".f-sidecar.json.0123abcd.tmp.bak", None),
        (".f-sidecar.json.0123abcd.tmpx", None),
        (".f-sidecar.json.lock.old", None),
        (".f-sidecar.json.locks", None),
        (".-sidecar.json.lock", None),  # no stem: never one of ours
        (".f-sidecarXjson.lock", None),  # the suffix's dot is a dot
        (".f-other.json.lock", None),  # another suffix
        (".f.tmp", None),
        (".data.0123abcd.tmp", None),  # some other program's temp file
    ],
)
def test_only_our_two_name_forms_are_leftovers(name: str, kind: str | None) -> None:
    assert leftover_kind(name.encode(), SUFFIX) == kind


def test_the_configured_suffix_is_used_literally() -> None:
    assert leftover_kind(b".f+x.json.lock", "+x.json") == LOCK
    assert leftover_kind(b".fxxjson.lock", "+x.json") is None
    assert leftover_kind(b".f-sidecar.json.lock", "+x.json") is None


def test_names_that_are_not_utf8_are_never_ours() -> None:
    assert leftover_kind(b".\xff-sidecar.json.lock", SUFFIX) is None


def attrs(ctime_s: float, mtime_s: float) -> Attributes:
    return Attributes(1, 0o644, 0, 0, 0, 1, 0, int(mtime_s * S), int(ctime_s * S))


@pytest.mark.parametrize(
    ("ctime_s", "mtime_s", "stale"),
    [
        (1000, 1000, True),  # both 1000 s before "now" (2000 s), past the 120 s
        (1879, 1879, True),
        (1880, 1000, False),  # changed exactly 120 s ago: not older than 120 s
        (1990, 1000, False),  # an old mtime (set by SETATTR, utime) but changed lately
        (1000, 1990, False),  # written lately (mtime set in the future of its ctime)
        (2500, 2500, False),  # a server clock ahead of ours: never counted as old
    ],
)
def test_stale_means_neither_changed_nor_written_for_longer_than_any_writer_lives(
    ctime_s: float, mtime_s: float, stale: bool
) -> None:
    assert is_stale(attrs(ctime_s, mtime_s), now_ns=2000 * S, stale_ns=120 * S) is stale


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_folder_gets_a_page_per_pass_interval_and_a_long_one_a_page_every_16_writes() -> None:
    clock = Clock()
    sweeper = Sweeper(None, SUFFIX, lock_stale_seconds=120, clock=clock)  # type: ignore[arg-type]
    assert sweeper.due("a") is not None  # the first write into a folder starts a pass
    assert [sweeper.due("a") for _ in range(100)] == [None] * 100  # one page: the pass ended
    assert sweeper.due("b") is not None  # folders are paced apart
    clock.now += 119
    assert sweeper.due("a") is None
    clock.now += 1
    state = sweeper.due("a")  # the next pass
    assert state is not None
    state.cookie = 42  # its page did not reach the end: the pass goes on
    due = [sweeper.due("a") is not None for _ in range(3 * PAGE_EVERY_WRITES)]
    assert due == ([False] * (PAGE_EVERY_WRITES - 1) + [True]) * 3


# --- on the real server ---------------------------------------------------------------------


@pytest.fixture
def client(nfs_server: NfsServer) -> Iterator[NfsClient]:
    client = NfsClient(
        nfs_server.host,
        nfs_server.open.path,
        nfs_port=nfs_server.nfs_port,
        mount_port=nfs_server.mount_port,
        timeout_ms=3000,
    )
    yield client
    client.close()


def lookup(client: NfsClient, dir_fh: bytes, name: str) -> Entry:
    return client.call(client.lookup(dir_fh, name))  # type: ignore[return-value]


def test_readdirplus_pages_through_a_folder_with_attributes_and_handles(
    folder: Path, client: NfsClient
) -> None:
    for i in range(400):
        (folder / f"file-{i:04d}.dat").write_bytes(b"x" * i)
    dir_fh = lookup(client, client.root, folder.name).fh
    seen: dict[bytes, int] = {}
    cookie, verifier, pages = 0, bytes(8), 0
    while True:
        page = client.call(client.readdirplus(dir_fh, cookie, verifier, PAGE_BYTES))
        pages += 1
        for entry in page.entries:  # type: ignore[attr-defined]
            assert entry.name not in seen, "a name came twice"
            assert entry.attributes is not None and entry.fh
            assert entry.attributes.fileid == entry.fileid
            seen[entry.name] = entry.attributes.size
        if page.eof:  # type: ignore[attr-defined]
            break
        cookie, verifier = page.entries[-1].cookie, page.verifier  # type: ignore[attr-defined]
    on_disk = {p.name.encode(): p.stat().st_size for p in folder.iterdir()}
    assert {k: v for k, v in seen.items() if k not in (b".", b"..")} == on_disk
    assert pages > 1  # bounded pages: 401 names with attributes do not fit in one


def test_the_guarded_setattr_lets_one_taker_of_a_stale_lock_win(
    folder: Path, client: NfsClient
) -> None:
    lock = folder / ".f-sidecar.json.lock"
    lock.touch()
    os.utime(lock, (time.time() - 600, time.time() - 600))
    dir_fh = lookup(client, client.root, folder.name).fh
    seen = lookup(client, dir_fh, lock.name)  # two writers saw the same stale lock
    taken = run(take_over(client, seen))  # the first takes it: the lock as it is now its own
    assert taken is not None and taken.fh == seen.fh
    assert taken.attributes is not None and seen.attributes is not None
    assert taken.attributes.ctime_ns != seen.attributes.ctime_ns  # how it knows it later
    assert taken.attributes.ctime_ns == lookup(client, dir_fh, lock.name).attributes.ctime_ns  # type: ignore[union-attr]
    assert run(take_over(client, seen)) is None  # the second's guard: no match
    with pytest.raises(NfsStatusError) as failed:
        client.call(client.touch_if_unchanged(seen.fh, seen.attributes.ctime_ns))
    assert failed.value.status == NOT_SYNC
    assert time.time() - lock.stat().st_mtime < 60  # fresh: the winner's now


def test_writers_racing_on_a_dead_writers_lock_keep_the_newest(
    nfs_server: NfsServer, folder: Path
) -> None:
    """The first replacements meet a lock older than lock_stale_seconds (on the server's clock:
    its ctime): each writer tries to take it over, one wins, and the newest notification still
    wins with nothing left behind."""
    (folder / "hot.bin").write_bytes(b"hot")
    lock = folder / ".hot-sidecar.json.lock"
    lock.touch()
    wait_until(lambda: time.time() - lock.stat().st_ctime > STALE_S + 0.5, "the lock is stale")
    handlers = [handler_for(nfs_server, lock_stale_seconds=STALE_S) for _ in range(4)]
    race_writers(folder, handlers, per_writer=6)


def test_a_write_sends_at_most_one_bounded_page_however_big_the_folder(
    nfs_server: NfsServer, folder: Path
) -> None:
    for i in range(3000):
        (folder / f"n{i:05d}").touch()
    for i in range(PAGE_EVERY_WRITES + 1):
        (folder / f"w{i}.bin").write_bytes(b"w")
    with FaultProxy(nfs_server.host, nfs_server.nfs_port, nfs_server.mount_port) as proxy:
        handler = handler_for(nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port)
        try:
            handler(sns_event(f"{folder.name}/f.bin", "m-0"))  # mounts; the pass starts
            proxy.arm()
            calls = []
            for i in range(PAGE_EVERY_WRITES + 1):
                handler(sns_event(f"{folder.name}/w{i}.bin", f"m-{i + 1}"))
                calls.append(proxy.counts["NFS.READDIRPLUS"])
        finally:
            handler.disconnect()
    # The pass goes on a page every 16 writes (the other writes cost 6 calls as ever).
    assert calls == [0] * (PAGE_EVERY_WRITES - 1) + [1, 1]


STALE_S = 5


def test_a_sweep_removes_a_dead_writers_temp_file_but_never_a_live_writers(
    nfs_server: NfsServer, folder: Path, proxy: FaultProxy
) -> None:
    (folder / "g.bin").write_bytes(b"g")
    (folder / "h.bin").write_bytes(b"h")
    dead = folder / ".f-sidecar.json.deadbeef.tmp"  # what a killed writer left
    dead.write_text('{"partial": ')
    # A pass of the sweeping writer's own clock: age the dead one past lock_stale_seconds.
    wait_until(lambda: time.time() - dead.stat().st_ctime > STALE_S + 0.5, "the temp is stale")

    # A live writer: its temp file is created, then its WRITE is held at the proxy.
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        held.set()
        release.wait(30)

    proxy.arm(Fault("NFS.WRITE", "hook", hook=hold))
    live = handler_for(
        nfs_server,
        nfs_port=proxy.nfs_port,
        mount_port=proxy.mount_port,
        timeout_ms=4000,
        lock_stale_seconds=STALE_S,
    )
    errors: list[BaseException] = []

    def write_live() -> None:
        try:
            # Its budget (4 s) is below lock_stale_seconds, as the function's timeout must be.
            live(sns_event(f"{folder.name}/f.bin", "m-live", results="live"), FakeContext(4))
        except BaseException as exc:
            errors.append(exc)

    sweeper = handler_for(nfs_server, lock_stale_seconds=STALE_S)
    live_thread = threading.Thread(target=write_live)
    live_thread.start()
    try:
        wait_until(held.is_set, "the live writer's WRITE reached the proxy", 10)
        live_temps = [p for p in folder.glob(".f-sidecar.json.*.tmp") if p != dead]
        assert len(live_temps) == 1
        # The sweeping writer writes into the folder (its first write there: a page is due).
        sweeper(sns_event(f"{folder.name}/g.bin", "m-g"))
        swept = sweeper._writer.sweeper.removed  # type: ignore[union-attr]
        assert list(swept) == [dead.name]
        wait_until(lambda: not dead.exists(), "the dead writer's temp file is removed", 10)
        assert live_temps[0].exists()  # the live writer's is not
    finally:
        release.set()
        live_thread.join(30)
    sweeper.disconnect()
    live.disconnect()
    assert not live_thread.is_alive() and errors == []
    assert json.loads((folder / "f-sidecar.json").read_text())["results"] == "live"
    assert leftovers(folder) == []


def test_a_sweep_removes_a_dead_writers_lock_by_taking_it_over_first(
    nfs_server: NfsServer, folder: Path, proxy: FaultProxy
) -> None:
    (folder / "g.bin").write_bytes(b"g")
    lock = folder / ".f-sidecar.json.lock"
    lock.touch()
    wait_until(lambda: time.time() - lock.stat().st_ctime > STALE_S + 0.5, "the lock is stale")
    proxy.arm()
    sweeper = handler_for(
        nfs_server,
        nfs_port=proxy.nfs_port,
        mount_port=proxy.mount_port,
        lock_stale_seconds=STALE_S,
    )
    sweeper(sns_event(f"{folder.name}/g.bin", "m-g"))  # nothing to do with f's sidecar
    sweeper.disconnect()
    wait_until(lambda: not lock.exists(), "the dead writer's lock is removed", 10)
    assert proxy.counts["NFS.SETATTR"] == 1  # taken over, then removed
    assert leftovers(folder) == []


def test_a_page_rides_along_with_the_first_write_into_a_folder_in_the_same_round_trips(
    nfs_server: NfsServer, folder: Path, proxy: FaultProxy
) -> None:
    """The usual write costs 6 calls and a LOOKUP of its cached folder, in 3 round trips; the
    first into a folder looks the folder up instead and sends a page along: no round trip
    more than the folder's lookup."""
    (folder / "g.bin").write_bytes(b"g")
    (nfs_server.open.local / f"{folder.name}.bin").write_bytes(b"warm")
    handler: Handler = handler_for(nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port)
    root = nfs_server.open.local

    def landed(folder: Path, stem: str) -> None:  # the unwaited REMOVE of the temp name
        wait_until(lambda: not list(folder.glob(f".{stem}-sidecar.json.*.tmp")), "it landed")

    try:
        handler(sns_event(f"{folder.name}.bin", "warm"))  # mounts; in the export's root folder
        landed(root, folder.name)
        client = handler._writer.client  # type: ignore[union-attr]
        settle_removals(handler)  # its reply read
        proxy.arm()
        round_trips = client.round_trips
        handler(sns_event(f"{folder.name}/f.bin", "m-1"))
        first_round_trips = client.round_trips - round_trips
        landed(folder, "f")
        first = dict(proxy.counts)
        settle_removals(handler)
        proxy.arm()
        round_trips = client.round_trips
        handler(sns_event(f"{folder.name}/g.bin", "m-2"))
        second_round_trips = client.round_trips - round_trips
        landed(folder, "g")
        second = dict(proxy.counts)
    finally:
        handler.disconnect()
    # The folder (cached from then on), the file and the sidecar's name.
    assert first.pop("NFS.LOOKUP") == 3
    assert first == {
        "NFS.CREATE": 1,
        "NFS.READDIRPLUS": 1,
        "NFS.WRITE": 1,
        "NFS.LINK": 1,
        "NFS.REMOVE": 1,
    }
    assert first_round_trips == 1 + 3  # the folder's LOOKUP, then the usual three
    # The file, the sidecar's name and the cached folder (checked): the first round trip.
    assert second == {
        "NFS.LOOKUP": 3,
        "NFS.CREATE": 1,
        "NFS.WRITE": 1,
        "NFS.LINK": 1,
        "NFS.REMOVE": 1,
    }
    assert second_round_trips == 3
