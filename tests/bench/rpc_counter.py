"""A TCP proxy that counts ONC-RPC calls by program and procedure, and can add a fixed one-way
delay to each direction (``tc netem`` is not available on these machines) to stand in for the
network between a Lambda and its storage cluster."""

from __future__ import annotations

import collections
import contextlib
import socket
import struct
import threading
import time

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
        self._listeners = []
        self.ports: dict[int, int] = {}
        for target in target_ports:
            listener = socket.create_server((host, 0))
            self._listeners.append(listener)
            self.ports[target] = listener.getsockname()[1]
            threading.Thread(target=self._accept, args=(listener, target), daemon=True).start()

    def reset(self, settle_s: float = 0.2) -> collections.Counter[str]:
        """The counts so far, and a fresh start. Waits ``settle_s`` first: the function sends its
        last REMOVE without waiting for the reply, and it belongs to the window that sent it."""
        time.sleep(settle_s)
        with self._lock:
            counts, self.counts = self.counts, collections.Counter()
        return counts

    def _accept(self, listener: socket.socket, target: int) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection((self.host, target))
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        buffer = b""
        need_header = True  # at the start of a record: the first fragment carries the call header
        try:
            while data := src.recv(65536):
                if self.delay:
                    _sleep_precisely(self.delay)
                dst.sendall(data)
                if not count:
                    continue
                buffer += data
                while len(buffer) >= 4:
                    mark = struct.unpack(">I", buffer[:4])[0]
                    length, last = mark & 0x7FFFFFFF, bool(mark & 0x80000000)
                    if len(buffer) < 4 + length:
                        break
                    fragment, buffer = buffer[4 : 4 + length], buffer[4 + length :]
                    if need_header and len(fragment) >= 24:
                        _xid, mtype, _vers, prog, _pvers, proc = struct.unpack(">6I", fragment[:24])
                        if mtype == 0:
                            with self._lock:
                                self.counts[call_name(prog, proc)] += 1
                    need_header = last
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        for listener in self._listeners:
            listener.close()


def _sleep_precisely(seconds: float) -> None:
    # time.sleep overshoots sub-millisecond delays by tens of microseconds: finish by spinning.
    # (Spinning holds the GIL: run a delaying proxy in a process of its own, see main().)
    end = time.perf_counter() + seconds
    if seconds > 0.002:
        time.sleep(seconds - 0.001)
    while time.perf_counter() < end:
        pass


def main() -> None:
    """``python -m tests.bench.rpc_counter HOST DELAY_S PORT...``: prints the port map as JSON,
    then forwards until killed."""
    import json
    import sys

    host, delay, *ports = sys.argv[1:]
    proxy = RpcCounter(host, [int(p) for p in ports], float(delay))
    print(json.dumps(proxy.ports), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
