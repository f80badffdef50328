"""SQS batches: every record's NFS calls in flight together, each record keeping its guarantees
(atomic, newest wins also within a batch, its own outcome and log line), on the real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nfs_sidecar.handler import Handler
from nfs_sidecar.nfs.xdr import JUKEBOX
from tests.fault_proxy import Fault, FaultProxy
from tests.function.helpers import (
    FakeContext,
    envelope,
    handler_for,
    leftovers,
    race_writers,
    settle_removals,
    sns_event,
    sqs_event,
)
from tests.nfs_server import NfsServer

BATCH = 10


@pytest.fixture
def folder(nfs_server: NfsServer, request: pytest.FixtureRequest) -> Path:
    path = nfs_server.open.local / request.node.name
    path.mkdir()
    return path


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]


def results_of(sidecar: Path) -> object:
    return json.loads(sidecar.read_text())["results"]


def test_replacing_a_batch_of_sidecars_takes_the_round_trips_of_one(
    nfs_server: NfsServer, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(BATCH):
        (folder / f"f{i}.bin").write_bytes(b"x" * i)
    handler = handler_for(nfs_server)
    first = [envelope(f"{folder.name}/f{i}.bin", f"a-{i}") for i in range(BATCH)]
    assert handler(sqs_event(*first), FakeContext(30)) == {"batchItemFailures": []}
    client = handler._writer.client  # type: ignore[union-attr]

    def cost(event: dict) -> tuple[int, int]:
        # The last write's lock was removed without waiting: its reply read first.
        settle_removals(handler)
        round_trips, calls = client.round_trips, client.rpc_count
        assert handler(event, FakeContext(30)) in (None, {"batchItemFailures": []})
        return client.round_trips - round_trips, client.rpc_count - calls

    handler(sns_event(f"{folder.name}/f0.bin", "m-00", "2026-11-24T10:30:00Z"), FakeContext(30))
    later = "2026-11-24T11:00:00Z"
    one = cost(sns_event(f"{folder.name}/f0.bin", "m-0", later))
    batch = cost(
        sqs_event(*(envelope(f"{folder.name}/f{i}.bin", f"m-{i}", later) for i in range(1, BATCH)))
    )
    print(f"round trips, calls: one replacement {one}, a batch of {BATCH - 1} {batch}")
    # 9 calls in 4 round trips, and a LOOKUP of the cached folder (one level deep) in the first
    # round trip; the records of a batch share that check.
    assert one == (4, 10)
    assert batch == (one[0], (BATCH - 1) * 9 + 1)
    lines = logged(capsys)
    assert [line["via"] for line in lines[-(BATCH - 1) :]] == ["lock+rename"] * (BATCH - 1)
    for i in range(BATCH):
        document = json.loads((folder / f"f{i}-sidecar.json").read_text())
        assert (document["size"], document["source"]["sns_message_id"]) == (i, f"m-{i}")
    assert leftovers(folder) == []


def test_new_sidecars_in_a_batch_cost_what_one_costs(
    nfs_server: NfsServer, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(BATCH + 1):
        (folder / f"f{i}.bin").write_bytes(b"x")
    handler = handler_for(nfs_server)
    handler(sns_event(f"{folder.name}/f{BATCH}.bin", "warm"))
    client = handler._writer.client  # type: ignore[union-attr]
    round_trips = client.round_trips
    handler(sns_event(f"{folder.name}/f0.bin", "m-0"), FakeContext(30))
    one = client.round_trips - round_trips
    capsys.readouterr()

    round_trips = client.round_trips
    bodies = [envelope(f"{folder.name}/f{i}.bin", f"m-{i}") for i in range(1, BATCH)]
    assert handler(sqs_event(*bodies), FakeContext(30)) == {"batchItemFailures": []}
    assert client.round_trips - round_trips == one
    lines = logged(capsys)
    assert [line["outcome"] for line in lines] == ["written"] * (BATCH - 1)
    assert {line["via"] for line in lines} == {"link"}
    # 6 calls each, and the check of the cached folder (one level deep) riding along with the
    # first round trip, sent once for the batch (counted for the record that sent it).
    assert sorted(line["NfsCalls"] for line in lines) == [6] * (BATCH - 2) + [7]
    assert [line["sqs_message_id"] for line in lines] == [f"sqs-{i}" for i in range(BATCH - 1)]
    assert leftovers(folder) == []


@pytest.mark.parametrize("newest_first", [True, False])
def test_two_records_for_one_file_in_a_batch_keep_the_newest(
    nfs_server: NfsServer, folder: Path, capsys: pytest.CaptureFixture[str], newest_first: bool
) -> None:
    (folder / "f.bin").write_bytes(b"f")
    old = envelope(f"{folder.name}/f.bin", "m-old", "2026-11-24T10:00:00Z", results="old")
    new = envelope(f"{folder.name}/f.bin", "m-new", "2026-11-24T11:00:00Z", results="new")
    handler = handler_for(nfs_server)
    bodies = [new, old] if newest_first else [old, new]
    assert handler(sqs_event(*bodies), FakeContext(30)) == {"batchItemFailures": []}
    assert results_of(folder / "f-sidecar.json") == "new"
    lines = {line["message_id"]: line for line in logged(capsys)}
    assert lines["m-new"]["outcome"] == "written"
    assert lines["m-old"]["outcome"] == "skipped_older"
    assert lines["m-old"]["NfsCalls"] == 0  # settled by the newer one, without a call

    # A sidecar newer than both is kept: both records are skipped.
    newest = envelope(f"{folder.name}/f.bin", "m-3", "2026-11-24T12:00:00Z", results="newest")
    handler(sqs_event(newest), FakeContext(30))
    assert handler(sqs_event(*bodies), FakeContext(30)) == {"batchItemFailures": []}
    assert results_of(folder / "f-sidecar.json") == "newest"
    outcomes = {line["message_id"]: line["outcome"] for line in logged(capsys)}
    assert outcomes == {"m-3": "written", "m-new": "skipped_older", "m-old": "skipped_older"}
    handler.disconnect()
    assert leftovers(folder) == []


def test_when_the_newest_record_for_a_sidecar_fails_the_older_one_is_written(
    nfs_server: NfsServer, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # run.tar.gz and run.tar.bz2 share the sidecar run.tar-sidecar.json; only .bz2 exists.
    (folder / "run.tar.bz2").write_bytes(b"b")
    handler = handler_for(nfs_server)
    result = handler(
        sqs_event(
            envelope(f"{folder.name}/run.tar.bz2", "m-old", "2026-11-24T10:00:00Z", results="b"),
            envelope(f"{folder.name}/run.tar.gz", "m-new", "2026-11-24T11:00:00Z", results="g"),
        ),
        FakeContext(30),
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "sqs-1"}]}
    assert results_of(folder / "run.tar-sidecar.json") == "b"
    lines = {line["message_id"]: line for line in logged(capsys)}
    assert lines["m-new"]["error_type"] == "FileNotFoundOnExport"
    assert lines["m-old"]["outcome"] == "written"
    handler.disconnect()
    assert leftovers(folder) == []


@pytest.mark.parametrize(
    "fault",
    [
        Fault("NFS.WRITE", "drop_before", occurrence=4),  # some WRITEs done, the rest not
        Fault("NFS.LINK", "drop_after", occurrence=6),  # 6 sidecars linked, the 6th unknown
    ],
    ids=["WRITE#4 drop before", "LINK#6 drop after"],
)
def test_a_connection_dropped_mid_batch_retries_the_unfinished_records_on_a_new_mount(
    nfs_server: NfsServer, folder: Path, capsys: pytest.CaptureFixture[str], fault: Fault
) -> None:
    for i in range(BATCH):
        (folder / f"f{i}.bin").write_bytes(b"x")
    with FaultProxy(nfs_server.host, nfs_server.nfs_port, nfs_server.mount_port) as proxy:
        handler = handler_for(
            nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port, timeout_ms=1000
        )
        (folder / "warm.bin").write_bytes(b"w")
        handler(sns_event(f"{folder.name}/warm.bin", "warm"), FakeContext(30))
        capsys.readouterr()
        proxy.arm(fault)
        bodies = [envelope(f"{folder.name}/f{i}.bin", f"m-{i}", results=i) for i in range(BATCH)]
        # Two records that fail for good before the drop (no such folder): not tried again.
        bodies += [envelope(f"{folder.name}/none{i}/x.bin", f"x-{i}") for i in range(2)]
        result = handler(sqs_event(*bodies), FakeContext(30))
        applied = list(proxy.applied)
        # What the broken connection left, the retry removed (its own temp names' removals are
        # sent without waiting: leftovers() gives them a moment, through the proxy).
        left = leftovers(folder)
        handler.disconnect()

    assert applied == [(fault.procedure, fault.occurrence, fault.action)]
    assert result == {"batchItemFailures": [{"itemIdentifier": f"sqs-{BATCH + i}"} for i in (0, 1)]}
    assert handler.reconnects == 1
    for i in range(BATCH):
        assert results_of(folder / f"f{i}-sidecar.json") == i  # complete, each its own
    out = logged(capsys)
    [why] = [line for line in out if line["outcome"] == "reconnecting"]
    assert (why["level"], why["error_type"]) == ("WARN", "NfsConnectionError")
    assert why["records"] == BATCH
    lines = {line["message_id"]: line for line in out if "message_id" in line}
    for i in range(BATCH):
        assert lines[f"m-{i}"]["outcome"] == "written"
        assert lines[f"m-{i}"]["Reconnects"] == 1
    for i in range(2):
        assert lines[f"x-{i}"]["error_type"] == "FileNotFoundOnExport"
        assert lines[f"x-{i}"]["Reconnects"] == 0
    # Each its missing folder's LOOKUP; in its round trip the check of the cached folder above,
    # sent once for the batch (by the newest record, x-1).
    assert [lines[f"x-{i}"]["NfsCalls"] for i in range(2)] == [1, 2]
    assert left == []


def test_concurrent_batches_for_one_file_keep_the_newest(
    nfs_server: NfsServer, folder: Path
) -> None:
    handlers: list[Handler] = [handler_for(nfs_server) for _ in range(4)]
    race_writers(folder, handlers, per_writer=12, batch=4)


def test_when_the_newest_record_meets_a_held_lock_the_older_ones_fail_with_it(
    nfs_server: NfsServer, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "f.bin").write_bytes(b"f")
    handler = handler_for(nfs_server, timeout_ms=500)  # a batch needs 1.2 s
    handler(sqs_event(envelope(f"{folder.name}/f.bin", "m-0", results="first")), FakeContext(30))
    (folder / ".f-sidecar.json.lock").touch()  # another writer is replacing it right now
    capsys.readouterr()
    result = handler(
        sqs_event(
            envelope(f"{folder.name}/f.bin", "m-old", "2026-11-24T11:00:00Z"),
            envelope(f"{folder.name}/f.bin", "m-new", "2026-11-24T12:00:00Z"),
        ),
        FakeContext(4),  # a lock wait of 2 s
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": f"sqs-{i}"} for i in (0, 1)]}
    lines = {line["message_id"]: line for line in logged(capsys)}
    assert {lines[m]["error_type"] for m in ("m-old", "m-new")} == {"SidecarBusy"}
    assert lines["m-old"]["NfsCalls"] == 0  # not made to wait for the same lock again
    assert results_of(folder / "f-sidecar.json") == "first"
    handler.disconnect()


def test_a_folder_lookup_shared_by_two_records_is_resent_once(
    nfs_server: NfsServer, folder: Path
) -> None:
    (folder / "d").mkdir()
    for name in ("a", "b"):
        (folder / "d" / f"{name}.bin").write_bytes(b"x")
    (folder / "warm.bin").write_bytes(b"w")
    with FaultProxy(nfs_server.host, nfs_server.nfs_port, nfs_server.mount_port) as proxy:
        handler = handler_for(nfs_server, nfs_port=proxy.nfs_port, mount_port=proxy.mount_port)
        handler(sns_event(f"{folder.name}/warm.bin", "warm"), FakeContext(30))  # caches the folder
        # The first call is the LOOKUP of the folder d, which both records wait for.
        proxy.arm(Fault("NFS.LOOKUP", "status", status=JUKEBOX))
        bodies = [envelope(f"{folder.name}/d/{name}.bin", f"m-{name}") for name in ("a", "b")]
        result = handler(sqs_event(*bodies), FakeContext(30))
        client = handler._writer.client  # type: ignore[union-attr]
        assert (result, client.resends) == ({"batchItemFailures": []}, 1)
        handler.disconnect()
    for name in ("a", "b"):
        assert results_of(folder / "d" / f"{name}-sidecar.json") == {"status": "ok"}
