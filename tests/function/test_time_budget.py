"""SQS batches on a slow cluster: records are started only while the invocation has the time to
finish them; the others go back to the queue unstarted, instead of the invocation timing out
mid-batch and failing the records it already wrote."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfs_sidecar.handler import RECORD_OVERHEAD_S, Handler
from tests.bench.rpc_counter import RpcCounter
from tests.function import emf
from tests.function.helpers import config_for, envelope, sqs_event
from tests.nfs_server import NfsServer

# Each RPC waits this long in each direction: a round trip takes 0.1 s, a new sidecar about 0.3 s.
ONE_WAY_DELAY_S = 0.05
BATCH = 10


class Context:
    """Lambda's context object, as far as the handler uses it: a real deadline."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@pytest.fixture
def slow(nfs_server: NfsServer) -> Iterator[RpcCounter]:
    proxy = RpcCounter(
        nfs_server.host, [nfs_server.nfs_port, nfs_server.mount_port], ONE_WAY_DELAY_S
    )
    yield proxy
    proxy.close()


def test_a_batch_stops_starting_records_before_time_runs_out(
    nfs_server: NfsServer,
    slow: RpcCounter,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = nfs_server.open.local / "budget"
    folder.mkdir()
    for i in range(BATCH):
        (folder / f"f{i}.bin").write_bytes(b"x")
    timeout_ms = 500
    handler = Handler(
        config_for(
            nfs_server,
            nfs_port=slow.ports[nfs_server.nfs_port],
            mount_port=slow.ports[nfs_server.mount_port],
            timeout_ms=timeout_ms,
        )
    )
    # The reserve: one NFS step running into the timeout, and one mount afresh.
    assert handler.record_reserve_s == pytest.approx(2 * timeout_ms / 1000 + RECORD_OVERHEAD_S)
    bodies = [envelope(f"budget/f{i}.bin", f"m-{i}") for i in range(BATCH)]

    context = Context(seconds=4.0)  # room for a few records at this speed, not for ten
    result = handler(sqs_event(*bodies), context)
    finished = time.monotonic()

    assert finished < context.deadline, "the invocation ran past its timeout"
    deferred = [
        int(item["itemIdentifier"].removeprefix("sqs-")) for item in result["batchItemFailures"]
    ]
    written = [i for i in range(BATCH) if i not in deferred]
    assert written and deferred, f"written {written}, deferred {deferred}"
    # Records are taken in order: the ones not started are the tail of the batch.
    assert deferred == list(range(len(written), BATCH))
    for i in written:
        assert (folder / f"f{i}-sidecar.json").exists()
    for i in deferred:
        assert not (folder / f"f{i}-sidecar.json").exists()

    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]
    by_outcome = {
        o: [line for line in out if line["outcome"] == o] for o in ("written", "deferred")
    }
    assert [line["file"] for line in by_outcome["written"]] == [f"budget/f{i}.bin" for i in written]
    assert [line["sqs_message_id"] for line in by_outcome["deferred"]] == [
        f"sqs-{i}" for i in deferred
    ]
    for line in by_outcome["deferred"]:
        assert line["level"] == "WARN"
        assert "left" in line["reason"]
        assert emf.by_name(emf.extract(json.dumps(line)), ("FunctionName",))["Deferred"] == 1

    # The queue delivers the deferred records again: nothing was lost.
    again = handler(sqs_event(*(bodies[i] for i in deferred)), Context(seconds=60))
    assert again == {"batchItemFailures": []}
    for i in range(BATCH):
        assert (folder / f"f{i}-sidecar.json").exists()


def test_without_a_deadline_every_record_is_started(nfs_server: NfsServer) -> None:
    folder = nfs_server.open.local / "no-deadline"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a")
    (folder / "b.bin").write_bytes(b"b")
    handler = Handler(config_for(nfs_server))
    result = handler(
        sqs_event(envelope("no-deadline/a.bin", "m-a"), envelope("no-deadline/b.bin", "m-b"))
    )
    assert result == {"batchItemFailures": []}


def test_the_first_record_is_started_even_when_the_reserve_exceeds_the_time(
    nfs_server: NfsServer,
) -> None:
    folder = nfs_server.open.local / "short"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a")
    (folder / "b.bin").write_bytes(b"b")
    handler = Handler(config_for(nfs_server, timeout_ms=120_000))  # reserve: 240 s
    result = handler(
        sqs_event(envelope("short/a.bin", "m-a"), envelope("short/b.bin", "m-b")),
        Context(seconds=30),
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "sqs-1"}]}
    assert (folder / "a-sidecar.json").exists()
    assert not (folder / "b-sidecar.json").exists()
