"""A real NFS server for tests: nfs-ganesha (userspace, FSAL VFS) on loopback.

One server, two NFSv3 exports, each a local folder the tests can fill directly:
- ``open``: accepts clients from non-privileged source ports (like VAST with
  NFS_ALLOW_INSECURE_PORTS=true);
- ``secure``: refuses them (VAST's default), so an unprivileged client cannot mount it.

Clients mount an export by its pseudo path (``/open``, ``/secure``; ``Mount_Path_Pseudo``), not by
the local folder's path: the export path stays short and valid (no spaces, ASCII) wherever the
folder lives, e.g. in a checkout whose path has a space or a non-ASCII letter in it.

Ports are picked free at start and passed to clients explicitly (no portmapper lookups), so
several servers can run side by side. ganesha must run as root; with NFSv3 it registers with
rpcbind, which is started here when it is not already running.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests import tiers

GANESHA = "ganesha.nfsd"
INSTALL_HINT = "run `make deps` (apt-get install nfs-ganesha nfs-ganesha-vfs rpcbind)"

EXPORT_BLOCK = """
EXPORT {{
  Export_Id = {export_id};
  Path = "{path}";
  Pseudo = "/{name}";
  Access_Type = RW;
  Squash = No_Root_Squash;
  SecType = sys;
  Protocols = 3;
  Transports = TCP;
  PrivilegedPort = {privileged};
  # Tests touch the exported folders directly: never serve cached attributes.
  Attr_Expiration_Time = 0;
  FSAL {{ Name = VFS; }}
}}
"""

CORE_BLOCK = """
NFS_CORE_PARAM {{
  Bind_Addr = {host};
  NFS_Port = {nfs_port};
  MNT_Port = {mount_port};
  NLM_Port = {nlm_port};
  Rquota_Port = {rquota_port};
  Protocols = 3;
  # NFSv3 clients mount the Pseudo path, which does not depend on where the folder lives.
  Mount_Path_Pseudo = true;
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Dbus_Name_Prefix = "{dbus_prefix}";{core_extra}
}}
# Graceless: a restart must not block writes for 90 s with NFS3ERR_JUKEBOX.
NFSv4 {{ Graceless = true; RecoveryRoot = "{recovery}"; }}
NFS_KRB5 {{ Active_krb5 = false; }}
# ganesha 6 answers a LOOKUP of a folder replaced behind its back (the tests do that on disk) with
# the old folder's cached handle unless its directory entries are not cached.
MDCACHE {{ Dir_Chunk = 0; }}
"""


# ganesha logs a refused block (EXPORT, FSAL, ...) and goes on without it.
CONFIG_REFUSED = re.compile(r":CONFIG :CRIT :(Config File .*errors? |Could not create export)")
# The lines saying why: the refusal and the FSAL/export errors before it.
REFUSAL_DETAIL = re.compile(r":(CONFIG|FSAL|EXPORT) :(CRIT|MAJ) :")


def _mounts() -> list[str]:
    try:
        return Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []


# ganesha 5+ (Debian 13 has 6.5) exits when it may not set PR_SET_IO_FLUSHER (no
# CAP_SYS_RESOURCE, as in containers) unless allowed to go on; ganesha 4.3 (Debian 12) does not
# know the setting and logs it as a critical configuration error: only given to 5 and newer.
IO_FLUSHER_SINCE = (5, 0)
IO_FLUSHER = "\n  Allow_Set_Io_Flusher_Fail = true;"


def ganesha_version() -> tuple[int, ...] | None:
    """(6, 5) for ganesha 6.5 (`ganesha.nfsd -v`: "NFS-Ganesha Release = V6.5"); None if unknown."""
    try:
        out = subprocess.run([GANESHA, "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"Release = V(\d+)\.(\d+)", out)
    return (int(m[1]), int(m[2])) if m else None


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the test process dies, even by SIGKILL."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def rpc_null_ok(host: str, port: int, program: int = 100003, version: int = 3) -> bool:
    """Sends an ONC-RPC NULL call over TCP; True when the server accepts it."""
    xid = 0x5EED
    call = struct.pack(">10I", xid, 0, 2, program, version, 0, 0, 0, 0, 0)
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(struct.pack(">I", 0x80000000 | len(call)) + call)
            reply = b""
            while len(reply) < 4 + 24:
                chunk = s.recv(64)
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    rxid, mtype, reply_stat, _flavor, _len, accept_stat = struct.unpack(">6I", reply[4:28])
    return rxid == xid and mtype == 1 and reply_stat == 0 and accept_stat == 0


@dataclass(frozen=True)
class Export:
    name: str
    local: Path  # the exported folder, on this machine
    privileged_only: bool

    @property
    def path(self) -> str:
        """The export path a client mounts: the pseudo path (see Mount_Path_Pseudo)."""
        return f"/{self.name}"


class NfsServer:
    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        tiers.require("an NFS server (nfs-ganesha, as root)", "nfs")
        if shutil.which(GANESHA) is None:
            raise RuntimeError(f"{GANESHA} not found: {INSTALL_HINT}")
        if os.geteuid() != 0:
            raise RuntimeError(
                "nfs-ganesha serves its exports only as root: run the tests and `make demo` as "
                "root (e.g. `sudo make test`)"
            )
        unquotable = sorted({c for c in str(root) if c in '"\\' or not c.isprintable()})
        if unquotable:
            raise RuntimeError(
                f"{root}: ganesha's configuration cannot quote a path with {unquotable} in it; "
                "use a checkout (or TMPDIR) whose path has none of these"
            )
        self.root = root
        self.host = host
        self.nfs_port = free_port(host)
        self.mount_port = free_port(host)
        self.exports = {
            "open": Export("open", root / "exports" / "open", privileged_only=False),
            "secure": Export("secure", root / "exports" / "secure", privileged_only=True),
        }
        self.log = root / "ganesha.log"
        self.version = ganesha_version()
        self._proc: subprocess.Popen[bytes] | None = None
        self._rpcbind: subprocess.Popen[bytes] | None = None

    @property
    def open(self) -> Export:
        return self.exports["open"]

    @property
    def secure(self) -> Export:
        return self.exports["secure"]

    def url(self, export: Export) -> str:
        return f"nfs://{self.host}{export.path}?nfsport={self.nfs_port}&mountport={self.mount_port}"

    def _write_config(self) -> Path:
        (self.root / "recovery").mkdir(parents=True, exist_ok=True)
        conf = CORE_BLOCK.format(
            host=self.host,
            nfs_port=self.nfs_port,
            mount_port=self.mount_port,
            nlm_port=free_port(self.host),
            rquota_port=free_port(self.host),
            dbus_prefix=f"nfssidecar{self.nfs_port}",
            # Unknown version: a newer one, most likely.
            core_extra=IO_FLUSHER if (self.version or (99,)) >= IO_FLUSHER_SINCE else "",
            recovery=self.root / "recovery",
        )
        for export_id, export in enumerate(self.exports.values(), start=1):
            export.local.mkdir(parents=True, exist_ok=True)
            # Clients in the tests run as unprivileged users too.
            export.local.chmod(0o777)
            conf += EXPORT_BLOCK.format(
                export_id=export_id,
                path=export.local,
                name=export.name,
                privileged="true" if export.privileged_only else "false",
            )
        path = self.root / "ganesha.conf"
        path.write_text(conf)
        return path

    def _ensure_rpcbind(self) -> None:
        # ganesha with NFSv3 exits (rc 2) unless it can register with rpcbind.
        if subprocess.run(["pgrep", "-x", "rpcbind"], capture_output=True).returncode == 0:
            return
        if shutil.which("rpcbind") is None:
            raise RuntimeError(f"rpcbind not found: {INSTALL_HINT}")
        self._rpcbind = subprocess.Popen(["rpcbind", "-f", "-w"], preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 5
        while not rpc_null_ok("127.0.0.1", 111, program=100000, version=2):
            if time.monotonic() > deadline:
                raise RuntimeError("rpcbind did not come up on port 111")
            time.sleep(0.05)

    def start(self) -> NfsServer:
        self._ensure_rpcbind()
        conf = self._write_config()
        self._proc = subprocess.Popen(
            [
                GANESHA,
                "-F",
                "-f",
                str(conf),
                "-L",
                str(self.log),
                "-N",
                "NIV_EVENT",
                "-p",
                str(self.root / "ganesha.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 15
        while not rpc_null_ok(self.host, self.nfs_port):
            self._refused_config()
            if self._proc.poll() is not None:
                hint = ""
                if "Cannot register" in self._log_tail() and not Path("/etc/services").exists():
                    hint = (
                        "\nlikely cause: ganesha could not register with rpcbind over loopback "
                        "without /etc/services (the rpcbind running is not reachable by its "
                        "socket from here): apt-get install netbase, or run `make deps`"
                    )
                raise RuntimeError(
                    f"ganesha exited rc={self._proc.returncode}; log:\n{self._log_tail()}{hint}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ganesha not ready after 15 s; log:\n{self._log_tail()}")
            time.sleep(0.05)
        # ganesha reads its configuration before it answers: an export it refused is in the log
        # by now. Without this check it runs without the export and every mount is refused later
        # "without a reason".
        self._refused_config()
        return self

    def _refused_config(self) -> None:
        """Stops the server and raises with the log's reasons if ganesha refused a block."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return
        if not any(CONFIG_REFUSED.search(line) for line in lines):
            return
        reasons = [line for line in lines if REFUSAL_DETAIL.search(line)]
        self.stop()
        hints = []
        if not Path("/etc/mtab").exists():
            hints.append(
                "/etc/mtab is missing (ganesha's VFS reads it to find an export's file system; a "
                "booted system has it): ln -s ../proc/self/mounts /etc/mtab, or run `make deps`"
            )
        if not any(m.split()[1] == "/" for m in _mounts()):
            hints.append(
                "no file system is mounted at / as this process sees it (a chroot whose root is "
                "not a mount point): bind-mount the chroot's folder onto itself before entering"
            )
        raise RuntimeError(
            f"ganesha refused its configuration ({self.root / 'ganesha.conf'}), so its exports "
            "would refuse every mount; the log says:\n"
            + "\n".join(reasons)
            + "".join(f"\nlikely cause: {h}" for h in hints)
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._rpcbind is not None:
            self._rpcbind.terminate()
            self._rpcbind.wait(timeout=5)
            self._rpcbind = None

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> NfsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
