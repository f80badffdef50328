"""A record whose own content is invalid fails alone, before any call to the server: its
batch-mates, an older record for the same file included, are written as if it were not there."""

from __future__ import annotations

import json

import pytest

from tests.function.helpers import FakeContext, envelope, handler_for, leftovers, sqs_event
from tests.nfs_server import NfsServer


def logged(capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]
    # By the SQS record: a record that cannot be parsed has no SNS message id to log.
    return {line["sqs_message_id"]: line for line in lines if "sqs_message_id" in line}


def bad_message(filename: str, results_json: str) -> str:
    # Written by hand: json.dumps would refuse some of these (NaN) or escape them differently.
    return f'{{"filename": {json.dumps(filename)}, "results": {results_json}}}'


@pytest.mark.parametrize(
    ("results_json", "limit"),
    [
        ('"\\ud800"', "lone surrogate"),  # found in issue 17: UnicodeEncodeError, both failed
        ("NaN", "NaN"),
        ("1e400", "finite"),
        ("1" * 5000, "digits"),
        ("[" * 100 + "]" * 100, "deeper than 64"),
    ],
    ids=["surrogate", "nan", "overflowing-float", "huge-integer", "too-deep"],
)
def test_an_invalid_newer_record_fails_alone_and_the_older_one_is_written(
    nfs_server: NfsServer,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    results_json: str,
    limit: str,
) -> None:
    folder = nfs_server.open.local / request.node.name.replace("[", "-").rstrip("]")
    folder.mkdir()
    (folder / "f.bin").write_bytes(b"data")
    (folder / "warm.bin").write_bytes(b"")
    path = f"{folder.name}/f.bin"
    handler = handler_for(nfs_server)
    # Mounted, the folder's handle cached: what follows costs only the batch's own calls.
    handler(sqs_event(envelope(f"{folder.name}/warm.bin", "m-warm")), FakeContext(30))
    client = handler._writer.client  # type: ignore[union-attr]
    calls_before = client.rpc_count
    capsys.readouterr()

    older = envelope(path, "m-old", "2026-11-24T10:00:00.000Z", results={"status": "ok"})
    newer = envelope(
        path, "m-bad", "2026-11-24T10:00:05.000Z", message=bad_message(path, results_json)
    )
    answer = handler(sqs_event(older, newer), FakeContext(30))

    assert answer == {"batchItemFailures": [{"itemIdentifier": "sqs-1"}]}
    lines = logged(capsys)
    assert lines["sqs-0"]["outcome"] == "written"
    bad = lines["sqs-1"]
    assert (bad["outcome"], bad["error_type"], bad["retryable"]) == (
        "failed",
        "InvalidMessage",
        False,
    )
    assert limit in bad["error"]
    # Every call the batch made was the valid record's: none reached the server for the bad one.
    assert bad["NfsCalls"] == 0
    assert client.rpc_count - calls_before == lines["sqs-0"]["NfsCalls"] > 0
    document = json.loads((folder / "f-sidecar.json").read_text())
    assert document["source"]["sns_message_id"] == "m-old"
    assert document["results"] == {"status": "ok"}
    assert leftovers(folder) == []
