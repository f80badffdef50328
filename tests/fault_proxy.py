"""An ONC-RPC-aware TCP proxy between an NFS client and a real server, injecting faults.

It forwards the NFS and MOUNT ports of a server. Each call the client sends is read whole (record
marks), named by program and procedure (``NFS.LINK``, ``MOUNT.MNT``) and counted; a ``Fault``
armed for that procedure and occurrence then acts on it instead of plain forwarding:

- ``status``: answer the call itself with an ``NFS3ERR_*`` status (the server never sees it);
- ``delay``: forward it after ``delay_s``;
- ``stall``: never forward nor answer it (a server that stopped answering);
- ``drop_before``: close the connection instead of forwarding it;
- ``drop_after``: forward it, let the server do it, and close the connection instead of
  passing the reply on (the client cannot know whether it was done);
- ``hook``: call ``hook()`` (e.g. SIGSTOP the server), then forward it;
- ``hook_swallow``: call ``hook()`` (e.g. SIGKILL the client) and never forward it;
- ``hook_on_reply``: forward it and, when the server's reply comes, call ``hook()`` instead of
  passing the reply on (the server did it; the client never learns it);
- ``rewrite_reply``: forward it and pass the server's reply on as ``rewrite(payload)`` makes it.

``record`` keeps the payload of every call of the procedures it names (``calls_seen``).

Besides faults per call: ``silence_connections`` makes the connections open so far discard
everything both ways while staying open (no FIN, no RST: what a NAT or load balancer that forgot
an idle flow does); ``syn_dropping_listener`` gives a port whose SYNs go unanswered.

Standard library only (the function tests run under every Lambda Python with just pytest).
"""

from __future__ import annotations

import collections
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tests.bench.rpc_counter import call_name
from tests.relay import relay_listener

ACTIONS = (
    "status",
    "delay",
    "stall",
    "drop_before",
    "drop_after",
    "hook",
    "hook_swallow",
    "hook_on_reply",
    "rewrite_reply",
)

# A failed NFSv3 reply is the status and then the *3resfail arm: post_op_attr (one word when no
# attributes follow) and wcc_data (two words) - this many zero words per procedure.
RESFAIL_WORDS = {
    "GETATTR": 0,
    "SETATTR": 2,
    "LOOKUP": 1,
    "ACCESS": 1,
    "READ": 1,
    "WRITE": 2,
    "CREATE": 2,
    "MKDIR": 2,
    "REMOVE": 2,
    "RMDIR": 2,
    "RENAME": 4,
    "LINK": 3,
    "READDIR": 1,
    "READDIRPLUS": 1,
    "FSSTAT": 1,
    "FSINFO": 1,
    "PATHCONF": 1,
    "COMMIT": 2,
}


@dataclass
class Fault:
    procedure: str  # "NFS.LINK", "MOUNT.MNT", ...
    action: str
    occurrence: int = 1  # the first call it hits, counted from 1 since the proxy was armed
    times: int | None = 1  # how many calls in a row; None: every one from then on
    status: int = 0  # for "status"
    delay_s: float = 0.0  # for "delay"
    hook: Callable[[], None] | None = None  # for the hook actions
    rewrite: Callable[[bytes], bytes] | None = None  # for "rewrite_reply": the reply's payload

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")

    def hits(self, count: int) -> bool:
        return count >= self.occurrence and (
            self.times is None or count < self.occurrence + self.times
        )


def _read_record(sock: socket.socket, pending: bytearray) -> tuple[bytes, bytes] | None:
    """One whole record: (its bytes as received, with marks; its payload); None at EOF."""
    raw, payload = bytearray(), bytearray()
    while True:
        while len(pending) < 4:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            pending += chunk
        mark = struct.unpack(">I", pending[:4])[0]
        length, last = mark & 0x7FFFFFFF, bool(mark & 0x80000000)
        while len(pending) < 4 + length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            pending += chunk
        raw += pending[: 4 + length]
        payload += pending[4 : 4 + length]
        del pending[: 4 + length]
        if last:
            return bytes(raw), bytes(payload)


