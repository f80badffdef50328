"""The per-message log line: levels Lambda's JSON logging reads, and metrics in CloudWatch's
Embedded Metric Format, checked against the specification (tests/function/emf.py) and against
the NFS calls a proxy counted on the wire."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from nfs_sidecar import metrics
from nfs_sidecar.config import LOG_LEVELS
from nfs_sidecar.errors import FileNotFoundOnExport
from nfs_sidecar.handler import Handler, Usage
from nfs_sidecar.message import from_envelope
from tests.bench.rpc_counter import RpcCounter
from tests.function import emf
from tests.function.helpers import config_for, envelope, sns_event, sqs_event
from tests.nfs_server import NfsServer

FUNCTION = ("FunctionName",)
BY_ERROR = ("FunctionName", "ErrorType")
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def raw_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("outcome", sorted(metrics.OUTCOME_COUNT))
def test_each_outcome_is_a_valid_emf_document(outcome: str) -> None:
    failed = outcome == "failed"
    measured = {} if outcome == "deferred" else {"Duration": 1.5, "NfsCalls": 5, "Reconnects": 0}
    document = metrics.embed(
        {"outcome": outcome, "file": "a/b.txt"},
        namespace="Team/NfsSidecar",
        function_name="sidecar",
        outcome=outcome,
        timestamp_ms=1_800_000_000_000,
        error_type="MountError" if failed else None,
        **measured,
    )
    found = emf.extract(json.dumps(document), now_ms=1_800_000_000_000)
    assert {m.namespace for m in found} == {"Team/NfsSidecar"}
    per_function = emf.by_name(found, FUNCTION)
    counts = {name: per_function[name] for name in metrics.COUNTS}
    assert counts == {name: float(metrics.OUTCOME_COUNT[outcome] == name) for name in counts}
    assert {k: per_function[k] for k in measured} == measured
    assert {m.dimensions for m in found} == (
        {(("FunctionName", "sidecar"),), (("FunctionName", "sidecar"), ("ErrorType", "MountError"))}
        if failed
        else {(("FunctionName", "sidecar"),)}
    )
    if failed:
        assert emf.by_name(found, BY_ERROR) == {"Failed": 1.0}
    units = {m.name: m.unit for m in found}
    assert units["Duration"] == "Milliseconds" if measured else "Duration" not in units
    assert document["file"] == "a/b.txt"  # the log line's own fields stay


@pytest.mark.parametrize(
    ("breakage", "rule"),
    [
        (lambda d: d.pop("_aws"), "_aws"),
        (lambda d: d["_aws"].update(Timestamp="now"), "Timestamp"),
        (lambda d: d.pop("FunctionName"), "FunctionName"),
        (lambda d: d.update(FunctionName=7), "FunctionName"),
        (lambda d: d.update(SidecarsWritten="1"), "SidecarsWritten"),
        (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Namespace="AWS/Lambda"), "AWS/"),
        (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="ms"), "unit"),
        (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Extra=1), "exactly"),
    ],
)
def test_the_checker_rejects_what_the_specification_forbids(breakage, rule: str) -> None:
    document = metrics.embed(
        {}, namespace="NfsSidecar", function_name="f", outcome="written", timestamp_ms=0
    )
    emf.extract(json.dumps(document), now_ms=0)
    breakage(document)
    with pytest.raises(emf.InvalidEmf, match=rule):
        emf.extract(json.dumps(document), now_ms=0)


def test_log_fields_cannot_shadow_metrics() -> None:
    with pytest.raises(ValueError, match="shadow"):
        metrics.embed(
            {"Failed": "yes"}, namespace="N", function_name="f", outcome="failed", timestamp_ms=0
        )


@pytest.fixture
def folder(nfs_server: NfsServer, request: pytest.FixtureRequest) -> Path:
    path = nfs_server.open.local / request.node.name
    path.mkdir()
    (path / "good.txt").write_text("ok")
    return path


@pytest.fixture
def counted(nfs_server: NfsServer) -> Iterator[RpcCounter]:
    proxy = RpcCounter(nfs_server.host, [nfs_server.nfs_port, nfs_server.mount_port])
    yield proxy
    proxy.close()


def test_handler_lines_carry_the_metrics_of_each_message(
    nfs_server: NfsServer,
    folder: Path,
    counted: RpcCounter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = Handler(
        config_for(
            nfs_server,
            nfs_port=counted.ports[nfs_server.nfs_port],
            mount_port=counted.ports[nfs_server.mount_port],
            metrics_namespace="Test/Sidecars",
        ),
        function_name="sidecar-fn",
    )
    (folder / "two.txt").write_text("2")
    handler(sns_event(f"{folder.name}/good.txt", "m-1"))  # mounts, caches the folder
    counted.reset()
    handler(sns_event(f"{folder.name}/two.txt", "m-2"))
    on_the_wire = counted.reset()
    handler(sns_event(f"{folder.name}/good.txt", "m-0", "2026-11-24T09:00:00.000Z"))  # older
    with pytest.raises(FileNotFoundOnExport):
        handler(sns_event(f"{folder.name}/missing.txt", "m-3"))

    out = capsys.readouterr().out
    first, second, older, failed = (emf.extract(line) for line in raw_lines(out))
    assert {m.namespace for m in first + second + older + failed} == {"Test/Sidecars"}
    assert {m.dimensions[0] for m in first} == {("FunctionName", "sidecar-fn")}
    second_values = emf.by_name(second, FUNCTION)
    assert second_values["SidecarsWritten"] == 1
    assert second_values["Failed"] == second_values["SkippedOlder"] == 0
    # What the metric says is what went over the wire (the NFS program, mount excluded): a new
    # sidecar's 6 calls and the LOOKUP that checks the cached folder.
    nfs_calls = sum(n for call, n in on_the_wire.items() if call.startswith("NFS."))
    assert second_values["NfsCalls"] == nfs_calls == 7
    assert second_values["Reconnects"] == 0
    assert second_values["Duration"] > 0
    assert emf.by_name(older, FUNCTION)["SkippedOlder"] == 1
    assert emf.by_name(failed, FUNCTION)["Failed"] == 1
    assert emf.by_name(failed, BY_ERROR) == {"Failed": 1}
    assert [m.dimensions for m in failed if m.name == "Failed"][1][1] == (
        "ErrorType",
        "FileNotFoundOnExport",
    )


def test_levels_and_timestamps_are_the_ones_lambda_reads(
    nfs_server: NfsServer, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = Handler(config_for(nfs_server))
    handler(sqs_event(envelope(f"{folder.name}/good.txt", "m-1"), "not an envelope"))
    found = lines(capsys.readouterr().out)
    assert [line["level"] for line in found] == ["INFO", "ERROR"]
    for line in found:
        assert line["level"] in LOG_LEVELS
        assert RFC3339_UTC.match(line["timestamp"]), line["timestamp"]
        datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))


def test_log_level_drops_lower_lines(
    nfs_server: NfsServer, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = Handler(config_for(nfs_server), log_level="ERROR")
    handler(sqs_event(envelope(f"{folder.name}/good.txt", "m-1"), "not an envelope"))
    assert [line["outcome"] for line in lines(capsys.readouterr().out)] == ["failed"]


def test_round_trips_and_network_wait_are_counted_per_message_and_per_environment(
    nfs_server: NfsServer, folder: Path
) -> None:
    handler = Handler(config_for(nfs_server))
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(name)
    handler(sns_event(f"{folder.name}/a.txt", "m-1"))  # mounts, caches the folder
    trips, waited = handler.round_trips, handler.waited_s
    assert trips >= 1 and waited > 0

    suffix = handler.config.suffix
    notes = [from_envelope(envelope(f"{folder.name}/{n}", n), suffix) for n in ("b.txt", "c.txt")]
    usages = [Usage(), Usage()]
    handler.process_all(notes, usages=usages)
    # A batch waits once for all its sidecars: each message took part in every one of its waits.
    assert usages[0].round_trips == usages[1].round_trips == handler.round_trips - trips >= 1
    assert usages[0].round_trips <= sum(u.nfs_calls for u in usages)
    assert handler.waited_s > waited

    handler.disconnect(drain=False)  # a connection given up keeps its count
    assert handler.round_trips == trips + usages[0].round_trips


def test_a_wait_whose_replies_are_in_is_no_round_trip(nfs_server: NfsServer, folder: Path) -> None:
    handler = Handler(config_for(nfs_server))
    (folder / "a.txt").write_text("a")
    handler(sns_event(f"{folder.name}/a.txt", "m-1"))
    client = handler._writer.client  # type: ignore[union-attr]
    root = client.root
    trips, waited = client.round_trips, client.waited_s
    removal = client.remove(root, "never-there")
    client.send_without_waiting(removal, report=False)
    time.sleep(0.2)  # its reply comes in meanwhile, unread
    client.wait(removal)
    assert (client.round_trips, client.waited_s) == (trips, waited)
    client.call(client.lookup(root, folder.name))  # sent by the wait: a round trip
    assert client.round_trips == trips + 1
