"""When a call or a connection is tried again: statuses that mean "later", backoff with jitter."""

from __future__ import annotations

import random

from .xdr import JUKEBOX

# Statuses that mean "the server could not do it now": the same call is sent again.
TRANSIENT_STATUSES = frozenset({JUKEBOX})
FIRST_DELAY_S = 0.05
MAX_DELAY_S = 1.0


def backoff(attempt: int) -> float:
    """The wait before retry number ``attempt`` (0-based): doubling, capped, jittered so that
    writers failed by the same event do not come back in lockstep."""
    return min(MAX_DELAY_S, FIRST_DELAY_S * 2.0**attempt) * random.uniform(0.5, 1.0)
