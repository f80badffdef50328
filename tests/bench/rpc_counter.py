"""A TCP proxy that counts ONC-RPC calls by program and procedure, and can add a fixed one-way
delay to each direction (``tc netem`` is not available on these machines) to stand in for the
network between a Lambda and its storage cluster.

The delay is latency, not a slower link: every chunk is sent on ``delay`` after it arrived, so
requests sent together (pipelined) arrive together, each delayed once, as on a network."""

from __future__ import annotations

import collections
import contextlib
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable

from tests.relay import relay_listener

PROGRAMS = {100003: "NFS", 100005: "MOUNT", 100000: "PORTMAP"}
NFS3_PROCS = [
    "NULL",
    "GETATTR",
    "SETATTR",
    "LOOKUP",
    "ACCESS",
    "READLINK",
    "READ",
    "WRITE",
    "CREATE",
    "MKDIR",
    "SYMLINK",
    "MKNOD",
    "REMOVE",
    "RMDIR",
    "RENAME",
    "LINK",
    "READDIR",
    "READDIRPLUS",
    "FSSTAT",
    "FSINFO",
    "PATHCONF",
    "COMMIT",
]
MOUNT_PROCS = ["NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT"]


def call_name(program: int, procedure: int) -> str:
    names = NFS3_PROCS if program == 100003 else MOUNT_PROCS if program == 100005 else []
    proc = names[procedure] if procedure < len(names) else str(procedure)
    return f"{PROGRAMS.get(program, program)}.{proc}"


class RpcCounter:
    """Listens on free loopback ports, one per target port, and forwards to the targets."""

    def __init__(self, host: str, target_ports: list[int], one_way_delay_s: float = 0.0) -> None:
        self.host = host
        self.delay = one_way_delay_s
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        # (forwarded to the server, its reply back at the proxy) for each call answered
        self._at_server: list[tuple[float, float]] = []
        self._listeners = []
        self.ports: dict[int, int] = {}
        for target in target_ports:
            listener = relay_listener(host, target, self._connected, nodelay=True)
            self._listeners.append(listener)
            self.ports[target] = listener.getsockname()[1]

    def reset(self, settle_s: float = 0.2) -> collections.Counter[str]:
        """The counts so far, and a fresh start. Waits ``settle_s`` first: the function sends its
        last REMOVE without waiting for the reply, and it belongs to the window that sent it."""
        time.sleep(settle_s)
        with self._lock:
            counts, self.counts = self.counts, collections.Counter()
        return counts

    def server_time(self) -> float:
        """Seconds with at least one call at the server (forwarded, its reply not yet back) since
        the last time: how long the server kept its clients waiting, as the proxy sees it."""
        with self._lock:
            spans, self._at_server = sorted(self._at_server), []
        total, covered_until = 0.0, float("-inf")
        for start, end in spans:
            start = max(start, covered_until)
            if end > start:
                total += end - start
                covered_until = end
        return total

    def _connected(self, client: socket.socket, server: socket.socket) -> None:
        sent: dict[int, float] = {}  # xid -> when the call went on to the server
        threading.Thread(target=self._pipe, args=(client, server, sent, True), daemon=True).start()
        threading.Thread(target=self._pipe, args=(server, client, sent, False), daemon=True).start()

    def _pipe(
        self, src: socket.socket, dst: socket.socket, sent: dict[int, float], calls: bool
    ) -> None:
        """Forwards src to dst; reads the record headers on the way: calls (from the client) are
        counted, and each call's time at the server taken from its reply (from the server)."""

        def close() -> None:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

        line = _DelayLine(dst, self.delay, close) if self.delay else None
        buffer = b""
        need_header = True  # at the start of a record: the first fragment carries the call header
        try:
            while data := src.recv(65536):
                now = time.perf_counter()
                if line is not None:
                    line.put(data)
                else:
                    dst.sendall(data)
                buffer += data
                while len(buffer) >= 4:
                    mark = struct.unpack(">I", buffer[:4])[0]
                    length, last = mark & 0x7FFFFFFF, bool(mark & 0x80000000)
                    if len(buffer) < 4 + length:
                        break
                    fragment, buffer = buffer[4 : 4 + length], buffer[4 + length :]
                    if need_header and len(fragment) >= 8:
                        self._header(fragment, now, sent, calls)
                    need_header = last
        except OSError:
            pass
        finally:
            if line is not None:
                line.end()  # closes once what is in flight has been delivered
            else:
                close()

    def _header(self, fragment: bytes, now: float, sent: dict[int, float], calls: bool) -> None:
        xid, mtype = struct.unpack(">2I", fragment[:8])
        if calls and mtype == 0 and len(fragment) >= 24:
            _vers, prog, _pvers, proc = struct.unpack(">4I", fragment[8:24])
            sent[xid] = now + self.delay  # what the delay line holds back is not at the server
            with self._lock:
                self.counts[call_name(prog, proc)] += 1
        elif not calls and mtype == 1 and (forwarded := sent.pop(xid, None)) is not None:
            with self._lock:
                self._at_server.append((forwarded, now))

    def close(self) -> None:
        for listener in self._listeners:
            listener.close()


class _DelayLine:
    """Sends each chunk to ``dst`` ``delay`` seconds after it was put, in order, from a thread
    of its own (so the reader keeps reading: chunks in flight overlap, as on a network)."""

    def __init__(self, dst: socket.socket, delay: float, on_end: Callable[[], None]) -> None:
        self.dst, self.delay, self.on_end = dst, delay, on_end
        self.queue: queue.SimpleQueue[tuple[float, bytes] | None] = queue.SimpleQueue()
        threading.Thread(target=self._run, daemon=True).start()

    def put(self, data: bytes) -> None:
        self.queue.put((time.perf_counter() + self.delay, data))

    def end(self) -> None:
        self.queue.put(None)

    def _run(self) -> None:
        try:
            while (item := self.queue.get()) is not None:
                due, data = item
                _sleep_until(due)
                self.dst.sendall(data)
        except OSError:
            pass
        finally:
            self.on_end()


def _sleep_until(due: float) -> None:
    # time.sleep overshoots by about 0.1 ms here: sleep short, then spin the rest, no longer
    # (spinning takes a core from a 2-core machine, and holds the GIL: run a delaying proxy in a
    # process of its own, see main()).
    left = due - time.perf_counter()
    if left > 0.0002:
        time.sleep(left - 0.00015)
    while time.perf_counter() < due:
        pass


def main() -> None:
    """``python -m tests.bench.rpc_counter HOST DELAY_S LABEL[,LABEL...] PORT...``: one proxy per
    label (each counts its own calls), all adding DELAY_S each way. Prints {label: {target port:
    proxy port}} as JSON, then answers each ``counts`` line on stdin with {label: {"calls":
    {call: count}, "server_s": server_time()}} as JSON (and starts counting afresh); exits when
    stdin closes."""
    import json
    import sys

    sys.setswitchinterval(0.0001)  # a spinning delay line must not hold up the readers
    host, delay, labels, *ports = sys.argv[1:]
    proxies = {
        label: RpcCounter(host, [int(p) for p in ports], float(delay))
        for label in labels.split(",")
    }
    print(json.dumps({label: p.ports for label, p in proxies.items()}), flush=True)
    for command in sys.stdin:
        if command.strip() == "counts":
            counts = {
                label: {"calls": dict(p.reset(settle_s=0)), "server_s": p.server_time()}
                for label, p in proxies.items()
            }
            print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
