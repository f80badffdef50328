"""The Lambda handler: events in, sidecars out, every failure accounted for.

SNS invokes the function asynchronously: a failed record makes the invocation raise, so Lambda's
retries and then the on-failure destination keep the notification with the reason.
SQS (a queue between topic and function) gets ``batchItemFailures``: the queue redelivers those
records and moves them to its dead-letter queue after ``maxReceiveCount``. A record is started
only while the invocation has the time to finish it; the others go back to the queue unstarted.

Each message logs one JSON line with its outcome, which also carries its metrics (see metrics.py).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import metrics
from .config import LOG_LEVELS, Config
from .message import InvalidMessage, Notification, from_envelope, from_sqs_body
from .nfs3_xdr import BADHANDLE, STALE
from .nfs_client import NfsClient
from .nfs_errors import MountError, NfsConnectionError, NfsStatusError
from .retry import Budget, backoff, reconnecting_may_help, retryable
from .sidecar import Orphan, Outcome, SidecarWriter

MAX_LOCK_WAIT_S = 10.0
# What a record needs besides its NFS steps: parsing, logging, answering.
RECORD_OVERHEAD_S = 0.2
DEFAULT_FUNCTION_NAME = "nfs-sidecar"


class UnsupportedEvent(ValueError):
    """The event is neither SNS nor SQS."""


class RecordsFailed(Exception):
    """Several records of one invocation failed (the message lists each)."""


@dataclass
class Usage:
    """What one message cost, for its metrics."""

    nfs_calls: int = 0
    reconnects: int = 0


def rfc3339_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Handler:
    """One per execution environment: holds the mount across warm invocations."""

    def __init__(
        self,
        config: Config,
        function_name: str | None = None,
        log_level: str | None = None,
    ) -> None:
        self.config = config
        self.function_name = function_name or DEFAULT_FUNCTION_NAME
        # Lambda filters by application_log_level too; this keeps emulators and tests alike.
        level = (log_level or "INFO").upper()
        self.min_level = LOG_LEVELS.index(level) if level in LOG_LEVELS else 0
        # The longest a record can take when the connection breaks under it: one NFS step runs
        # into the timeout, then the mount afresh may take as long again.
        self.record_reserve_s = 2 * config.timeout_ms / 1000 + RECORD_OVERHEAD_S
        self._writer: SidecarWriter | None = None
        self._dropped = False  # a connection was dropped: the next mount is a reconnect
        self._orphans: list[Orphan] = []  # kept across connections: see SidecarWriter
        self.reconnects = 0

    def log(self, level: str, **fields: Any) -> None:
        """One JSON object per line, with the level and timestamp Lambda's JSON logging reads."""
        if LOG_LEVELS.index(level) < self.min_level:
            return
        line = {"timestamp": rfc3339_now(), "level": level, **fields}
        print(json.dumps(line, ensure_ascii=False, default=str), file=sys.stdout, flush=True)

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any] | None:
        records = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(records, list) or not records:
            raise UnsupportedEvent("event has no Records: expected an SNS or SQS event")
        sources = {
            record.get("EventSource") or record.get("eventSource")
            for record in records
            if isinstance(record, dict)
        }
        if sources == {"aws:sns"}:
            return self._sns(records, context)
        if sources == {"aws:sqs"}:
            return self._sqs(records, context)
        raise UnsupportedEvent(f"unsupported event sources {sorted(map(str, sources))}")

    def _sns(self, records: list[dict[str, Any]], context: Any) -> None:
        failures: list[BaseException] = []
        for record in records:
            error = self._handle(from_envelope, record.get("Sns"), context)
            if error is not None:
                failures.append(error)
        if len(failures) == 1 and len(records) == 1:
            raise failures[0]  # keeps its type: errorType in the failure destination
        if failures:
            raise RecordsFailed("; ".join(f"{type(e).__name__}: {e}" for e in failures))

    def _sqs(self, records: list[dict[str, Any]], context: Any) -> dict[str, Any]:
        failed = []
        deadline = _deadline(context)
        slowest_s = 0.0
        for index, record in enumerate(records):
            sqs_id = record.get("messageId")
            # The first record is always started: a function whose timeout is too short for the
            # reserve must still make progress. After that, a record starts only if the time
            # left covers the worst case (or the slowest record so far, on a slow cluster);
            # otherwise it returns to the queue unstarted instead of the invocation timing out
            # mid-batch, which would fail the records already written too.
            needed_s = max(self.record_reserve_s, slowest_s)
            if index and deadline is not None and deadline - time.monotonic() < needed_s:
                self._defer(record.get("body"), needed_s, deadline, sqs_message_id=sqs_id)
                failed.append({"itemIdentifier": sqs_id})
                continue
            started = time.monotonic()
            error = self._handle(from_sqs_body, record.get("body"), context, sqs_message_id=sqs_id)
            slowest_s = max(slowest_s, time.monotonic() - started + RECORD_OVERHEAD_S)
            if error is not None:
                failed.append({"itemIdentifier": sqs_id})
        return {"batchItemFailures": failed}

    def _defer(self, body: Any, needed_s: float, deadline: float, **log_fields: Any) -> None:
        fields: dict[str, Any] = {}
        try:  # name the message in the log when it parses (no NFS involved)
            note = from_sqs_body(body, self.config.suffix)
            fields = {"file": note.filename, "message_id": note.message_id}
        except InvalidMessage:
            pass
        self._log_outcome(
            "WARN",
            "deferred",
            reason=f"{max(0.0, deadline - time.monotonic()):.1f} s left,"
            f" a record may need {needed_s:.1f} s",
            **fields,
            **log_fields,
        )

    def _handle(
        self,
        parse: Callable[[Any, str], Notification],
        raw: Any,
        context: Any,
        **log_fields: Any,
    ) -> BaseException | None:
        """Parses and processes one record; logs one line; returns its error, if any."""
        started = time.monotonic()
        note: Notification | None = None
        usage = Usage()
        try:
            note = parse(raw, self.config.suffix)
            budget = Budget.for_invocation(context)
            outcome = self.process(note, self._lock_wait(context), usage, budget)
        except Exception as exc:
            self._log_outcome(
                "ERROR",
                "failed",
                error_type=type(exc).__name__,
                error=str(exc),
                retryable=retryable(exc),
                **self._fields(note, started),
                **log_fields,
                usage=usage,
            )
            return exc
        self._log_outcome(
            "INFO",
            "written" if outcome.written else "skipped_older",
            sidecar=outcome.sidecar,
            via=outcome.via,  # "link", "lock+rename", or None when a newer one was kept
            **self._fields(note, started),
            **log_fields,
            usage=usage,
        )
        return None

    def _log_outcome(
        self,
        level: str,
        outcome: str,
        *,
        usage: Usage | None = None,
        error_type: str | None = None,
        **fields: Any,
    ) -> None:
        measured: dict[str, float] = {}
        if usage is not None:
            measured = {
                "Duration": fields["duration_ms"],
                "NfsCalls": usage.nfs_calls,
                "Reconnects": usage.reconnects,
            }
        if error_type is not None:
            fields["error_type"] = error_type
        document = metrics.embed(
            {"outcome": outcome, **fields},
            namespace=self.config.metrics_namespace,
            function_name=self.function_name,
            outcome=outcome,
            timestamp_ms=int(time.time() * 1000),
            error_type=error_type,
            **measured,
        )
        self.log(level, **document)

    @staticmethod
    def _fields(note: Notification | None, started: float) -> dict[str, Any]:
        fields: dict[str, Any] = {"duration_ms": round((time.monotonic() - started) * 1000, 2)}
        if note is not None:
            fields.update(
                file=note.filename, message_id=note.message_id, published=note.published.isoformat()
            )
        return fields

    def _lock_wait(self, context: Any) -> float:
        remaining_ms = getattr(context, "get_remaining_time_in_millis", lambda: 30_000)()
        return max(0.5, min(MAX_LOCK_WAIT_S, remaining_ms / 1000 / 2))

    def process(
        self,
        note: Notification,
        lock_wait_s: float = MAX_LOCK_WAIT_S,
        usage: Usage | None = None,
        budget: Budget | None = None,
    ) -> Outcome:
        """Writes one sidecar. A broken or failed connection (a server restarting, failing over,
        timing out) is tried again on a new one, with backoff, while the budget leaves time for
        an attempt; a stale handle is looked up afresh once."""
        usage = usage if usage is not None else Usage()
        budget = budget or Budget.for_invocation(None)
        attempt_s = min(self.config.timeout_ms / 1000, 1.0)  # at least a connect and a call
        reconnects, stale_retried = 0, False
        while True:
            writer: SidecarWriter | None = None
            calls_before = 0
            try:
                writer = self.writer(usage, budget)
                writer.client.deadline = budget.deadline
                calls_before = writer.client.rpc_count
                for error in writer.client.take_unwaited_errors():
                    self.log("WARN", outcome="cleanup_failed", error=str(error))
                return writer.write(note, lock_wait_s)
            except (NfsConnectionError, MountError) as exc:
                self.disconnect()
                delay = backoff(reconnects)
                if not reconnecting_may_help(exc) or not budget.allows(delay, attempt_s):
                    raise
                time.sleep(delay)
                reconnects += 1
                self.reconnects += 1
            except NfsStatusError as exc:
                if exc.status not in (STALE, BADHANDLE) or stale_retried:
                    raise
                stale_retried = True
                assert writer is not None  # statuses come from writing, after the mount
                writer.folders.forget("")
            finally:
                if writer is not None:
                    usage.nfs_calls += writer.client.rpc_count - calls_before

    def writer(self, usage: Usage | None = None, budget: Budget | None = None) -> SidecarWriter:
        if self._writer is None:
            if self._dropped and usage is not None:
                usage.reconnects += 1
            c = self.config
            client = NfsClient(
                c.server,
                c.export,
                nfs_port=c.nfs_port,
                mount_port=c.mount_port,
                uid=c.uid,
                gid=c.gid,
                timeout_ms=c.timeout_ms,
                deadline=budget.deadline if budget else None,
            )
            self._writer = SidecarWriter(client, c.suffix, c.lock_stale_seconds, self._orphans)
            self._dropped = False
        return self._writer

    def disconnect(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abandon()
            writer.client.close()
            self._dropped = True


def _deadline(context: Any) -> float | None:
    """When the invocation times out, on the monotonic clock (None: no Lambda context)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return None if remaining is None else time.monotonic() + remaining() / 1000
