"""Metrics in the per-message log line: CloudWatch Embedded Metric Format (EMF).

CloudWatch Logs turns the line into metrics as it ingests it: no API call in the function's path,
no cloudwatch:PutMetricData permission, and the metric and the log line about the same message
cannot disagree. Specification:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

Every line carries every count (0 or 1), so a count's average is a rate (e.g. of failures), and
``Failed`` is emitted twice: per function, and per function and error type (``MountError``, ...).
"""

from __future__ import annotations

from typing import Any

FUNCTION_DIMENSION = "FunctionName"
ERROR_DIMENSION = "ErrorType"

# metric name -> unit
UNITS = {
    "SidecarsWritten": "Count",
    "SkippedOlder": "Count",
    "Failed": "Count",
    "Deferred": "Count",  # SQS: not started for want of time, returned to the queue
    "Duration": "Milliseconds",
    "NfsCalls": "Count",  # NFS calls the message cost (a mount's own calls not included)
    "Reconnects": "Count",  # mounts made afresh after a dropped connection
}
COUNTS = ("SidecarsWritten", "SkippedOlder", "Failed", "Deferred")
# outcome in the log line -> the count it adds to
OUTCOME_COUNT = {
    "written": "SidecarsWritten",
    "skipped_older": "SkippedOlder",
    "failed": "Failed",
    "deferred": "Deferred",
}


def embed(
    fields: dict[str, Any],
    *,
    namespace: str,
    function_name: str,
    outcome: str,
    timestamp_ms: int,
    error_type: str | None = None,
    **measured: float,
) -> dict[str, Any]:
    """The log line's fields with the EMF metadata and metric values added.

    ``measured`` holds the other metrics of ``UNITS`` (Duration, NfsCalls, Reconnects); those not
    given are left out of the document.
    """
    unknown = set(measured) - set(UNITS)
    if unknown:
        raise ValueError(f"not metrics of this function: {sorted(unknown)}")
    values: dict[str, float] = {name: int(OUTCOME_COUNT[outcome] == name) for name in COUNTS}
    values.update(measured)
    directives = [
        {
            "Namespace": namespace,
            "Dimensions": [[FUNCTION_DIMENSION]],
            "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in values],
        }
    ]
    dimensions = {FUNCTION_DIMENSION: function_name}
    if error_type is not None:
        directives.append(
            {
                "Namespace": namespace,
                "Dimensions": [[FUNCTION_DIMENSION, ERROR_DIMENSION]],
                "Metrics": [{"Name": "Failed", "Unit": UNITS["Failed"]}],
            }
        )
        dimensions[ERROR_DIMENSION] = error_type
    clash = (set(values) | set(dimensions) | {"_aws"}) & set(fields)
    if clash:
        raise ValueError(f"log fields would shadow metric members: {sorted(clash)}")
    return {
        **fields,
        **dimensions,
        **values,
        "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": directives},
    }
