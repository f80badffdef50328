"""The redrive tool against the deployed example: failed notifications, published again once the
cause is fixed, write their sidecars - and never replace a sidecar written for a newer one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from typing import Any

from tests.e2e import observe
from tests.e2e.conftest import Deployment
from tests.e2e.stack import REGION, publish, sidecar_path, wait_for_sidecar
from tests.e2e.terraform import REPO
from tests.e2e.test_e2e import make_file


def wait_for_log(aws: Any, deployment: Deployment, *needles: str, timeout: float = 60) -> str:
    """The function's log line that contains every needle."""
    group = f"/aws/lambda/{deployment.function_name}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in aws("logs").filter_log_events(logGroupName=group).get("events", []):
            if all(needle in event["message"] for needle in needles):
                return event["message"]
        time.sleep(0.5)
    raise AssertionError(f"no log line with {needles} in {group} after {timeout} s")


def redrive(deployment: Deployment, endpoint: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "redrive.py"),
            "--queue-url",
            deployment.failure_queue_url,
            "--topic-arn",
            deployment.topic_arn,
            "--endpoint-url",
            endpoint,
        ],
        env={
            **os.environ,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": REGION,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_redrive_after_the_cause_is_fixed(
    deployments: dict[str, Deployment], aws: Any, localstack: Any
) -> None:
    deployment = deployments["direct"]
    root, sns, sqs = deployment.export.local, aws("sns"), aws("sqs")
    base = f"e2e-redrive-{uuid.uuid4().hex[:6]}"
    make_file(root, f"{base}/.keep", b"")
    late, raced = f"{base}/late.dat", f"{base}/raced.dat"

    # Both fail: their files do not exist yet.
    first = publish(sns, deployment.topic_arn, {"filename": late, "results": "from the redrive"})
    old = publish(sns, deployment.topic_arn, {"filename": raced, "results": "old"})
    observe.wait_for_queue_depth(sqs, deployment.failure_queue_url, 2, timeout=120)

    # The cause is fixed; meanwhile a newer notification for one of them went through.
    make_file(root, late, b"late data")
    make_file(root, raced, b"raced data")
    newer = publish(sns, deployment.topic_arn, {"filename": raced, "results": "newer"})
    assert wait_for_sidecar(sidecar_path(root, raced))["results"] == "newer"

    proc = redrive(deployment, localstack.endpoint)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "published 2 notification(s)" in proc.stdout
    assert "FileNotFoundOnExport" in proc.stdout  # the reason of each is shown

    doc = wait_for_sidecar(sidecar_path(root, late))
    assert doc["results"] == "from the redrive"
    assert doc["source"]["sns_message_id"] == first.message_id  # its original identity
    # The redriven old notification was handled, in order: it left the newer sidecar alone.
    wait_for_log(aws, deployment, '"outcome": "skipped_older"', old.message_id)
    doc = wait_for_sidecar(sidecar_path(root, raced))
    assert (doc["results"], doc["source"]["sns_message_id"]) == ("newer", newer.message_id)
    assert old.message_id != newer.message_id
    attributes = sqs.get_queue_attributes(
        QueueUrl=deployment.failure_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
