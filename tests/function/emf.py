"""A checker of CloudWatch Embedded Metric Format documents, written from the specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
and CloudWatch's PutMetricData limits. Standard library only: the function tests run it under
every Lambda Python, and the end-to-end tests read the deployed function's log lines with it.

``extract`` returns the metrics CloudWatch would extract from a log line, or raises
``InvalidEmf`` naming the rule the line breaks.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any

_SIZES = ["Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes"]
_BITS = ["Bits", "Kilobits", "Megabits", "Gigabits", "Terabits"]
UNITS = {
    *["Seconds", "Microseconds", "Milliseconds", *_SIZES, *_BITS, "Percent", "Count", "None"],
    *(f"{unit}/Second" for unit in [*_SIZES, *_BITS, "Count"]),
}
MAX_EVENT_BYTES = 256 * 1024
MAX_DIMENSIONS = 30
MAX_METRICS = 100
MAX_VALUES = 100
NAMESPACE = re.compile(r"^[A-Za-z0-9.\-_/#: ]{1,255}$")
TWO_WEEKS_MS = 14 * 24 * 3600 * 1000
TWO_HOURS_MS = 2 * 3600 * 1000


class InvalidEmf(ValueError):
    pass


@dataclass(frozen=True)
class Metric:
    namespace: str
    dimensions: tuple[tuple[str, str], ...]  # (name, value), in the dimension set's order
    name: str
    value: float
    unit: str | None
    timestamp_ms: int


def _check(condition: bool, rule: str) -> None:
    if not condition:
        raise InvalidEmf(rule)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def extract(line: str, now_ms: int | None = None) -> list[Metric]:
    """The metrics in one log event's message (a JSON object and nothing else)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    _check(len(line.encode()) <= MAX_EVENT_BYTES, "the event is larger than 256 KiB")
    try:
        root = json.loads(line)
    except ValueError as exc:
        raise InvalidEmf(f"the event is not one JSON value: {exc}") from None
    _check(isinstance(root, dict), "the root node must be a JSON object")
    meta = root.get("_aws")
    _check(isinstance(meta, dict), "_aws must be an object")
    timestamp = meta.get("Timestamp")
    _check(isinstance(timestamp, int) and not isinstance(timestamp, bool), "Timestamp: integer ms")
    _check(
        now_ms - TWO_WEEKS_MS <= timestamp <= now_ms + TWO_HOURS_MS,
        "Timestamp must lie within the past two weeks and the next two hours",
    )
    directives = meta.get("CloudWatchMetrics")
    _check(isinstance(directives, list) and directives, "CloudWatchMetrics: non-empty array")
    found: list[Metric] = []
    for directive in directives:
        _check(isinstance(directive, dict), "a MetricDirective must be an object")
        _check(
            set(directive) == {"Namespace", "Dimensions", "Metrics"},
            f"a MetricDirective has exactly Namespace, Dimensions, Metrics: {sorted(directive)}",
        )
        namespace = directive["Namespace"]
        _check(
            isinstance(namespace, str) and bool(NAMESPACE.match(namespace)),
            f"Namespace {namespace!r}: 1-255 of letters, digits and '.-_/#: '",
        )
        _check(not namespace.startswith("AWS/"), "Namespace: AWS/ is reserved")
        dimension_sets = directive["Dimensions"]
        _check(isinstance(dimension_sets, list), "Dimensions must be an array of arrays")
        definitions = directive["Metrics"]
        _check(
            isinstance(definitions, list) and 0 < len(definitions) <= MAX_METRICS,
            f"Metrics: 1-{MAX_METRICS} MetricDefinitions",
        )
        names = [d.get("Name") if isinstance(d, dict) else None for d in definitions]
        _check(len(set(names)) == len(names), "a metric is defined twice in one directive")
        for dimension_set in dimension_sets:
            _check(
                isinstance(dimension_set, list) and len(dimension_set) <= MAX_DIMENSIONS,
                f"a DimensionSet is an array of at most {MAX_DIMENSIONS} names",
            )
            _check(len(set(dimension_set)) == len(dimension_set), "a dimension twice in a set")
            dimensions = []
            for key in dimension_set:
                _check(isinstance(key, str) and 0 < len(key) <= 255, f"dimension name {key!r}")
                value = root.get(key)
                _check(isinstance(value, str), f"dimension {key!r}: the root member is a string")
                _check(
                    0 < len(value) <= 1024 and value.strip() != "",
                    f"dimension {key!r}: 1-1024 characters, not only whitespace",
                )
                _check(key not in names, f"{key!r} is both a dimension and a metric")
                dimensions.append((key, value))
            for definition in definitions:
                _check(isinstance(definition, dict), "a MetricDefinition must be an object")
                _check(
                    set(definition) <= {"Name", "Unit", "StorageResolution"},
                    f"MetricDefinition members: {sorted(definition)}",
                )
                name, unit = definition.get("Name"), definition.get("Unit")
                _check(isinstance(name, str) and 0 < len(name) <= 255, f"metric name {name!r}")
                _check(unit is None or unit in UNITS, f"metric {name!r}: unit {unit!r}")
                _check(
                    definition.get("StorageResolution", 60) in (1, 60),
                    f"metric {name!r}: StorageResolution is 1 or 60",
                )
                value = root.get(name)
                values = value if isinstance(value, list) else [value]
                _check(
                    0 < len(values) <= MAX_VALUES and all(_number(v) for v in values),
                    f"metric {name!r}: the root member is a number or up to 100 numbers",
                )
                found.extend(
                    Metric(namespace, tuple(dimensions), name, float(v), unit, timestamp)
                    for v in values
                )
    return found


def by_name(found: list[Metric], dimension_names: tuple[str, ...]) -> dict[str, float]:
    """name -> value, of the metrics with exactly these dimension names."""
    return {m.name: m.value for m in found if tuple(k for k, _ in m.dimensions) == dimension_names}
