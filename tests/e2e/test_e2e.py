"""End to end: SNS -> Lambda (the built zip) -> NFS export, deployed with the Terraform example.

Each test runs against the example applied in both delivery modes (SNS -> Lambda directly, and
SNS -> SQS -> Lambda), except the privileged-port case, which has its own deployment on the export
that refuses non-privileged source ports (the last tests here use it up: they delete its function).
What LocalStack shows of metrics and alarms, and what it cannot, is in tests/e2e/observe.py.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import observe
from tests.e2e.conftest import MAX_RECEIVES, MAX_RETRIES, Deployment
from tests.e2e.stack import Published, publish, sidecar_path, wait_for_sidecar
from tests.e2e.terraform import REPO
from tests.function import emf

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

    # Each message logged one line, which is also its metrics (Embedded Metric Format).
    lines = observe.wait_for_lines(
        aws("logs"), deployment.function_name, [m.message_id for _, _, m in sent], "written"
    )
    namespace = deployment.outputs["metrics_namespace"]
    for _, _, msg in sent:
        [(raw, line)] = lines[msg.message_id]
        assert line["level"] == "INFO" and line["timestamp"].endswith("Z"), line
        metrics = emf.extract(raw)
        assert {(m.namespace, m.dimensions) for m in metrics} == {
            (namespace, (("FunctionName", deployment.function_name),))
        }
        values = emf.by_name(metrics, ("FunctionName",))
        assert (values["SidecarsWritten"], values["Failed"], values["SkippedOlder"]) == (1, 0, 0)
        # A healthy connection is kept across the gaps between invocations, whatever their
        # length (tests/function/test_connection.py).
        assert values["Reconnects"] == 0, values
        assert values["Duration"] == line["duration_ms"] > 0
        # 5 NFS calls for a new sidecar, plus one LOOKUP per folder not yet cached and, for the
        # first write into a folder, the sweep's READDIRPLUS page (sweep.py), and the NULL an
        # idle connection's first call takes along (nfs/engine.py).
        folders = len(Path(msg.filename).parts) - 1
        assert 5 <= values["NfsCalls"] <= 5 + folders + 1 + 1, (msg.filename, values)
    # LocalStack does not turn these documents into metrics (CloudWatch Logs does on AWS).
    extracted = observe.has_data(
        aws("cloudwatch"), namespace, "SidecarsWritten", {"FunctionName": deployment.function_name}
    )
    assert not extracted, "LocalStack now extracts EMF: assert the values from CloudWatch here"


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
    # Nothing else appeared: one sidecar per file, no partial or stray files. A temp name goes
    # with a REMOVE the function sends without waiting for its reply: give it a moment.
    burst_dir = root / base / "burst"
    deadline = time.monotonic() + 30
    while True:
        produced = sorted(p.name for p in burst_dir.iterdir() if "sidecar" in p.name)
        if not any(n.endswith(".tmp") for n in produced) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
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


def test_failures_reach_the_failure_queue(
    deployment: Deployment, aws: Any, timings: dict[str, Any]
) -> None:
    sns, sqs, cloudwatch = aws("sns"), aws("sqs"), aws("cloudwatch")
    base = run_dir(deployment)
    make_file(deployment.export.local, f"{base}/present.dat", b"the folder exists")
    # The alarms that these failures must raise (LocalStack publishes their metrics).
    alarms = ["failure-queue-not-empty"] + (
        ["function-errors"] if deployment.mode == "direct" else []
    )
    names = {key: observe.alarm_name(deployment.outputs, key) for key in alarms}
    before = {key: observe.times_in_state(cloudwatch, name) for key, name in names.items()}
    missing = publish(sns, deployment.topic_arn, {"filename": f"{base}/missing.dat", "results": {}})
    malformed = publish(sns, deployment.topic_arn, "this is not JSON {")
    observe.wait_for_queue_depth(sqs, deployment.failure_queue_url, 2)
    for key, name in names.items():
        waited = observe.wait_for_alarm(cloudwatch, name, before[key])
        timings[f"alarm_{key}_{deployment.mode}_s"] = round(waited, 1)
    failures = receive_all(sqs, deployment.failure_queue_url, want=2, timeout=180)
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

    # Every try logged a failed line whose metrics count it under its error type.
    tries = MAX_RETRIES + 1 if deployment.mode == "direct" else MAX_RECEIVES
    lines = observe.wait_for_lines(
        aws("logs"), deployment.function_name, [missing.message_id], "failed", count=tries
    )
    for raw, line in lines[missing.message_id]:
        assert line["level"] == "ERROR" and line["error_type"] == "FileNotFoundOnExport"
        metrics = emf.extract(raw)
        assert emf.by_name(metrics, ("FunctionName",))["Failed"] == 1
        assert emf.by_name(metrics, ("FunctionName", "ErrorType")) == {"Failed": 1}
        assert ("ErrorType", "FileNotFoundOnExport") in metrics[-1].dimensions


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


def test_a_burst_of_one_error_type_raises_its_alarm(
    deployments: dict[str, Deployment], aws: Any, timings: dict[str, Any]
) -> None:
    """The module's alarm on the function's own metric (Failed by ErrorType) fires on what the
    function logs. LocalStack does not extract EMF, so the test does CloudWatch Logs' part."""
    deployment = deployments["secure"]
    cloudwatch = aws("cloudwatch")
    name = observe.alarm_name(deployment.outputs, "burst-MountError")
    before = observe.times_in_state(cloudwatch, name)
    base = run_dir(deployment)
    sent = []
    for i in range(2):
        make_file(deployment.export.local, f"{base}/b{i}.dat", b"x")
        message = {"filename": f"{base}/b{i}.dat", "results": {}}
        sent.append(publish(aws("sns"), deployment.topic_arn, message))
    # Every try: the lines span a few seconds, so any one alarm period holds two of them.
    lines = observe.wait_for_lines(
        aws("logs"),
        deployment.function_name,
        [m.message_id for m in sent],
        "failed",
        count=MAX_RETRIES + 1,
    )
    mount_errors = [raw for found in lines.values() for raw, _ in found]
    assert {json.loads(raw)["error_type"] for raw in mount_errors} == {"MountError"}
    assert observe.put_emf_metrics(cloudwatch, mount_errors) > 0
    timings["alarm_burst-MountError_s"] = round(observe.wait_for_alarm(cloudwatch, name, before), 1)
    # Their failure records, out of the way of the next test.
    failures = receive_all(aws("sqs"), deployment.failure_queue_url, want=2, timeout=60)
    assert {sns_message_id(f) for f in failures} == {m.message_id for m in sent}


