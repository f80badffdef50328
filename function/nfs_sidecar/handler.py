"""The Lambda handler: events in, sidecars out, every failure accounted for.

SNS invokes the function asynchronously: a failed record makes the invocation raise, so Lambda's
retries and then the on-failure destination keep the notification with the reason.
SQS (a queue between topic and function) gets ``batchItemFailures``: the queue redelivers those
records and moves them to its dead-letter queue after ``maxReceiveCount``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from .config import Config
from .message import Notification, from_envelope, from_sqs_body
from .nfs3_xdr import BADHANDLE, STALE
from .nfs_client import NfsClient
from .nfs_errors import MountError, NfsConnectionError, NfsStatusError
from .retry import Budget, backoff, reconnecting_may_help, retryable
from .sidecar import Orphan, Outcome, SidecarWriter

MAX_LOCK_WAIT_S = 10.0


class UnsupportedEvent(ValueError):
    """The event is neither SNS nor SQS."""


class RecordsFailed(Exception):
    """Several records of one invocation failed (the message lists each)."""


def log(**fields: Any) -> None:
    # One JSON object per line: CloudWatch Logs Insights reads the fields directly.
    print(json.dumps(fields, ensure_ascii=False, default=str), file=sys.stdout, flush=True)


class Handler:
    """One per execution environment: holds the mount across warm invocations."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._writer: SidecarWriter | None = None
        self._orphans: list[Orphan] = []  # kept across connections: see SidecarWriter
        self.reconnects = 0

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
        for record in records:
            error = self._handle(
                from_sqs_body, record.get("body"), context, sqs_message_id=record.get("messageId")
            )
            if error is not None:
                failed.append({"itemIdentifier": record.get("messageId")})
        return {"batchItemFailures": failed}

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
        try:
            note = parse(raw, self.config.suffix)
            outcome = self.process(note, self._lock_wait(context), Budget.for_invocation(context))
        except Exception as exc:
            log(
                level="ERROR",
                outcome="failed",
                error_type=type(exc).__name__,
                error=str(exc),
                retryable=retryable(exc),
                **self._fields(note, started),
                **log_fields,
            )
            return exc
        log(
            level="INFO",
            outcome="written" if outcome.written else "skipped_older",
            sidecar=outcome.sidecar,
            via=outcome.via,  # "link", "lock+rename", or None when a newer one was kept
            **self._fields(note, started),
            **log_fields,
        )
        return None

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
        self, note: Notification, lock_wait_s: float = MAX_LOCK_WAIT_S, budget: Budget | None = None
    ) -> Outcome:
        """Writes one sidecar. A broken or failed connection (a server restarting, failing over,
        timing out) is tried again on a new one, with backoff, while the budget leaves time for
        an attempt; a stale handle is looked up afresh once."""
        budget = budget or Budget.for_invocation(None)
        attempt_s = min(self.config.timeout_ms / 1000, 1.0)  # at least a connect and a call
        reconnects, stale_retried = 0, False
        while True:
            try:
                writer = self.writer(budget)
                writer.client.deadline = budget.deadline
                for error in writer.client.take_unwaited_errors():
                    log(level="WARNING", outcome="cleanup_failed", error=str(error))
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
                writer.folders.forget("")

    def writer(self, budget: Budget | None = None) -> SidecarWriter:
        if self._writer is None:
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
        return self._writer

    def disconnect(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abandon()
            writer.client.close()
