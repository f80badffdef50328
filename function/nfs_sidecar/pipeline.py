"""Several NFS conversations at once on one connection, in lockstep round trips.

A conversation is a generator: it yields the calls it has sent (a tuple of ``Pending``) and is
resumed once all of them have their replies, or it yields a ``Sleep`` (a writer waiting for a
lock). ``run_together`` advances every conversation to its next yield, then waits once for all
the calls they sent: N conversations of k round trips each take about k round trips, not N x k.

A transport failure (timeout, broken connection) ends the wait for everyone: it is thrown into
each conversation that was waiting, so each cleans up (or remembers its orphans) its own way.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any, TypeVar

from .nfs_errors import NfsError
from .rpc_engine import Pending, RpcEngine

T = TypeVar("T")


class Sleep:
    """Resume me after this many seconds (sent by a conversation instead of calls)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


Step = tuple[Pending, ...] | Sleep
Conversation = Generator[Step, None, T]


def call(pending: Pending) -> Generator[Step, None, Any]:
    """``value = yield from call(client.lookup(...))``: one call, its result or its error."""
    yield (pending,)
    return pending.result()


def run_together(
    engine: RpcEngine, conversations: list[Conversation[T]]
) -> tuple[list[T | Exception], list[int]]:
    """Runs the conversations to their end -> (each one's return value or exception, each one's
    number of calls sent)."""
    count = len(conversations)
    results: list[T | Exception | None] = [None] * count
    calls = [0] * count
    waiting: dict[int, tuple[Pending, ...]] = {}
    sleeping: dict[int, float] = {}  # index -> monotonic time to resume

    def advance(index: int, error: Exception | None = None) -> None:
        before = engine.rpc_count
        try:
            conversation = conversations[index]
            step = conversation.send(None) if error is None else conversation.throw(error)
        except StopIteration as stop:
            results[index] = stop.value
            return
        except Exception as exc:
            results[index] = exc
            return
        finally:
            calls[index] += engine.rpc_count - before
        if isinstance(step, Sleep):
            sleeping[index] = time.monotonic() + step.seconds
        else:
            waiting[index] = step

    for index in range(count):
        advance(index)
    while waiting or sleeping:
        if waiting:
            batch, waiting = waiting, {}
            # Each call once, also one that two conversations share (a folder's LOOKUP).
            pendings = list(dict.fromkeys(p for step in batch.values() for p in step))
            sent_before = {p: p.sends for p in pendings}
            failure: NfsError | None = None
            try:
                engine.wait(*pendings)
            except NfsError as exc:
                failure = exc
            for index, step in batch.items():
                for p in step:  # resends, counted for the first conversation that waited
                    calls[index] += p.sends - sent_before.pop(p, p.sends)
                advance(index, failure)
        else:
            time.sleep(max(0.0, min(sleeping.values()) - time.monotonic()))
        now = time.monotonic()
        for index in [i for i, at in sleeping.items() if at <= now]:
            del sleeping[index]
            advance(index)
    return results, calls  # type: ignore[return-value]


def drive(engine: RpcEngine, conversation: Conversation[T]) -> T:
    """One conversation alone: its return value, or its exception raised."""
    (result,), _ = run_together(engine, [conversation])
    if isinstance(result, Exception):
        raise result
    return result
