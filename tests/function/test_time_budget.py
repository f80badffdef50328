"""SQS batches on a slow cluster: a batch is started only while the invocation has the time to
finish it; otherwise its first record is, and the others go back to the queue unstarted, instead
of the invocation timing out mid-batch and failing the records it already wrote."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

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


def test_a_batch_is_not_started_without_the_time_to_finish_it(
    nfs_server: NfsServer,
    slow: RpcCounter,
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
    # The reserve: one NFS step running into the timeout, and one mount afresh (two timeouts).
    assert handler.record_reserve_s == pytest.approx(3 * timeout_ms / 1000 + RECORD_OVERHEAD_S)
    bodies = [envelope(f"budget/f{i}.bin", f"m-{i}") for i in range(BATCH)]
    (folder / "warm.bin").write_bytes(b"w")
    warm = handler(sqs_event(envelope("budget/warm.bin", "warm")), Context(seconds=30))  # mounts
    assert warm == {"batchItemFailures": []}
    capsys.readouterr()

    # Less time than the reserve: the first record is written (progress), the rest deferred.
    context = Context(seconds=handler.record_reserve_s * 0.9)
    result = handler(sqs_event(*bodies), context)
    assert time.monotonic() < context.deadline, "the invocation ran past its timeout"
    assert result == {"batchItemFailures": [{"itemIdentifier": f"sqs-{i}"} for i in range(1, 10)]}
    assert not any((folder / f"f{i}-sidecar.json").exists() for i in range(1, BATCH))

    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]
    assert [line["outcome"] for line in out] == ["written"] + ["deferred"] * (BATCH - 1)
    for line in out[1:]:
        assert line["level"] == "WARN"
        assert "left" in line["reason"]
        assert emf.by_name(emf.extract(json.dumps(line)), ("FunctionName",))["Deferred"] == 1

    # The queue delivers the deferred records again, and with the time, all go at once.
    again = handler(sqs_event(*bodies[1:]), Context(seconds=handler.record_reserve_s * 1.5))
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
    handler = Handler(config_for(nfs_server, timeout_ms=120_000))  # reserve: 360 s
    result = handler(
        sqs_event(envelope("short/a.bin", "m-a"), envelope("short/b.bin", "m-b")),
        Context(seconds=30),
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "sqs-1"}]}
    assert (folder / "a-sidecar.json").exists()
    assert not (folder / "b-sidecar.json").exists()
