"""The NFS client's errors: one hierarchy, so callers can tell what a retry may fix.

Each type says, as class attributes, whether the notification may succeed when tried again
unchanged (``retryable``: the log line's field) and what it means for the operator (``hint``: the
troubleshooting table of docs/operations.md is generated from it). The application's errors live
in nfs_sidecar/errors.py, which re-exports these: this layer never imports the application.
"""

from __future__ import annotations

from typing import ClassVar

from .xdr import (
    ACCES,
    DQUOT,
    IO,
    JUKEBOX,
    NFS3_STATUS,
    NOSPC,
    NOTSUPP,
    PERM,
    ROFS,
    SERVERFAULT,
    STALE,
)

# What a status means for the operator, and whether trying the notification again can help
# without anyone changing anything (the ``retryable`` field of the log line).
STATUS_MEANING: dict[int, tuple[str, bool]] = {
    NOSPC: ("the export is out of space; a retry helps once space is freed", True),
    DQUOT: ("the function's identity is over its quota; a retry helps once it is raised", True),
    ROFS: ("the export is read-only; a retry cannot help until it is writable", False),
    IO: ("the server reported an I/O error; a retry may help if it was passing", True),
    ACCES: (
        "permission denied to the function's identity (NFS_UID/NFS_GID); a retry cannot help "
        "until the folder's permissions or the export's squash setting change",
        False,
    ),
    PERM: ("operation not permitted; a retry cannot help", False),
    JUKEBOX: ("the server is busy (recalling data or starting); still busy after retries", True),
    SERVERFAULT: ("the server failed internally; a retry may help", True),
    STALE: ("a file handle went stale (the file or folder was replaced); retried afresh", True),
    NOTSUPP: ("the server does not support this operation", False),
}


class NfsError(Exception):
    """Any NFS failure."""

    retryable: bool = True  # a class attribute; NfsStatusError sets its own per status
    hint: ClassVar[str] = (
        "An NFS failure of no more specific kind (a reply that cannot be decoded, a WRITE "
        "committed below FILE_SYNC, a path part that is not a folder). Lambda retries it; when "
        "it persists, check the server."
    )


class LibnfsUnavailable(NfsError):
    """libnfs could not be loaded, or is not the supported ABI."""

    retryable = True
    hint = (
        "The zip lacks `lib/libnfs.so.17`, or it is built for the other architecture, or it is "
        "not libnfs 7.0. Deploy the zip `make build` made for the function's `architecture`."
    )


class NfsConnectionError(NfsError):
    """The transport failed (connect, socket, timeout): the client must be dropped."""

    retryable = True
    hint = (
        "The cluster refused or dropped the connection for the whole invocation (the function "
        "kept reconnecting while its time allowed). Check the cluster and the network; Lambda "
        "retries, then the failure queue keeps the notification."
    )


class NfsTimeout(NfsConnectionError):
    """No reply within the deadline."""

    retryable = True
    hint = (
        "The cluster stopped answering within `NFS_TIMEOUT_MS`, also after reconnecting while "
        "the invocation's time allowed. Check the cluster; Lambda retries, then the failure "
        "queue keeps the notification."
    )


class MountError(NfsError):
    """The server refused or failed the mount; ``transient`` when it was the transport (refused,
    reset or timed-out connection: a server restarting or failing over), not a refusal."""

    retryable = True
    hint = (
        "The mount failed, and the message says why: refused without a reason (non-privileged "
        "ports), no answer (route, security groups), `MNT3ERR_NOENT` or `MNT3ERR_ACCES` (export "
        "path, view policy), the portmapper (port 111). See the messages below for each fix."
    )

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class NfsStatusError(NfsError):
    """The server answered with an NFS3ERR_* status; ``retryable`` is the status's."""

    retryable = True  # a status without an entry in STATUS_MEANING
    hint = (
        "The server answered a call with an `NFS3ERR_*` status, named in the message with what it "
        "means (JUKEBOX is first retried within the invocation). Retryable but for "
        + ", ".join(sorted(NFS3_STATUS[s] for s, (_, retry) in STATUS_MEANING.items() if not retry))
        + ", which need the export, its permissions or the server changed."
    )

    def __init__(self, operation: str, status: int) -> None:
        self.operation = operation
        self.status = status
        self.status_name = NFS3_STATUS.get(status, f"NFS3ERR_{status}")
        meaning, self.retryable = STATUS_MEANING.get(status, ("", True))
        super().__init__(f"{operation}: {self.status_name}" + (f" ({meaning})" if meaning else ""))
