"""The TCP side of the test proxies (tests/fault_proxy.py, tests/bench/rpc_counter.py): a listener
on a free port that pairs each connection it accepts with a new connection to a target port.
Standard library only (the function tests run under every Lambda Python with just pytest)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def relay_listener(
    host: str,
    target: int,
    connected: Callable[[socket.socket, socket.socket], None],
    *,
    nodelay: bool = False,
) -> socket.socket:
    """Listens on a free port of ``host`` -> the listener (its port: ``getsockname()[1]``; close
    it to stop accepting). For each connection accepted, a connection to ``target`` on ``host``
    is made and ``connected(client, server)`` called from the accepting thread; when the target
    refuses, the client's connection is closed (the server is down: so is the proxy, for it)."""
    listener = socket.create_server((host, 0))
    threading.Thread(
        target=_accept, args=(listener, host, target, connected, nodelay), daemon=True
    ).start()
    return listener


def _accept(
    listener: socket.socket,
    host: str,
    target: int,
    connected: Callable[[socket.socket, socket.socket], None],
    nodelay: bool,
) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return  # the listener was closed
        try:
            server = socket.create_connection((host, target), timeout=5)
            server.settimeout(None)
        except OSError:
            client.close()
            continue
        if nodelay:
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connected(client, server)
