"""The Lambda entry point: event shapes, failure semantics, logs, cold-start configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nfs_sidecar.errors import FileNotFoundOnExport, InvalidMessage, RecordsFailed, UnsupportedEvent
from tests.function.helpers import FUNCTION_DIR, envelope, handler_for, sns_event, sqs_event
from tests.nfs_server import NfsServer


@pytest.fixture
def folder(nfs_server: NfsServer, request: pytest.FixtureRequest) -> Path:
    path = nfs_server.open.local / request.node.name
    path.mkdir()
    (path / "good.txt").write_text("ok")
    return path


def log_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_sqs_batch_reports_only_the_failed_records(nfs_server: NfsServer, folder: Path) -> None:
    handler = handler_for(nfs_server)
    result = handler(
        sqs_event(
            envelope(f"{folder.name}/good.txt", "m-good"),
            envelope(f"{folder.name}/missing.txt", "m-missing"),
            "not an envelope",
            envelope("../outside", "m-escape"),
        )
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": f"sqs-{i}"} for i in (1, 2, 3)]}
    assert (folder / "good-sidecar.json").exists()


def test_sns_failure_raises_with_its_own_type(nfs_server: NfsServer, folder: Path) -> None:
    handler = handler_for(nfs_server)
    # The type becomes errorType in the failure destination's record.
    with pytest.raises(FileNotFoundOnExport):
        handler(sns_event(f"{folder.name}/missing.txt"))
    with pytest.raises(InvalidMessage):
        handler(sns_event(f"{folder.name}/x", message="[]"))


def test_several_sns_records_fail_together_after_all_were_tried(
    nfs_server: NfsServer, folder: Path
) -> None:
    handler = handler_for(nfs_server)
    event = sns_event(f"{folder.name}/missing.txt", "m-1")
    event["Records"] += sns_event(f"{folder.name}/good.txt", "m-2")["Records"]
    event["Records"] += sns_event("", "m-3")["Records"]
    with pytest.raises(RecordsFailed) as error:
        handler(event)
    assert "FileNotFoundOnExport" in str(error.value)
    assert "InvalidMessage" in str(error.value)
    assert (folder / "good-sidecar.json").exists()


@pytest.mark.parametrize(
    "event",
    [{}, {"Records": []}, {"Records": [{"eventSource": "aws:s3"}]}, [], "text", None],
)
def test_unsupported_events_are_rejected(nfs_server: NfsServer, event: object) -> None:
    with pytest.raises(UnsupportedEvent):
        handler_for(nfs_server)(event)


def test_one_json_log_line_per_message(
    nfs_server: NfsServer, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = handler_for(nfs_server)
    secret = "results-must-not-be-logged"
    handler(sns_event(f"{folder.name}/good.txt", "m-1", results={"token": secret}))
    with pytest.raises(FileNotFoundOnExport):
        handler(sns_event(f"{folder.name}/missing.txt", "m-2", results=secret))
    out = capsys.readouterr().out
    written, failed = log_lines(out)
    assert secret not in out
    assert written["outcome"] == "written"
    assert written["file"] == f"{folder.name}/good.txt"
    assert written["sidecar"] == f"{folder.name}/good-sidecar.json"
    assert written["message_id"] == "m-1"
    assert written["duration_ms"] >= 0
    assert failed["level"] == "ERROR"
    assert failed["outcome"] == "failed"
    assert failed["error_type"] == "FileNotFoundOnExport"
    assert "missing.txt" in failed["error"]


def test_bad_configuration_fails_at_cold_start_with_the_reason() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import lambda_function"],
        cwd=FUNCTION_DIR,
        env={"PATH": os.environ["PATH"], "NFS_SERVER": "10.0.0.1", "NFS_PORT": "99999"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "ConfigError" in proc.stderr
    assert "NFS_EXPORT is required" in proc.stderr
    assert "NFS_PORT='99999'" in proc.stderr
