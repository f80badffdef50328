"""Many RPCs in flight on one libnfs RPC context, serviced by one poll loop with a hard deadline.

A call is queued with an ``rpc_nfs3_*_task`` function and comes back as a ``Pending``; ``wait``
services the socket until the calls it is given have their replies. Replies are matched to
their ``Pending`` through the private-data token the callback receives, and decoded inside the
callback, while libnfs's reply buffer is still valid.

The engine keeps each call's arguments (file handles, names, WRITE data, the READ buffer) alive
until its reply: libnfs 7 sends WRITE data and receives READ data in place, without copying. After
a transport error or a timeout the engine is ``broken``: its owner must destroy the context (which
cancels what is still queued) and connect again.

A call the server answers with a transient status (NFS3ERR_JUKEBOX: "not now") is sent again,
with a new transaction id, after a backoff, while the ``deadline`` (the invocation's time budget)
allows; no wait ever runs past that deadline.

Timeouts are the engine's, not libnfs's (its per-call timeouts are off): a wait ends
``timeout_ms`` after it started, or at the deadline. libnfs would expire a call from its send
time, in a scan that runs before the socket is read: the reply to a call nobody waited for (a
temp name's REMOVE), read at the next invocation after an idle gap, was reported timed out, and a
healthy connection was dropped. Only a wait that ends without its replies breaks the connection.

After an idle spell (``PROBE_AFTER_IDLE_S``) the first call carries a NULL call: the connection
may have been dropped silently meanwhile (a NAT or load balancer forgetting the flow, a failover).
A reply to it, or to anything sent with it, within a few measured round trips
(``probe_bound_s``) shows the connection alive, at no extra round trip; none, and the connection
is given up at once instead of after the whole ``timeout_ms``.
"""

from __future__ import annotations

import ctypes
import itertools
import select
import time
from collections.abc import Callable

from .backoff import TRANSIENT_STATUSES, backoff
from .errors import NfsConnectionError, NfsError, NfsStatusError, NfsTimeout
from .libnfs import (
    RPC_CB,
    RPC_STATUS_CANCEL,
    RPC_STATUS_SUCCESS,
    RPC_STATUS_TIMEOUT,
)
from .xdr import NFS3_OK, Status

# Wake at least this often to check the deadlines (also a reconnecting libnfs's changed fd).
POLL_SLICE_S = 0.1
# After this long without sending, the next call takes a NULL call along (see above).
PROBE_AFTER_IDLE_S = 2.0
# An idle connection is given up when nothing sent with the probe is answered within this many
# smoothed round trips, at least PROBE_MIN_S (scheduling noise), at most half the timeout.
PROBE_RTTS = 10
PROBE_MIN_S = 0.25
# Resends of a transient status when no deadline is set (a client used outside the handler).
MAX_RESENDS_WITHOUT_DEADLINE = 5


class Pending:
    """One RPC in flight; ``result()`` returns its value or raises its error."""

    __slots__ = (
        "_keep",
        "args",
        "done",
        "engine",
        "error",
        "leading",
        "parse",
        "sends",
        "sent_at",
        "task",
        "value",
        "what",
    )

    def __init__(
        self,
        engine: RpcEngine,
        what: str,
        task: str,
        args: ctypes.Structure | None,
        leading: tuple[object, ...],
        parse: Callable[[int], object] | None,
        keep: object,
    ) -> None:
        self.what, self.task, self.args, self.leading = what, task, args, leading
        self.parse, self._keep = parse, keep
        self.engine = engine  # that sent it, and waits for it
        self.done = False
        self.sends = 0  # 1, plus each resend after a transient status
        self.sent_at = 0.0  # monotonic time of the last send
        self.value: object = None
        self.error: NfsError | None = None

    def result(self) -> object:
        if not self.done:
            raise NfsError(f"{self.what}: no reply yet")
        if self.error is not None:
            raise self.error
        return self.value


