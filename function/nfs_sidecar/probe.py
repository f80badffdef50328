"""The post-deploy probe: what a notification does, step by step, leaving nothing behind.

``scripts/check_deployment.py`` invokes the function directly with ``{"nfs_sidecar_probe": {...}}``.
SNS and SQS deliver only ``{"Records": [...]}`` events, and a publisher controls nothing but a
record's message: a notification can never be a probe. The probe resolves the server, connects
to its ports (asking the portmapper when they are not configured), times an RPC round trip,
mounts with the configured identity, looks up a folder, creates a file there, writes it with
FILE_SYNC and removes it. Each step reports ok or its failure with the fix (the words of
docs/operations.md's troubleshooting table); the whole probe ends within the invocation's
time, also against a server that drops SYNs.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from .config import Config
from .errors import (
    MountError,
    NfsConnectionError,
    NfsError,
    NfsStatusError,
    NfsTimeout,
    ProbeRequestError,
)
from .nfs.client import NfsClient

PROBE_KEY = "nfs_sidecar_probe"
# Kept for the answer, the log line and Lambda's own work after the probe.
RESERVE_S = 0.3
PORTMAPPER = 111
NFS_PROGRAM, MOUNT_PROGRAM = 100003, 100005
FOLDER_PART_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~+- "
)

FIX_DNS = (
    "the function cannot resolve NFS_SERVER: the VPC's DHCP options name DNS servers the "
    "security group does not reach (give them in dns_server_cidrs), or the name is wrong; "
    "or give the server as an IPv4 address"
)
FIX_NO_ANSWER = (
    "no route or a security group drops the traffic: the subnets must route to the VIPs, the "
    "cluster must accept TCP {ports} from the function's security group, and nfs_cluster_cidrs "
    "must cover the server's address"
)
FIX_REFUSED = (
    "nothing listens on {port} at the server: check nfs_port/nfs_mount_port (VAST: 2049 for "
    "both) and that the server is up"
)
FIX_PORTMAPPER = (
    "the portmapper (111) does not answer: set nfs_port and nfs_mount_port (VAST: both 2049), "
    "or allow TCP 111 to the cluster"
)
FIX_INSECURE = (
    "the cluster refuses non-privileged source ports: `vtool vsettings set "
    "NFS_ALLOW_INSECURE_PORTS=true`; check the view policy admits the function's subnets"
)
FIX_MOUNT = (
    "NFS_EXPORT must be the view's path, and the view policy must allow this client "
    "(MNT3ERR_NOENT: wrong path; MNT3ERR_ACCES: view policy)"
)
FIX_ACCES = (
    "the identity the function presents may not write in that folder: set nfs_uid/nfs_gid, or "
    "the folder's permissions / the view's squash setting"
)
FIX_NOENT = "the folder does not exist in the export: give --folder relative to NFS_EXPORT"


def folder_parts(request: Any) -> list[str]:
    """The folder to probe, relative to the export ("" or absent: the export's root)."""
    folder = request.get("folder", "") if isinstance(request, dict) else None
    if not isinstance(folder, str) or len(folder) > 1024:
        raise ProbeRequestError("folder must be a path of at most 1024 characters")
    parts = [p for p in folder.split("/") if p not in ("", ".")]
    for part in parts:
        if part == ".." or not set(part) <= FOLDER_PART_CHARS:
            raise ProbeRequestError(f"folder part {part!r}: letters, digits and '._~+- ' only")
    return parts


class Probe:
    def __init__(self, config: Config, remaining_s: float) -> None:
        self.config = config
        self.deadline = time.monotonic() + max(0.1, remaining_s - RESERVE_S)
        self.steps: list[dict[str, Any]] = []
        self._last_port: int | None = None  # the port the connect step tried last, for its fix
        self.report: dict[str, Any] = {
            "probe": "nfs-sidecar",
            "server": config.server,
            "export": config.export,
            # libnfs presents the process's own ids unless NFS_UID/NFS_GID are set.
            "uid": config.uid if config.uid is not None else os.getuid(),
            "gid": config.gid if config.gid is not None else os.getgid(),
            "nfs_timeout_ms": config.timeout_ms,
        }

    def left_s(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def timeout_s(self) -> float:
        return max(0.01, min(self.config.timeout_ms / 1000, self.left_s()))

    def step(self, name: str, action: Callable[[], Any], fix: Callable[[Exception], str]) -> Any:
        """Runs one step; records ok (and what it found) or the failure with its fix."""
        started = time.monotonic()
        try:
            found = action()
        except Exception as exc:
            elapsed = round((time.monotonic() - started) * 1000, 1)
            self.steps.append(
                {
                    "step": name,
                    "ok": False,
                    "ms": elapsed,
                    "error_type": type(exc).__name__,
                    "error": str(exc),
                    "fix": fix(exc),
                }
            )
            raise _Stop from exc
        entry: dict[str, Any] = {
            "step": name,
            "ok": True,
            "ms": round((time.monotonic() - started) * 1000, 1),
        }
        if isinstance(found, dict):
            entry.update(found)
        self.steps.append(entry)
        return found

    def run(self, parts: list[str]) -> dict[str, Any]:
        self.report["folder"] = "/".join(parts)
        client: NfsClient | None = None
        try:
            address = self.step("resolve", self._resolve, lambda e: FIX_DNS)["address"]
            ports = self.step("connect", lambda: self._connect(address), self._connect_fix)
            self.report.update(
                nfs_port=ports["nfs_port"],
                mount_port=ports["mount_port"],
                ports_from=ports["ports_from"],
                round_trip_ms=ports["round_trip_ms"],
            )
            client = self.step("mount", self._mount, self._mount_fix)["client"]
            self.steps[-1].pop("client")
            folder = self.step("lookup", lambda: self._lookup(client, parts), self._status_fix)
            self._create_write_remove(client, folder["fh"])
        except _Stop:
            pass
        finally:
            if client is not None:
                self.report["nfs_calls"] = client.rpc_count
                client.close()
        for entry in self.steps:
            entry.pop("fh", None)
        self.report["steps"] = self.steps
        self.report["ok"] = all(s["ok"] for s in self.steps) and len(self.steps) == 7
        failed = next((s for s in self.steps if not s["ok"]), None)
        if failed is not None:
            self.report["failed_step"] = failed["step"]
        return self.report

    # --- the steps ---

    def _resolve(self) -> dict[str, Any]:
        found: list[str] = []
        errors: list[BaseException] = []

        def lookup() -> None:
            try:
                # ASCII bytes (config.py allows nothing else): no idna codec to load.
                host = self.config.server.encode("ascii")
                found.append(str(socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0]))
            except BaseException as exc:
                errors.append(exc)

        # getaddrinfo has no timeout of its own: bounded by the probe's time.
        worker = threading.Thread(target=lookup, daemon=True)
        worker.start()
        wait_s = self.timeout_s()
        worker.join(wait_s)
        if errors:
            raise NfsConnectionError(f"cannot resolve {self.config.server}: {errors[0]}")
        if not found:
            raise NfsTimeout(
                f"cannot resolve {self.config.server}: no answer within {wait_s * 1000:.0f} ms"
            )
        return {"address": found[0]}

    def _connect(self, address: str) -> dict[str, Any]:
        nfs_port, mount_port = self.config.nfs_port, self.config.mount_port
        ports_from = "configured"
        if not nfs_port or not mount_port:
            ports_from = "portmapper"
            self._last_port = PORTMAPPER
            nfs_port = nfs_port or self._getport(address, NFS_PROGRAM)
            mount_port = mount_port or self._getport(address, MOUNT_PROGRAM)
        self._last_port = mount_port
        self._rpc_null(address, mount_port, MOUNT_PROGRAM)
        self._last_port = nfs_port
        round_trip_ms = self._rpc_null(address, nfs_port, NFS_PROGRAM)
        return {
            "address": address,
            "nfs_port": nfs_port,
            "mount_port": mount_port,
            "ports_from": ports_from,
            "round_trip_ms": round_trip_ms,
        }

    def _mount(self) -> dict[str, Any]:
        c = self.config
        # The ports the connect step reached (the portmapper's answer when not configured).
        client = NfsClient(
            c.server,
            c.export,
            nfs_port=self.report["nfs_port"],
            mount_port=self.report["mount_port"],
            uid=c.uid,
            gid=c.gid,
            timeout_ms=max(1, int(self.timeout_s() * 1000)),
            deadline=self.deadline,
        )
        return {"client": client}

    def _lookup(self, client: NfsClient, parts: list[str]) -> dict[str, Any]:
        fh = client.root
        for part in parts:
            entry = client.call(client.lookup(fh, part))
            if entry.attributes is not None and not entry.attributes.is_dir:  # type: ignore[attr-defined]
                raise NfsError(f"LOOKUP {part}: not a folder")
            fh = entry.fh  # type: ignore[attr-defined]
        return {"fh": fh}

    def _create_write_remove(self, client: NfsClient, folder_fh: bytes) -> None:
        name = f".nfs-sidecar-probe-{os.urandom(6).hex()}"
        created = self.step(
            "create",
            lambda: {"fh": client.call(client.create(folder_fh, name)).fh, "file": name},  # type: ignore[attr-defined]
            self._status_fix,
        )
        try:
            self.step(
                "write",
                lambda: {"bytes": client.call(client.write(created["fh"], 0, b"probe\n"))},
                self._status_fix,
            )
        finally:
            # Removed also after a failed write; a connection lost in between leaves the name in
            # the report, to be removed by hand.
            remove = client.remove
            self.step("remove", lambda: client.call(remove(folder_fh, name)), self._status_fix)

    # --- raw ONC-RPC over TCP, for the ports and the round trip ---

    def _rpc(self, address: str, port: int, call: bytes, need: int = 28) -> tuple[bytes, float]:
        """One call on a fresh TCP connection -> (reply with its record mark, round trip ms)."""
        timeout = self.timeout_s()
        try:
            # Not create_connection: its getaddrinfo loads the idna codec even for an address.
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect((address, port))
                s.settimeout(self.timeout_s())
                started = time.monotonic()
                s.sendall(struct.pack(">I", 0x80000000 | len(call)) + call)
                reply = b""
                while len(reply) < need:
                    chunk = s.recv(256)
                    if not chunk:
                        raise NfsConnectionError(f"TCP {address}:{port}: closed without a reply")
                    reply += chunk
                return reply, round((time.monotonic() - started) * 1000, 2)
        except TimeoutError as exc:
            raise NfsTimeout(
                f"TCP {address}:{port}: no answer within {timeout * 1000:.0f} ms"
            ) from exc
        except ConnectionRefusedError as exc:
            raise NfsConnectionError(f"TCP {address}:{port}: connection refused") from exc
        except OSError as exc:
            raise NfsConnectionError(f"TCP {address}:{port}: {exc}") from exc

    def _rpc_null(self, address: str, port: int, program: int) -> float:
        call = struct.pack(">10I", 0x5EED, 0, 2, program, 3, 0, 0, 0, 0, 0)
        reply, elapsed = self._rpc(address, port, call)
        accept_stat = struct.unpack(">I", reply[24:28])[0]
        if accept_stat != 0:
            raise NfsConnectionError(f"port {port}: NULL call refused (accept_stat {accept_stat})")
        return elapsed

    def _getport(self, address: str, program: int) -> int:
        # PMAPPROC_GETPORT(program, version 3, TCP)
        call = struct.pack(">10I", 0x5EEE, 0, 2, 100000, 2, 3, 0, 0, 0, 0)
        call += struct.pack(">4I", program, 3, 6, 0)
        reply, _ = self._rpc(address, PORTMAPPER, call, need=32)
        port: int = struct.unpack(">I", reply[28:32])[0]
        if not port:
            raise NfsConnectionError(f"portmapper: program {program} v3 over TCP not registered")
        return port

    # --- fixes ---

    def _connect_fix(self, exc: Exception) -> str:
        port = self._last_port
        if port == PORTMAPPER:
            return FIX_PORTMAPPER
        if "connection refused" in str(exc):
            return FIX_REFUSED.format(port=port)
        configured = (self.config.nfs_port, self.config.mount_port)
        ports = " and ".join(str(p) for p in dict.fromkeys(configured) if p)
        return FIX_NO_ANSWER.format(ports=ports or "2049 and 111")

    def _mount_fix(self, exc: Exception) -> str:
        text = str(exc)
        if "NFS_ALLOW_INSECURE_PORTS" in text:
            return FIX_INSECURE
        if "no answer within" in text or isinstance(exc, NfsConnectionError):
            return FIX_NO_ANSWER.format(ports="2049")
        if isinstance(exc, MountError):
            return FIX_MOUNT
        return "see the troubleshooting table in docs/operations.md"

    def _status_fix(self, exc: Exception) -> str:
        if isinstance(exc, NfsStatusError):
            if exc.status_name == "NFS3ERR_ACCES":
                return FIX_ACCES
            if exc.status_name == "NFS3ERR_NOENT":
                return FIX_NOENT
            return str(exc)
        if isinstance(exc, NfsConnectionError):
            return "the cluster stopped answering mid-probe: check the cluster and the network"
        return "see the troubleshooting table in docs/operations.md"


class _Stop(Exception):
    """A step failed: the later steps cannot run."""


def run_probe(config: Config, request: Any, context: Any = None) -> dict[str, Any]:
    """The probe's report (never raises for an NFS failure: the report says it)."""
    parts = folder_parts(request)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    remaining_s = remaining() / 1000 if remaining else config.timeout_ms * 4 / 1000
    return Probe(config, remaining_s).run(parts)


def answer(handler: Any, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The handler's answer to a probe event: the report, also logged as one line."""
    report = run_probe(handler.config, event[PROBE_KEY], context)
    handler.log("INFO" if report["ok"] else "WARN", outcome="probe", report=report)
    return report
