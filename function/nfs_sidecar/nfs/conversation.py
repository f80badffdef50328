"""Conversations with the NFS server: generators that send calls and yield to wait for them.

Calling a client method (``client.lookup(...)``) SENDS the call and returns its ``Pending`` at
once; ``yield (p1, p2)`` WAITS until every one of them has its reply (or raises the transport's
error into the conversation); ``yield Sleep(s)`` waits without the network (a writer waiting for
a lock). So calls sent before one ``yield`` share a round trip.

``as_one`` runs several conversations as one: it advances each to its next yield, then waits
once for all the calls they sent, so N conversations of k round trips each take about k round
trips, not N x k. A transport failure ends the wait for everyone: it is thrown into each
conversation that was waiting, so each cleans up (or remembers what it left) its own way.

``run`` carries a conversation out against the real network; the simulation
(tests/simulation) carries the same conversations out against a model of the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from .engine import Pending
from .errors import NfsError

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
    if not pending.done:
        yield (pending,)
    return pending.result()


def as_one(
    conversations: list[Conversation[T]],
    count_calls: Callable[[], int] = lambda: 0,
    clock: Callable[[], float] = time.monotonic,
) -> Generator[Step, None, tuple[list[T | Exception], list[int]]]:
    """Runs the conversations together to their end -> (each one's return value or exception,
    each one's number of calls sent, from ``count_calls``: the client's running count)."""
    count = len(conversations)
    results: list[T | Exception | None] = [None] * count
    calls = [0] * count
    waiting: dict[int, tuple[Pending, ...]] = {}
    sleeping: dict[int, float] = {}  # index -> clock() time to resume

    def advance(index: int, error: Exception | None = None) -> None:
        before = count_calls()
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
            calls[index] += count_calls() - before
        if isinstance(step, Sleep):
            sleeping[index] = clock() + step.seconds
        else:
            waiting[index] = step

    for index in range(count):
        advance(index)
    while waiting or sleeping:
        if waiting:
            batch, waiting = waiting, {}
            # Each call once, also one that two conversations share (a folder's LOOKUP).
            pendings = tuple(dict.fromkeys(p for step in batch.values() for p in step))
            sent_before = {p: p.sends for p in pendings}
            failure: NfsError | None = None
            try:
                yield pendings
            except NfsError as exc:
                failure = exc
            for index, step in batch.items():
                for p in step:  # resends, counted for the first conversation that waited
                    calls[index] += p.sends - sent_before.pop(p, p.sends)
                advance(index, failure)
        else:
            yield Sleep(max(0.0, min(sleeping.values()) - clock()))
        now = clock()
        for index in [i for i, at in sleeping.items() if at <= now]:
            del sleeping[index]
            advance(index)
    return results, calls  # type: ignore[return-value]


def run(conversation: Conversation[T]) -> T:
    """Carries a conversation out on the network: its return value, or its exception raised.
    Calls are waited for on the engine that sent them (a conversation may reconnect)."""
    error: NfsError | None = None
    while True:
        try:
            step = conversation.send(None) if error is None else conversation.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
        elif step:
            try:
                step[0].engine.wait(*step)
            except NfsError as exc:
                error = exc
