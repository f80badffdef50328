"""When to try again, and for how long: one time budget per invocation, what is retryable.

A notification is worth retrying inside the invocation when the server said "later"
(NFS3ERR_JUKEBOX: RFC 1813 asks the client to wait and resend with a new transaction id) or the
connection failed (refused, reset, timed out: a server restarting or failing over). Every wait and
every network step ends at the budget's deadline, which lies a margin before Lambda's own timeout,
so a notification that cannot be written fails with its reason instead of being killed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .errors import AppError, MountError, NfsConnectionError, NfsError

# Without a Lambda context (tests, the bench): what a 30 s function would have.
DEFAULT_REMAINING_S = 30.0
# Kept back from Lambda's timeout to log the failure and return it: a tenth, 0.2-3 s.
MIN_MARGIN_S, MAX_MARGIN_S = 0.2, 3.0


class Budget:
    """The time an invocation may still spend on the NFS server."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.deadline = clock() + max(0.0, seconds)

    @classmethod
    def for_invocation(cls, context: Any) -> Budget:
        """From Lambda's ``context.get_remaining_time_in_millis()``, less the margin."""
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        remaining = remaining_ms() / 1000 if callable(remaining_ms) else DEFAULT_REMAINING_S
        margin = min(MAX_MARGIN_S, max(MIN_MARGIN_S, remaining / 10))
        return cls(remaining - margin)

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def allows(self, delay_s: float, then_at_least_s: float) -> bool:
        """Whether waiting ``delay_s`` still leaves ``then_at_least_s`` for the next attempt."""
        return self.remaining() >= delay_s + then_at_least_s


def reconnecting_may_help(error: BaseException) -> bool:
    """A broken or failed connection (not a refusal): worth a new connection after a backoff."""
    if isinstance(error, MountError):
        return error.transient
    return isinstance(error, NfsConnectionError)


def retryable(error: BaseException) -> bool:
    """Whether the notification may succeed when tried again unchanged (the log's ``retryable``):
    what the error's type says (errors.py; an NfsStatusError's status decides for it)."""
    if isinstance(error, AppError | NfsError):
        return error.retryable
    # No type of ours: a bug, or the runtime failing (MemoryError). Lambda's retries may meet a
    # fixed deployment or a fresh environment.
    return True
