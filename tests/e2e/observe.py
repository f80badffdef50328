"""What an operator sees of a deployment: the function's log lines and their metrics, queue
contents, alarm states. Shared by the end-to-end tests.

LocalStack 4.9.2, as measured (and read in its source, localstack/services/{logs,cloudwatch}):
- it does NOT extract Embedded Metric Format documents from log events into metrics (its logs
  provider only applies metric filters); ``put_emf_metrics`` does what CloudWatch Logs does, so
  that the alarms on the function's own metrics can still be shown to work on real data;
- it evaluates simple metric alarms (a Statistic, no metric math, no percentile) on a schedule of
  their period times their evaluation periods, and records each state change in the alarm
  history;
- it publishes AWS/Lambda ``Invocations`` and ``Errors``, and AWS/SQS queue depths
  (``ApproximateNumberOfMessagesVisible``/``NotVisible``/``Delayed``, every
  SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL) and message counts; not Lambda ``Throttles``,
  ``AsyncEventsDropped``, ``DestinationDeliveryFailures``, SQS ``ApproximateAgeOfOldestMessage``
  nor any AWS/SNS metric.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from tests.function import emf


def log_lines(logs: Any, function_name: str) -> list[tuple[str, dict[str, Any]]]:
    """The function's JSON log lines so far: (the line as logged, parsed)."""
    found = []
    paginator = logs.get_paginator("filter_log_events")
    for page in paginator.paginate(logGroupName=f"/aws/lambda/{function_name}"):
        for event in page.get("events", []):
            text = event["message"].strip()
            if text.startswith("{"):
                try:
                    found.append((text, json.loads(text)))
                except ValueError:
                    continue
    return found


def wait_for_lines(
    logs: Any,
    function_name: str,
    message_ids: Iterable[str],
    outcome: str,
    count: int = 1,
    timeout: float = 60,
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """message id -> its log lines with that outcome, once each has ``count`` of them."""
    wanted = set(message_ids)
    deadline = time.monotonic() + timeout
    while True:
        by_id: dict[str, list[tuple[str, dict[str, Any]]]] = {m: [] for m in wanted}
        for raw, line in log_lines(logs, function_name):
            if line.get("message_id") in wanted and line.get("outcome") == outcome:
                by_id[line["message_id"]].append((raw, line))
        if all(len(lines) >= count for lines in by_id.values()):
            return by_id
        if time.monotonic() > deadline:
            short = {m: len(v) for m, v in by_id.items() if len(v) < count}
            raise AssertionError(f"fewer than {count} {outcome!r} lines for {short}")
        time.sleep(0.5)


def queue_depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def wait_for_queue_depth(sqs: Any, queue_url: str, count: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while queue_depth(sqs, queue_url) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} messages in {queue_url} after {timeout} s")
        time.sleep(0.5)


def alarm_name(deployment_outputs: dict[str, Any], key: str) -> str:
    arn = deployment_outputs["alarm_arns"][key]
    return arn.split(":alarm:", 1)[1]


def times_in_state(cloudwatch: Any, name: str, state: str = "ALARM") -> int:
    """How often the alarm went to ``state`` so far (its history)."""
    items = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")
    return sum(
        json.loads(item["HistoryData"])["newState"]["stateValue"] == state
        for item in items["AlarmHistoryItems"]
    )


def wait_for_alarm(
    cloudwatch: Any, name: str, before: int, state: str = "ALARM", timeout: float = 90
) -> float:
    """Waits until the alarm has gone to ``state`` once more than ``before``; returns the wait.

    The history, not the current state: with missing data treated as not breaching, an alarm on a
    queue that was emptied meanwhile may already be back to OK when polled.
    """
    started = time.monotonic()
    while times_in_state(cloudwatch, name, state) <= before:
        if time.monotonic() - started > timeout:
            current = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
            raise AssertionError(f"alarm {name} not {state} after {timeout} s: {current}")
        time.sleep(0.5)
    return time.monotonic() - started


def put_emf_metrics(cloudwatch: Any, raw_lines: Iterable[str]) -> int:
    """What CloudWatch Logs does with EMF documents (LocalStack does not): their metrics, at their
    timestamps, into CloudWatch. Returns how many values were put."""
    data: dict[str, list[dict[str, Any]]] = {}
    for raw in raw_lines:
        for metric in emf.extract(raw):
            data.setdefault(metric.namespace, []).append(
                {
                    "MetricName": metric.name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in metric.dimensions],
                    "Timestamp": metric.timestamp_ms / 1000,
                    "Value": metric.value,
                    **({"Unit": metric.unit} if metric.unit else {}),
                }
            )
    for namespace, values in data.items():
        for start in range(0, len(values), 500):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=values[start : start + 500])
    return sum(len(v) for v in data.values())


def has_data(cloudwatch: Any, namespace: str, metric: str, dimensions: dict[str, str]) -> bool:
    """Whether CloudWatch holds any value of this metric (LocalStack: since it started)."""
    found = cloudwatch.list_metrics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
    )["Metrics"]
    return bool(found)
