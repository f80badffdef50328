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
from .message import InvalidMessage, Notification, from_envelope, from_sqs_body
from .nfs3_xdr import BADHANDLE, STALE
from .nfs_client import NfsClient
from .nfs_errors import NfsConnectionError, NfsStatusError
from .sidecar import Outcome, SidecarWriter

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
            outcome = self.process(note, self._lock_wait(context))
        except Exception as exc:
            log(
                level="ERROR",
                outcome="failed",
                error_type=type(exc).__name__,
                error=str(exc),
                retryable=not isinstance(exc, InvalidMessage),
                **self._fields(note, started),
                **log_fields,
            )
            return exc
        log(
            level="INFO",
            outcome="written" if outcome.written else "skipped_older",
            sidecar=outcome.sidecar,
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

    def process(self, note: Notification, lock_wait_s: float = MAX_LOCK_WAIT_S) -> Outcome:
        """Writes one sidecar; a broken connection or stale handle is retried once, afresh."""
        for attempt in (1, 2):
            writer = self.writer()
            for error in writer.client.take_unwaited_errors():
                log(level="WARNING", outcome="cleanup_failed", error=str(error))
            try:
                return writer.write(note, lock_wait_s)
            except NfsConnectionError:
                self.disconnect()  # server restarted, timed out, or connection dropped
                if attempt == 2:
                    raise
            except NfsStatusError as exc:
                if exc.status not in (STALE, BADHANDLE) or attempt == 2:
                    raise
                writer.folders.forget("")
        raise AssertionError("unreachable")

    def writer(self) -> SidecarWriter:
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
            )
            self._writer = SidecarWriter(client, c.suffix, c.lock_stale_seconds)
        return self._writer

    def disconnect(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.client.close()
