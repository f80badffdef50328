"""The Lambda handler: events in, sidecars out, every failure accounted for.

SNS invokes the function asynchronously: a failed record makes the invocation raise, so Lambda's
retries and then the on-failure destination keep the notification with the reason.
SQS (a queue between topic and function) gets ``batchItemFailures``: the queue redelivers those
records and moves them to its dead-letter queue after ``maxReceiveCount``. The records of a batch
are written together, their NFS calls in flight at once (nfs/conversation.py): a batch of N
costs about the round trips of one record (docs/design.md counts them). A batch is started
only while the invocation has the time to finish it; otherwise only its first record is, and the
others go back to the queue unstarted.

Each message logs one JSON line with its outcome, which also carries its metrics (see metrics.py).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import metrics
from .config import LOG_LEVELS, Config
from .errors import Deferred, RecordsFailed, UnsupportedEvent
from .message import Notification, from_envelope, from_sqs_body
from .nfs.backoff import backoff
from .nfs.client import MOUNT_TIMEOUTS, NfsClient
from .nfs.conversation import Conversation, Sleep, run
from .nfs.errors import MountError, NfsConnectionError, NfsError, NfsStatusError
from .nfs.xdr import BADHANDLE, STALE
from .retry import Budget, reconnecting_may_help, retryable
from .sidecar import Orphan, Outcome, SidecarWriter

MAX_LOCK_WAIT_S = 10.0
# What a record needs besides its NFS steps: parsing, logging, answering.
RECORD_OVERHEAD_S = 0.2
DEFAULT_FUNCTION_NAME = "nfs-sidecar"


class Usage:
    """What one message cost, for its metrics."""

    __slots__ = ("nfs_calls", "reconnects", "round_trips")

    def __init__(self) -> None:
        self.nfs_calls = 0
        self.reconnects = 0
        self.round_trips = 0  # waits on the network of the writes it was part of (a batch's)


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
        # into the timeout, then the mount afresh, bounded as a whole (nfs/client.py).
        self.record_reserve_s = (1 + MOUNT_TIMEOUTS) * config.timeout_ms / 1000 + RECORD_OVERHEAD_S
        self._writer: SidecarWriter | None = None
        self._dropped = False  # a connection was dropped: the next mount is a reconnect
        self._orphans: list[Orphan] = []  # kept across connections: see SidecarWriter
        self.reconnects = 0
        # Those of the connections given up (see round_trips, waited_s).
        self._past_round_trips, self._past_waited_s = 0, 0.0

    @property
    def round_trips(self) -> int:
        """Waits that had to wait for the network, since this environment started (the mounts'
        own not included): with ``reconnects``, what the bench reads from a warm handler."""
        current = self._writer.client.round_trips if self._writer is not None else 0
        return self._past_round_trips + current

    @property
    def waited_s(self) -> float:
        """Time blocked waiting on the network (and the server), since this environment started
        (the mounts' own not included)."""
        current = self._writer.client.waited_s if self._writer is not None else 0.0
        return self._past_waited_s + current

    def log(self, level: str, **fields: Any) -> None:
        """One JSON object per line, with the level and timestamp Lambda's JSON logging reads."""
        if LOG_LEVELS.index(level) < self.min_level:
            return
        line = {"timestamp": rfc3339_now(), "level": level, **fields}
        print(json.dumps(line, ensure_ascii=False, default=str), file=sys.stdout, flush=True)

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any] | None:
        # The post-deploy probe (probe.py): a direct invocation only, as SNS and SQS events always
        # have Records. Imported then only: notifications' cold starts stay lean.
        if isinstance(event, dict) and event.keys() == {"nfs_sidecar_probe"}:
            from .probe import answer

            return answer(self, event, context)
        records = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(records, list) or not records:
            raise UnsupportedEvent("event has no Records: expected an SNS or SQS event")
        sources = {
            record.get("EventSource") or record.get("eventSource")
            for record in records
            if isinstance(record, dict)
        }
        if sources == {"aws:sns"}:
            self._sns(records, context)  # raises if a record failed; SNS reads no result
            return None
        if sources == {"aws:sqs"}:
            return self._sqs(records, context)
        raise UnsupportedEvent(f"unsupported event sources {sorted(map(str, sources))}")

    def _sns(self, records: list[dict[str, Any]], context: Any) -> None:
        errors = self._handle(
            [(record.get("Sns"), {}) for record in records], from_envelope, context
        )
        failures = [error for error in errors if error is not None]
        if len(failures) == 1 and len(records) == 1:
            raise failures[0]  # keeps its type: errorType in the failure destination
        if failures:
            raise RecordsFailed("; ".join(f"{type(e).__name__}: {e}" for e in failures))

    def _sqs(self, records: list[dict[str, Any]], context: Any) -> dict[str, Any]:
        items = [
            (record.get("body"), {"sqs_message_id": record.get("messageId")}) for record in records
        ]
        errors = self._handle(items, from_sqs_body, context)
        failed = [
            {"itemIdentifier": record.get("messageId")}
            for record, error in zip(records, errors, strict=True)
            if error is not None
        ]
        return {"batchItemFailures": failed}

    def _defer(self, note: Notification, deadline: float, **log_fields: Any) -> Exception:
        left = max(0.0, deadline - time.monotonic())
        reason = f"{left:.1f} s left, a batch may need {self.record_reserve_s:.1f} s"
        self._log_outcome(
            "WARN",
            "deferred",
            reason=reason,
            file=note.filename,
            message_id=note.message_id,
            **log_fields,
        )
        return Deferred(reason)

    def _handle(
        self,
        items: list[tuple[Any, dict[str, Any]]],
        parse: Callable[[Any, str, str], Notification],
        context: Any,
    ) -> list[Exception | None]:
        """Parses the records, writes their sidecars together (nfs/conversation.py), logs one line
        per record, in order -> each record's error, if any.

        The batch is started only while the invocation has the time to finish it (one NFS step
        into the timeout plus a mount afresh): otherwise only its first record is, so a
        function whose timeout is too short still makes progress, and the others go back to the
        queue unstarted instead of the invocation timing out mid-batch."""
        started = time.monotonic()
        notes: list[Notification | None] = []
        errors: list[Exception | None] = []
        for raw, _ in items:
            try:
                notes.append(parse(raw, self.config.suffix, self.config.naming))
                errors.append(None)
            except Exception as exc:
                notes.append(None)
                errors.append(exc)
        todo = [i for i, note in enumerate(notes) if note is not None]
        deadline = _deadline(context)
        if deadline is not None and deadline - time.monotonic() < self.record_reserve_s:
            deferred = todo[1:]
            todo = todo[:1]
        else:
            deferred = []
        usages = [Usage() for _ in items]
        try:
            outcomes = self.process_all(
                [notes[i] for i in todo],  # type: ignore[misc]
                self._lock_wait(context),
                [usages[i] for i in todo],
                Budget.for_invocation(context),
            )
        except Exception as exc:  # e.g. libnfs missing: every record fails with the reason
            outcomes = [exc] * len(todo)
        results: dict[int, Outcome | Exception] = dict(zip(todo, outcomes, strict=True))
        for i, (note, (_, log_fields)) in enumerate(zip(notes, items, strict=True)):
            if i in deferred:
                errors[i] = self._defer(note, deadline, **log_fields)  # type: ignore[arg-type]
                continue
            outcome = results.get(i, errors[i])
            fields = {**self._fields(note, started), **log_fields}
            if isinstance(outcome, Exception):
                errors[i] = outcome
                self._log_outcome(
                    "ERROR",
                    "failed",
                    error_type=type(outcome).__name__,
                    error=str(outcome),
                    retryable=retryable(outcome),
                    **fields,
                    usage=usages[i],
                )
            else:
                assert outcome is not None
                self._log_outcome(
                    "INFO",
                    "written" if outcome.written else "skipped_older",
                    sidecar=outcome.sidecar,
                    via=outcome.via,  # "link", "lock+rename", or None when a newer one was kept
                    **fields,
                    usage=usages[i],
                )
        return errors

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
        """Writes one sidecar (see ``process_all``); raises its error."""
        (outcome,) = self.process_all([note], lock_wait_s, [usage or Usage()], budget)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def process_all(
        self,
        notes: list[Notification],
        lock_wait_s: float = MAX_LOCK_WAIT_S,
        usages: list[Usage] | None = None,
        budget: Budget | None = None,
    ) -> list[Outcome | Exception]:
        """Writes the notes' sidecars together -> each one's outcome or error (``write_all``)."""
        return run(self.write_all(notes, lock_wait_s, usages, budget))

    def write_all(
        self,
        notes: list[Notification],
        lock_wait_s: float = MAX_LOCK_WAIT_S,
        usages: list[Usage] | None = None,
        budget: Budget | None = None,
    ) -> Conversation[list[Outcome | Exception]]:
        """Writes the notes' sidecars together -> each one's outcome or error. The notes a broken
        or failed connection stopped (a server restarting, failing over, timing out) are tried
        again together on a new connection, with backoff, while the budget leaves time for an
        attempt; those that met a stale handle are looked up afresh, then (the export's root
        handle may be the stale one) on a new mount."""
        usages = usages if usages is not None else [Usage() for _ in notes]
        budget = budget or Budget.for_invocation(None)
        attempt_s = min(self.config.timeout_ms / 1000, 1.0)  # at least a connect and a call
        results: list[Outcome | Exception] = [NfsError("not attempted")] * len(notes)
        todo = list(range(len(notes)))
        reconnects, stale_retries = 0, 0
        while todo:
            if self._writer is None and self._dropped:
                for i in todo:
                    usages[i].reconnects += 1
            try:
                writer = self.writer(budget)
                writer.client.deadline = budget.deadline
                for error in writer.client.take_unwaited_errors():
                    self.log("WARN", outcome="cleanup_failed", error=str(error))
                calls_before, trips_before = writer.client.rpc_count, writer.client.round_trips
                try:
                    outcomes, calls = yield from writer.write_all(
                        [notes[i] for i in todo], lock_wait_s
                    )
                finally:
                    for i in todo:
                        usages[i].round_trips += writer.client.round_trips - trips_before
                # What no note's calls account for (removing orphans first): the first note's.
                calls[0] += writer.client.rpc_count - calls_before - sum(calls)
            except (NfsConnectionError, MountError) as exc:
                outcomes, calls = [exc] * len(todo), [0] * len(todo)
            if self._writer is not None and self._writer.client.broken:
                # Whether a record failed with it or not (the sweep's page, cleanup).
                self.disconnect(drain=False)
            for i, outcome, spent in zip(todo, outcomes, calls, strict=True):
                results[i] = outcome
                usages[i].nfs_calls += spent
            broken = [i for i in todo if isinstance(results[i], NfsConnectionError | MountError)]
            stale = [i for i in todo if _is_stale(results[i])] if stale_retries < 2 else []
            todo = []
            if broken:
                delay = backoff(reconnects)
                retry = [i for i in broken if reconnecting_may_help(results[i])]  # type: ignore[arg-type]
                if retry and budget.allows(delay, attempt_s):
                    # The notifications' own lines count it (Reconnects); this one says why.
                    self.log(
                        "WARN",
                        outcome="reconnecting",
                        error_type=type(results[retry[0]]).__name__,
                        error=str(results[retry[0]]),
                        records=len(retry),
                        after_s=round(delay, 3),
                    )
                    yield Sleep(delay)
                    reconnects += 1
                    self.reconnects += 1
                    todo = retry
            if stale:
                stale_retries += 1
                if stale_retries == 1 and self._writer is not None:
                    self._writer.folders.forget("")
                else:
                    yield from self._drain()
                    self.disconnect(drain=False)  # a new mount: the root's handle afresh
                todo = sorted(todo + stale)
        return results

    def writer(self, budget: Budget | None = None) -> SidecarWriter:
        if self._writer is None:
            self._writer = self.make_writer(self.connect(budget))
            self._dropped = False
        return self._writer

    def make_writer(self, client: NfsClient) -> SidecarWriter:
        c = self.config
        return SidecarWriter(client, c.suffix, c.lock_stale_seconds, self._orphans, naming=c.naming)

    def connect(self, budget: Budget | None) -> NfsClient:
        """A new mount (the simulation connects to its model of the server instead)."""
        c = self.config
        return NfsClient(
            c.server,
            c.export,
            nfs_port=c.nfs_port,
            mount_port=c.mount_port,
            uid=c.uid,
            gid=c.gid,
            timeout_ms=c.timeout_ms,
            deadline=budget.deadline if budget else None,
        )

    def _drain(self) -> Conversation[None]:
        """Before a healthy connection is given up: waits for the replies to the removals sent
        without waiting (a lock's among them), which a server may drop, not carry out, once the
        connection is closed."""
        writer = self._writer
        if writer is not None and not writer.client.broken and (in_flight := writer.in_flight()):
            with contextlib.suppress(NfsError):
                yield in_flight

    def disconnect(self, drain: bool = True) -> None:
        """Gives the connection up; ``drain``: after the replies to removals still in flight
        (within the timeout)."""
        if drain:
            run(self._drain())
        writer, self._writer = self._writer, None
        if writer is not None:
            self._past_round_trips += writer.client.round_trips
            self._past_waited_s += writer.client.waited_s
            writer.abandon()
            writer.client.close()
            self._dropped = True


def _is_stale(result: object) -> bool:
    return isinstance(result, NfsStatusError) and result.status in (STALE, BADHANDLE)


def _deadline(context: Any) -> float | None:
    """When the invocation times out, on the monotonic clock (None: no Lambda context)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return None if remaining is None else time.monotonic() + remaining() / 1000
