"""End to end: SNS -> Lambda (the built zip) -> NFS export, deployed with the Terraform example.

Each test runs against the example applied in both delivery modes (SNS -> Lambda directly, and
SNS -> SQS -> Lambda), except the privileged-port case, which has its own deployment on the export
that refuses non-privileged source ports.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import MAX_RECEIVES, MAX_RETRIES, Deployment
from tests.e2e.stack import Published, publish, sidecar_path, wait_for_sidecar

BURST = 50
PUBLISHERS = 8


def make_file(export_root: Path, rel: str, data: bytes) -> Path:
    path = export_root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    for p in [path, *path.relative_to(export_root).parents]:
        (export_root / p).chmod(0o777 if (export_root / p).is_dir() else 0o666)
    return path


def as_epoch(value: Any) -> float:
    """Sidecar times may be ISO 8601 strings or epoch numbers."""
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def check_sidecar(
    doc: dict[str, Any], path: Path, sent: Published, results: Any, topic: str
) -> None:
    assert doc["filename"].lstrip("/") == sent.filename.lstrip("/")
    assert doc["size"] == path.stat().st_size
    assert doc["results"] == results
    assert abs(as_epoch(doc["modified"]) - path.stat().st_mtime) < 2
    assert "created" in doc
    source = doc["source"]
    assert source["sns_message_id"] == sent.message_id
    assert source["topic_arn"] == topic
    assert abs(as_epoch(source["published"]) - sent.at) < 60


def run_dir(deployment: Deployment) -> str:
    return f"e2e-{deployment.key}-{uuid.uuid4().hex[:6]}"


def receive_all(sqs: Any, queue_url: str, want: int, timeout: float) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < want and time.monotonic() < deadline:
        resp = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        for m in resp.get("Messages", []):
            messages.append(m)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def sns_message_id(failure: dict[str, Any]) -> str | None:
    """The SNS message a failure-queue message is about, in either delivery mode."""
    body = json.loads(failure["Body"])
    if "requestPayload" in body:  # Lambda on-failure destination record
        return body["requestPayload"]["Records"][0]["Sns"]["MessageId"]
    return body.get("MessageId")  # the SNS envelope that went through the work queue


def failure_reason(aws: Any, deployment: Deployment, failure: dict[str, Any]) -> str:
    body = json.loads(failure["Body"])
    if "responsePayload" in body:
        return json.dumps(body["responsePayload"], ensure_ascii=False)
    # SQS mode: a dead-lettered message carries no reason; the function's log lines about it
    # (by SQS message id, which the move to the failure queue keeps) do.
    logs = aws("logs")
    group = f"/aws/lambda/{deployment.function_name}"
    events = logs.filter_log_events(logGroupName=group).get("events", [])
    return "\n".join(e["message"] for e in events if failure["MessageId"] in e["message"])


def test_sidecars_for_several_files(deployment: Deployment, aws: Any) -> None:
    root = deployment.export.local
    base = run_dir(deployment)
    names = [
        f"{base}/run.tar.gz",
        f"{base}/a/b/c/deep.bin",
        f"{base}/données/résultat ✓.csv",
        f"{base}/日本語/ファイル.dat",
        f"{base}/no-extension",
    ]
    sns = aws("sns")
    sent = []
    for i, name in enumerate(names):
        path = make_file(root, name, os.urandom(100 + 37 * i))
        results = {"score": i / 10, "labels": ["ok", "ünïcödé"], "index": i}
        sent.append(
            (
                path,
                results,
                publish(sns, deployment.topic_arn, {"filename": name, "results": results}),
            )
        )
    for path, results, msg in sent:
        side = sidecar_path(root, msg.filename)
        check_sidecar(wait_for_sidecar(side), path, msg, results, deployment.topic_arn)
    # The sidecar of `run.tar.gz` is `run.tar-sidecar.json`, beside it.
    assert (root / base / "run.tar-sidecar.json").exists()


def test_burst_of_messages(deployment: Deployment, aws: Any, timings: dict[str, Any]) -> None:
    root = deployment.export.local
    base = run_dir(deployment)
    files = [make_file(root, f"{base}/burst/{i:03d}.dat", os.urandom(64 + i)) for i in range(BURST)]
    sns = aws("sns")
    # Published as a burst: from several threads at once, as a fan-out upstream job would.
    start = time.monotonic()
    with ThreadPoolExecutor(PUBLISHERS) as pool:
        sent = list(
            pool.map(
                lambda i: publish(
                    sns,
                    deployment.topic_arn,
                    {"filename": f"{base}/burst/{i:03d}.dat", "results": {"i": i}},
                ),
                range(BURST),
            )
        )
    publish_s = time.monotonic() - start
    # Watch all sidecars at once: the first time each one parses is when a reader would see it.
    sides = [sidecar_path(root, msg.filename) for msg in sent]
    seen: dict[int, float] = {}
    deadline = time.monotonic() + 120
    while len(seen) < BURST and time.monotonic() < deadline:
        for i, side in enumerate(sides):
            if i not in seen and side.exists():
                seen[i] = time.time()
        time.sleep(0.01)
    missing = [sent[i].filename for i in range(BURST) if i not in seen]
    assert not missing, f"{len(missing)} of {BURST} sidecars missing after 120 s: {missing[:5]}"
    for i, (path, msg) in enumerate(zip(files, sent, strict=True)):
        check_sidecar(
            wait_for_sidecar(sides[i], timeout=5), path, msg, {"i": i}, deployment.topic_arn
        )
    latencies = sorted(seen[i] - sent[i].at for i in range(BURST))
    # Nothing else appeared: one sidecar per file, no partial or stray files.
    produced = sorted(p.name for p in (root / base / "burst").iterdir() if "sidecar" in p.name)
    assert produced == sorted(f"{i:03d}-sidecar.json" for i in range(BURST))
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, math.ceil(0.99 * len(latencies)) - 1)]
    timings[f"burst_{deployment.mode}"] = {
        "messages": BURST,
        "publish_to_sidecar_p50_s": round(p50, 3),
        "publish_to_sidecar_p99_s": round(p99, 3),
        "max_s": round(latencies[-1], 3),
        "publishing_took_s": round(publish_s, 3),
        "publisher_threads": PUBLISHERS,
    }
    print(f"burst ({deployment.mode}): p50 {p50:.3f} s, p99 {p99:.3f} s")


def test_failures_reach_the_failure_queue(deployment: Deployment, aws: Any) -> None:
    sns = aws("sns")
    base = run_dir(deployment)
    make_file(deployment.export.local, f"{base}/present.dat", b"the folder exists")
    missing = publish(sns, deployment.topic_arn, {"filename": f"{base}/missing.dat", "results": {}})
    malformed = publish(sns, deployment.topic_arn, "this is not JSON {")
    failures = receive_all(aws("sqs"), deployment.failure_queue_url, want=2, timeout=180)
    by_id = {sns_message_id(f): f for f in failures}
    assert missing.message_id in by_id, f"no failure for the missing file in {failures}"
    assert malformed.message_id in by_id, f"no failure for the malformed message in {failures}"

    reason = failure_reason(aws, deployment, by_id[missing.message_id])
    assert "not found" in reason.lower(), reason
    assert f"{base}/missing.dat" in reason, reason
    reason = failure_reason(aws, deployment, by_id[malformed.message_id])
    assert "not json" in reason.lower(), reason
    if deployment.mode == "direct":
        for msg in (missing, malformed):
            record = json.loads(by_id[msg.message_id]["Body"])
            assert record["requestContext"]["condition"] == "RetriesExhausted"
            assert record["requestContext"]["approximateInvokeCount"] == MAX_RETRIES + 1
            assert record["responsePayload"]["errorMessage"]
    else:
        for msg in (missing, malformed):
            received = int(by_id[msg.message_id]["Attributes"]["ApproximateReceiveCount"])
            assert received >= MAX_RECEIVES


def test_export_refusing_insecure_ports(deployments: dict[str, Deployment], aws: Any) -> None:
    deployment = deployments["secure"]
    root = deployment.export.local
    name = f"{run_dir(deployment)}/refused.dat"
    make_file(root, name, b"x" * 10)
    msg = publish(aws("sns"), deployment.topic_arn, {"filename": name, "results": {}})
    failures = receive_all(aws("sqs"), deployment.failure_queue_url, want=1, timeout=120)
    assert [sns_message_id(f) for f in failures] == [msg.message_id]
    reason = failure_reason(aws, deployment, failures[0])
    assert "NFS_ALLOW_INSECURE_PORTS" in reason, reason
    assert not sidecar_path(root, name).exists()


@pytest.mark.parametrize("mode", ["direct", "sqs"])
def test_deployed_with_the_example(mode: str, deployments: dict[str, Deployment], aws: Any) -> None:
    """The example's outputs name what it created, and the function got the NFS settings."""
    d = deployments[mode]
    config = aws("lambda").get_function_configuration(FunctionName=d.function_name)
    env = config["Environment"]["Variables"]
    assert env["NFS_EXPORT"] == d.export.path
    assert config["Handler"] == "lambda_function.lambda_handler"
    assert d.topic_arn.startswith("arn:aws:sns:")