def test_undeliverable_notification_reaches_the_subscription_dead_letter_queue(
    deployments: dict[str, Deployment], aws: Any, localstack: Any
) -> None:
    """SNS cannot invoke the function (here: it is gone, as during a replacement): the
    notification lands in the failure queue with SNS's reason, and the redrive tool reads it.
    Uses up the `secure` deployment: keep it after the tests that need its function."""
    deployment = deployments["secure"]
    sqs = aws("sqs")
    receive_all(sqs, deployment.failure_queue_url, want=100, timeout=2)  # start empty
    aws("lambda").delete_function(FunctionName=deployment.function_name)
    msg = publish(aws("sns"), deployment.topic_arn, {"filename": "any.dat", "results": {}})
    observe.wait_for_queue_depth(sqs, deployment.failure_queue_url, 1, timeout=60)
    [dead] = sqs.receive_message(
        QueueUrl=deployment.failure_queue_url,
        VisibilityTimeout=0,  # stays for the redrive tool below
        WaitTimeSeconds=1,
    )["Messages"]
    # The notification as SNS would have delivered it (no reason: it never reached the function).
    envelope = json.loads(dead["Body"])
    assert (envelope["Type"], envelope["MessageId"]) == ("Notification", msg.message_id)
    assert envelope["TopicArn"] == deployment.topic_arn
    assert json.loads(envelope["Message"]) == {"filename": "any.dat", "results": {}}

    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "redrive.py"),
            "--dry-run",
            "--queue-url",
            deployment.failure_queue_url,
            "--topic-arn",
            deployment.topic_arn,
            "--endpoint-url",
            localstack.endpoint,
        ],
        env={
            **os.environ,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"would publish {msg.message_id}" in proc.stdout
    assert "not delivered by SNS" in proc.stdout


@pytest.mark.parametrize("mode", ["direct", "sqs"])
def test_deployed_with_the_example(mode: str, deployments: dict[str, Deployment], aws: Any) -> None:
    """The example's outputs name what it created, and the function got the NFS settings."""
    d = deployments[mode]
    config = aws("lambda").get_function_configuration(FunctionName=d.function_name)
    env = config["Environment"]["Variables"]
    assert env["NFS_EXPORT"] == d.export.path
    assert env["METRICS_NAMESPACE"] == d.outputs["metrics_namespace"]
    assert config["Handler"] == "lambda_function.lambda_handler"
    assert config["LoggingConfig"]["SystemLogLevel"] == "INFO"  # START/REPORT lines kept
    assert d.topic_arn.startswith("arn:aws:sns:")
    # The subscription dead-letters to the failure queue.
    attributes = aws("sns").get_subscription_attributes(
        SubscriptionArn=d.outputs["subscription_arn"]
    )["Attributes"]
    failure_queue_arn = d.outputs["failure_queue_arn"]
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": failure_queue_arn}
    # The alarms and the dashboard exist as the outputs say.
    alarm_arns = d.outputs["alarm_arns"]
    alarms = aws("cloudwatch").describe_alarms(
        AlarmNames=[observe.alarm_name(d.outputs, key) for key in alarm_arns]
    )["MetricAlarms"]
    assert sorted(a["AlarmArn"] for a in alarms) == sorted(alarm_arns.values())
    assert ("delivery-queue-oldest-message" in alarm_arns) == (mode == "sqs")
    assert ("async-events-dropped" in alarm_arns) == (mode == "direct")
    dashboard = aws("cloudwatch").get_dashboard(DashboardName=d.outputs["dashboard_name"])
    titles = [w["properties"]["title"] for w in json.loads(dashboard["DashboardBody"])["widgets"]]
    assert "Failures by error type" in titles and "Alarms" in titles


# Alarm key -> why LocalStack 4.9.2 cannot raise it (it publishes no data for its metric).
NOT_IN_LOCALSTACK = {
    "delivery-queue-oldest-message": "no AWS/SQS ApproximateAgeOfOldestMessage",
    "function-throttles": "no AWS/Lambda Throttles",
    "async-events-dropped": "no AWS/Lambda AsyncEventsDropped",
    "destination-delivery-failures": "no AWS/Lambda DestinationDeliveryFailures",
    "sns-notifications-failed": "no AWS/SNS metrics",
    "sns-dead-letter-failed": "no AWS/SNS metrics",
}


def test_what_localstack_showed_of_the_alarms(
    deployments: dict[str, Deployment], aws: Any, timings: dict[str, Any]
) -> None:
    """After the tests above: which alarms went to ALARM, and that the others could not, because
    LocalStack holds no data for their metrics (recorded in .tmp/e2e-timings.json)."""
    cloudwatch = aws("cloudwatch")
    seen: dict[str, dict[str, str]] = {}
    for key, d in deployments.items():
        described = cloudwatch.describe_alarms(
            AlarmNames=[observe.alarm_name(d.outputs, k) for k in d.outputs["alarm_arns"]]
        )["MetricAlarms"]
        seen[key] = {}
        for alarm in described:
            short = alarm["AlarmName"].removeprefix(f"e2e-{key}-")
            dimensions = {x["Name"]: x["Value"] for x in alarm["Dimensions"]}
            has_data = observe.has_data(
                cloudwatch, alarm["Namespace"], alarm["MetricName"], dimensions
            )
            fired = observe.times_in_state(cloudwatch, alarm["AlarmName"]) > 0
            seen[key][short] = (
                "went to ALARM"
                if fired
                else ("metric has data, not breached" if has_data else "no data in LocalStack")
            )
            if short in NOT_IN_LOCALSTACK:
                assert not has_data, f"LocalStack now publishes {alarm['MetricName']}: test {short}"
    timings["alarms"] = {key: dict(sorted(found.items())) for key, found in seen.items()}
    assert seen["direct"]["failure-queue-not-empty"] == "went to ALARM"
    assert seen["direct"]["function-errors"] == "went to ALARM"
    assert seen["sqs"]["failure-queue-not-empty"] == "went to ALARM"
    assert seen["secure"]["burst-MountError"] == "went to ALARM"