class RpcEngine:
    """Sends NFSv3 calls on an RPC context and waits for their replies, within ``timeout_ms``."""

    def __init__(self, lib: ctypes.CDLL, server: str, timeout_ms: int) -> None:
        self.lib, self.server, self.timeout_ms = lib, server, timeout_ms
        self.broken: str | None = None
        # monotonic time by which every wait ends (the invocation's budget); None: only timeout_ms
        self.deadline: float | None = None
        self.resends = 0  # calls sent again after a transient status
        self.rpc_count = 0
        # Waits that had to wait for the network: that sent calls (their replies cannot be in),
        # or blocked for replies to calls sent before; not one whose replies were all in, read
        # or not (a REMOVE sent without waiting, its reply in the socket since the last
        # invocation).
        self.round_trips = 0
        self.waited_s = 0.0  # time blocked in poll: waiting on the network (and the server)
        self._blocked = False  # the current wait blocked in poll
        self._rpc: int | None = None  # set by the owner once connected
        self._pending: dict[int, Pending] = {}
        self._unwaited: list[Pending] = []
        self._poller = select.poll()
        self._polled_fd: int | None = None
        self._tokens = itertools.count(1)
        self._callback = RPC_CB(self._on_reply)  # must outlive the context
        self._last_sent = self._serviced_until = time.monotonic()
        self.srtt_s: float | None = None  # smoothed round trip, replies read as they came
        self.probes = 0  # NULL calls sent after an idle spell
        self._probe_sent_at: float | None = None  # an unanswered probe's send time
        self._probe_ends = 0.0
        self._probe_idle_s = 0.0

    def _on_reply(self, _rpc: int, status: int, data: int, private: int) -> None:
        pending = self._pending.pop(private or 0, None)
        if pending is None:
            return  # a call we gave up on
        if status != RPC_STATUS_CANCEL:
            self._answered(pending)
        try:
            if status == RPC_STATUS_SUCCESS and pending.parse is None:
                pass  # NULL: no result body
            elif status == RPC_STATUS_SUCCESS and pending.parse is not None:
                code = Status.from_address(data).status
                if code == NFS3_OK:
                    pending.value = pending.parse(data)
                else:
                    pending.error = NfsStatusError(pending.what, code)
            elif status == RPC_STATUS_TIMEOUT:
                pending.error = NfsTimeout(f"{pending.what}: timed out")
            elif status == RPC_STATUS_CANCEL:
                pending.error = NfsConnectionError(f"{pending.what}: cancelled")
            else:
                text = ctypes.string_at(data).decode(errors="replace") if data else "RPC error"
                pending.error = NfsConnectionError(f"{pending.what}: {text}")
        except Exception as exc:  # never let an exception cross into C
            pending.error = NfsError(f"{pending.what}: cannot decode reply: {exc!r}")
        pending.done = True

    def _answered(self, pending: Pending) -> None:
        now = time.monotonic()
        if self._probe_sent_at is not None and pending.sent_at >= self._probe_sent_at:
            self._probe_sent_at = None  # something sent since the idle spell came back
        # A reply to a call sent before the last service loop ended may have waited unread
        # (a REMOVE nobody waited for, read at the next invocation): no round trip measured.
        if pending.sent_at >= self._serviced_until:
            sample = now - pending.sent_at
            self.srtt_s = sample if self.srtt_s is None else 0.875 * self.srtt_s + 0.125 * sample

    def probe_bound_s(self) -> float:
        """How long an idle connection's first calls may go unanswered before it is given up."""
        measured = PROBE_RTTS * self.srtt_s if self.srtt_s is not None else 0.0
        return min(max(PROBE_MIN_S, measured), self.timeout_ms / 2000)

    def _probe_if_idle(self) -> None:
        idle = time.monotonic() - self._last_sent
        if idle < PROBE_AFTER_IDLE_S or self._probe_sent_at is not None:
            return
        probe = Pending(self, "NULL", "rpc_nfs3_null_task", None, (), None, None)
        self._queue(probe)  # not reported: only its arrival, or another's, matters
        self.probes += 1
        self._probe_sent_at = probe.sent_at
        self._probe_ends = probe.sent_at + self.probe_bound_s()
        self._probe_idle_s = idle

    def send(
        self,
        what: str,
        task: str,
        args: ctypes.Structure,
        parse: Callable[[int], object],
        *leading: object,
        keep: object = None,
    ) -> Pending:
        """Queues ``task(rpc, cb, *leading, &args, token)``; ``keep`` lives until the reply."""
        if self.broken:
            raise NfsConnectionError(f"{what}: connection unusable ({self.broken})")
        self._probe_if_idle()
        pending = Pending(self, what, task, args, leading, parse, keep)
        self._queue(pending)
        return pending

    def _queue(self, pending: Pending) -> None:
        token = next(self._tokens)
        self._pending[token] = pending
        queue = getattr(self.lib, pending.task)
        if pending.args is None:  # NULL
            pdu = queue(self._rpc, self._callback, token)
        else:
            args = ctypes.byref(pending.args)
            pdu = queue(self._rpc, self._callback, *pending.leading, args, token)
        if not pdu:
            del self._pending[token]
            self.broken = self._rpc_error()
            raise NfsConnectionError(f"{pending.what}: cannot queue: {self.broken}")
        self.rpc_count += 1
        pending.sends += 1
        pending.sent_at = self._last_sent = time.monotonic()

    def wait(self, *calls: Pending) -> None:
        """Services the connection until every call has its final reply; bounded by the timeout
        and the deadline. Calls answered with a transient status are sent again meanwhile."""
        attempt = 0
        while True:
            # Queued since the connection was last serviced: this wait sends them.
            sends = any(not c.done and c.sent_at >= self._serviced_until for c in calls)
            self._blocked = False
            try:
                self._service_until(
                    lambda: all(call.done for call in calls),
                    lambda: ", ".join(c.what for c in calls if not c.done),
                )
            finally:
                self.round_trips += sends or self._blocked
            for call in calls:
                if isinstance(call.error, NfsConnectionError):
                    self.broken = str(call.error)
            busy = [call for call in calls if _transient(call.error)]
            if not busy:
                return
            delay = backoff(attempt)
            if not self._may_resend(attempt, delay):
                return  # each keeps its status error
            time.sleep(delay)
            attempt += 1
            for call in busy:
                call.done, call.error = False, None
                self._queue(call)
                self.resends += 1

    def _may_resend(self, attempt: int, delay: float) -> bool:
        if self.deadline is None:
            return attempt < MAX_RESENDS_WITHOUT_DEADLINE
        # Leave the resent call time for its reply (a round trip, not a whole timeout).
        needed = delay + min(self.timeout_ms / 1000, 1.0)
        return self.deadline - time.monotonic() >= needed

    def call(self, pending: Pending) -> object:
        self.wait(pending)
        return pending.result()

    def send_without_waiting(self, *calls: Pending, report: bool = True) -> None:
        """Puts the calls on the wire and returns: their replies are read by later waits.

        For cleanup whose outcome changes nothing for the caller; failures are collected in
        ``take_unwaited_errors`` as the replies come in (unless ``report`` is False).
        """
        if report:
            self._unwaited.extend(calls)
        self._service_until(
            lambda: not self.lib.rpc_which_events(self._rpc) & select.POLLOUT,
            lambda: "sending " + ", ".join(c.what for c in calls),
        )

    def take_unwaited_errors(self) -> list[NfsError]:
        done = [call for call in self._unwaited if call.done]
        self._unwaited = [call for call in self._unwaited if not call.done]
        return [call.error for call in done if call.error is not None]

    def _service_until(self, finished: Callable[[], bool], waiting: Callable[[], str]) -> None:
        try:
            self._service(finished, waiting)
        finally:
            self._serviced_until = time.monotonic()

    def _service(self, finished: Callable[[], bool], waiting: Callable[[], str]) -> None:
        if not finished():
            # Also for a wait on calls sent before the idle spell (a REMOVE nobody waited for):
            # their replies may never come if the connection died meanwhile.
            self._probe_if_idle()
        deadline = time.monotonic() + self.timeout_ms / 1000
        budget_ends_first = self.deadline is not None and self.deadline < deadline
        if budget_ends_first:
            deadline = self.deadline  # type: ignore[assignment]
        # Send what is queued at once, without a poll first.
        revents = self.lib.rpc_which_events(self._rpc) & select.POLLOUT
        while True:
            if self.lib.rpc_service(self._rpc, revents) < 0:
                self.broken = self._rpc_error()
                raise NfsConnectionError(f"{self.server}: {self.broken}")
            if finished():
                return
            now = time.monotonic()
            if self._probe_sent_at is not None and now >= self._probe_ends:
                self.broken = (
                    f"no reply within {round((now - self._probe_sent_at) * 1000)} ms after "
                    f"{self._probe_idle_s:.1f} s idle: the connection was dropped on the way"
                )
                raise NfsConnectionError(f"{waiting()}: {self.broken} to {self.server}")
            remaining = deadline - now
            if remaining <= 0:
                self.broken = (
                    "no reply before the invocation's time budget ran out"
                    if budget_ends_first
                    else f"no reply within {self.timeout_ms} ms"
                )
                raise NfsTimeout(f"{waiting()}: {self.broken} from {self.server}")
            if self._probe_sent_at is not None:
                remaining = min(remaining, self._probe_ends - now)
            revents = self._poll(remaining)
            if revents < 0:
                self.broken = "not connected"
                raise NfsConnectionError(f"{self.server}: {self.broken}")

    def _poll(self, remaining: float) -> int:
        """Waits for the socket's events, at most ``remaining`` (and POLL_SLICE_S) -> the events;
        -1 when there is no socket. libnfs replaces its socket while mounting."""
        fd = self.lib.rpc_get_fd(self._rpc)
        if fd < 0:
            return -1
        if fd != self._polled_fd:
            if self._polled_fd is not None:
                self._poller.unregister(self._polled_fd)
            self._polled_fd = fd
        self._poller.register(fd, self.lib.rpc_which_events(self._rpc))
        # What is in already is no wait (nor a round trip): only then block.
        if not (ready := self._poller.poll(0)):
            self._blocked = True
            started = time.perf_counter()
            ready = self._poller.poll(max(0.0, min(remaining, POLL_SLICE_S)) * 1000)
            self.waited_s += time.perf_counter() - started
        return ready[0][1] if ready else 0

    def _rpc_error(self) -> str:
        raw = self.lib.rpc_get_error(self._rpc)
        return raw.decode(errors="replace") if raw else "RPC failure"

    def forget_pending(self) -> None:
        """After the context is destroyed: no reply will come for what was in flight."""
        self.broken = self.broken or "closed"
        self._pending.clear()
        self._unwaited.clear()


def _transient(error: NfsError | None) -> bool:
    return isinstance(error, NfsStatusError) and error.status in TRANSIENT_STATUSES
