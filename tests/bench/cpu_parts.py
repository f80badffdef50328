"""The function's own CPU time, by part, for the bench's profiled pass: timers put around the
functions of each part while the pass runs (nothing of this in the production code), each
part's time exclusive of the parts it calls (a reply decoded inside libnfs's service call is the
NFS part's; a log line's JSON is logging's).

Parts: ``parse`` (message.py: the notification), ``render`` (document.py: the sidecar),
``marshal`` (the NFS client's calls building their ctypes arguments; the engine's reply
callback decoding the results), ``io`` (libnfs queueing a call: encoding it and, as libnfs 7
does when no call is ahead of it in the queue, writing it to the socket at once - a writev per
call; libnfs's service of the socket: sending, receiving, reading the records; the engine's
poll), ``log`` (the log line with its metrics), and ``rest`` (everything else: the handler, the
write protocol, the engine's loop)."""

from __future__ import annotations

import collections
import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import nfs_sidecar.handler
import nfs_sidecar.sidecar
from nfs_sidecar.handler import Handler
from nfs_sidecar.nfs.client import NfsClient
from nfs_sidecar.nfs.engine import RpcEngine
from nfs_sidecar.nfs.libnfs import load_libnfs

CLIENT_CALLS = (
    "lookup",
    "create",
    "write",
    "read",
    "rename",
    "link",
    "touch_if_unchanged",
    "readdirplus",
    "remove",
)


class CpuParts:
    """Process CPU time by part, while installed (``with parts.installed(): ...``)."""

    def __init__(self, clock: Callable[[], float] = time.process_time) -> None:
        self.clock = clock
        self.seconds: collections.Counter[str] = collections.Counter()
        self._stack = ["rest"]
        self._mark = clock()

    def _switch(self, part: str | None) -> None:
        now = self.clock()
        self.seconds[self._stack[-1]] += now - self._mark
        self._mark = now
        if part is None:
            self._stack.pop()
        else:
            self._stack.append(part)

    def timed(self, part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self._switch(part)
            try:
                return function(*args, **kwargs)
            finally:
                self._switch(None)

        return wrapper

    def take(self) -> dict[str, float]:
        """The seconds by part since the last time (or the start)."""
        self._switch("rest")
        self._switch(None)
        taken, self.seconds = dict(self.seconds), collections.Counter()
        return taken

    @contextmanager
    def installed(self) -> Iterator[CpuParts]:
        """Timers around each part's functions. Handlers (and their clients) made inside: the
        engine's reply callback is bound when a client is made."""
        lib = load_libnfs()
        targets: list[tuple[object, str, str]] = [
            (nfs_sidecar.handler, "from_envelope", "parse"),
            (nfs_sidecar.handler, "from_sqs_body", "parse"),
            (nfs_sidecar.sidecar, "render", "render"),
            (Handler, "log", "log"),
            (Handler, "_log_outcome", "log"),
            *((NfsClient, name, "marshal") for name in CLIENT_CALLS),
            (RpcEngine, "_queue", "io"),  # libnfs sends a call at once when none is ahead
            (RpcEngine, "_on_reply", "marshal"),
            (lib, "rpc_service", "io"),
            (RpcEngine, "_poll", "io"),
        ]
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]
        try:
            for owner, name, part in targets:
                setattr(owner, name, self.timed(part, getattr(owner, name)))
            self.take()
            yield self
        finally:
            for owner, name, original in saved:
                setattr(owner, name, original)