def status_reply(xid: int, procedure: str, status: int) -> bytes:
    """An accepted RPC reply carrying a failed NFSv3 (or MOUNT) result."""
    words = RESFAIL_WORDS.get(procedure.split(".", 1)[1], 0) if procedure.startswith("NFS.") else 0
    # xid, REPLY, MSG_ACCEPTED, verifier AUTH_NONE (flavor, length), SUCCESS, status, resfail
    body = struct.pack(f">7I{words}I", xid, 1, 0, 0, 0, 0, status, *([0] * words))
    return struct.pack(">I", 0x80000000 | len(body)) + body


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy, self.client, self.server = proxy, client, server
        self.send_lock = threading.Lock()
        self.drop_on_reply: set[int] = set()
        self.hook_on_reply: dict[int, Callable[[], None]] = {}
        self.rewrite_reply: dict[int, Callable[[bytes], bytes]] = {}
        self.closed = False
        self.silent = False  # discard both ways, keep the sockets open

    def close(self) -> None:
        self.closed = True
        for s in (self.client, self.server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def to_client(self, data: bytes) -> None:
        with self.send_lock:
            self.client.sendall(data)

    def calls(self) -> None:
        pending = bytearray()
        try:
            while (record := _read_record(self.client, pending)) is not None:
                raw, payload = record
                if self.silent:
                    continue
                if len(payload) < 24:
                    self.server.sendall(raw)
                    continue
                xid, mtype, _rpcvers, prog, _vers, proc = struct.unpack(">6I", payload[:24])
                if mtype != 0:
                    self.server.sendall(raw)
                    continue
                name = call_name(prog, proc)
                if name in self.proxy.record:
                    self.proxy.calls_seen.append((name, payload))
                fault = self.proxy._next_fault(name)
                if fault is None:
                    self.server.sendall(raw)
                elif fault.action == "status":
                    self.to_client(status_reply(xid, name, fault.status))
                elif fault.action == "delay":
                    time.sleep(fault.delay_s)
                    self.server.sendall(raw)
                elif fault.action == "stall":
                    pass  # swallowed: no reply will ever come
                elif fault.action == "drop_before":
                    return
                elif fault.action == "drop_after":
                    self.drop_on_reply.add(xid)
                    self.server.sendall(raw)
                elif fault.action == "hook":
                    assert fault.hook is not None
                    fault.hook()
                    self.server.sendall(raw)
                elif fault.action == "hook_swallow":
                    assert fault.hook is not None
                    fault.hook()
                elif fault.action == "hook_on_reply":
                    assert fault.hook is not None
                    self.hook_on_reply[xid] = fault.hook
                    self.server.sendall(raw)
                elif fault.action == "rewrite_reply":
                    assert fault.rewrite is not None
                    self.rewrite_reply[xid] = fault.rewrite
                    self.server.sendall(raw)
        except OSError:
            pass
        finally:
            self.close()

    def replies(self) -> None:
        pending = bytearray()
        try:
            while (record := _read_record(self.server, pending)) is not None:
                raw, payload = record
                if self.silent:
                    continue
                xid = struct.unpack(">I", payload[:4])[0] if len(payload) >= 4 else None
                if xid in self.drop_on_reply:
                    return  # done by the server, and the client never learns it
                hook = self.hook_on_reply.pop(xid, None) if xid is not None else None
                if hook is not None:
                    hook()
                    continue
                rewrite = self.rewrite_reply.pop(xid, None) if xid is not None else None
                if rewrite is not None:
                    body = rewrite(payload)
                    raw = struct.pack(">I", 0x80000000 | len(body)) + body
                self.to_client(raw)
        except OSError:
            pass
        finally:
            self.close()


class FaultProxy:
    """Listens on free loopback ports standing in for a server's NFS and MOUNT ports."""

    def __init__(self, host: str, nfs_port: int, mount_port: int) -> None:
        self.host = host
        self.counts: collections.Counter[str] = collections.Counter()
        self.applied: list[tuple[str, int, str]] = []  # (procedure, occurrence, action)
        self.record: set[str] = set()  # procedures whose calls are kept in calls_seen
        self.calls_seen: list[tuple[str, bytes]] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._silenced: list[_Link] = []
        self._listeners: list[socket.socket] = []
        self.nfs_port = self._listen(nfs_port)
        self.mount_port = self._listen(mount_port)

    def _listen(self, target: int) -> int:
        listener = relay_listener(self.host, target, self._connected)
        self._listeners.append(listener)
        return listener.getsockname()[1]

    def _connected(self, client: socket.socket, server: socket.socket) -> None:
        link = _Link(self, client, server)
        with self._lock:
            self._links = [lk for lk in self._links if not lk.closed] + [link]
        threading.Thread(target=link.calls, daemon=True).start()
        threading.Thread(target=link.replies, daemon=True).start()

    def arm(self, *faults: Fault) -> None:
        """Replaces the faults and starts counting calls afresh."""
        with self._lock:
            self._faults = list(faults)
            self.counts.clear()
            self.applied.clear()

    def disarm(self) -> None:
        self.arm()

    def _next_fault(self, procedure: str) -> Fault | None:
        with self._lock:
            self.counts[procedure] += 1
            count = self.counts[procedure]
            for fault in self._faults:
                if fault.procedure == procedure and fault.hits(count):
                    self.applied.append((procedure, count, fault.action))
                    return fault
        return None

    def silence_connections(self) -> int:
        """The connections open now go silent (see the module's doc) -> how many; new ones work."""
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.silent = True
        self._silenced.extend(links)  # closed with the proxy
        return len(links)

    def drop_connections(self) -> None:
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()

    def close(self) -> None:
        for listener in self._listeners:
            listener.close()
        self.drop_connections()
        for link in self._silenced:
            link.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def syn_dropping_listener(host: str = "127.0.0.1") -> Iterator[int]:
    """A port whose SYNs go unanswered: a listener with a backlog of one that is never accepted,
    its queue filled by two connections first (Linux drops SYNs to a full accept queue). What a
    dropping security group, a missing route or a dead address looks like to a client."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind((host, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(2):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((host, port))
            fillers.append(filler)
        # Wait until a further connect gets no answer (the queue is full).
        deadline = time.monotonic() + 10
        while True:
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.settimeout(0.2)
            try:
                probe.connect((host, port))
            except TimeoutError:
                break
            except OSError:
                pass
            finally:
                probe.close()
            if time.monotonic() > deadline:
                raise RuntimeError("could not fill the listener's accept queue")
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()
