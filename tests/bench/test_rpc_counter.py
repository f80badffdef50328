"""The bench's latency proxy adds latency, not a slower link: every chunk arrives its delay after
it was sent, also while others are in flight, in order, and the calls are counted. Against a local
echo server (no NFS needed)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from tests.bench.rpc_counter import RpcCounter

ONE_WAY_S = 0.2
CALLS = 8
SPACING_S = ONE_WAY_S / 2  # each call is sent while the one before is in flight


def null_call(xid: int) -> bytes:
    body = struct.pack(">10I", xid, 0, 2, 100003, 3, 0, 0, 0, 0, 0)
    return struct.pack(">I", 0x80000000 | len(body)) + body


@pytest.fixture
def echo_port() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def test_each_call_takes_one_round_trip_while_others_are_in_flight(echo_port: int) -> None:
    proxy = RpcCounter("127.0.0.1", [echo_port], ONE_WAY_S)
    sent: list[float] = []
    try:
        with socket.create_connection(("127.0.0.1", proxy.ports[echo_port]), timeout=30) as s:

            def send() -> None:
                for xid in range(CALLS):
                    sent.append(time.perf_counter())
                    s.sendall(null_call(xid))
                    time.sleep(SPACING_S)

            sender = threading.Thread(target=send)
            sender.start()
            received, back = b"", []
            while len(back) < CALLS:
                chunk = s.recv(65536)
                assert chunk, "the proxy closed the connection"
                received += chunk
                back += [time.perf_counter()] * (len(received) // 44 - len(back))
            sender.join()
        assert received == b"".join(null_call(xid) for xid in range(CALLS))  # all, in order
        round_trips = [b - s for s, b in zip(sent, back, strict=True)]
        assert min(round_trips) >= 2 * ONE_WAY_S
        # A proxy that slept before forwarding each chunk held the next ones back while it
        # slept (here 1.5 times the delay each way); latency overlaps them. Half a delay of slack
        # each side for a busy machine.
        assert max(round_trips) < 2.5 * ONE_WAY_S, round_trips
        assert proxy.reset(settle_s=0) == {"NFS.NULL": CALLS}
    finally:
        proxy.close()


def test_server_time_is_the_time_some_call_was_at_the_server(echo_port: int) -> None:
    proxy = RpcCounter("127.0.0.1", [echo_port])
    try:
        # Two calls in flight together, then one alone after a gap.
        proxy._at_server += [(1.0, 1.4), (1.1, 1.3), (2.0, 2.5)]
        assert proxy.server_time() == pytest.approx(0.9)
        assert proxy.server_time() == 0.0  # and a fresh start
    finally:
        proxy.close()
