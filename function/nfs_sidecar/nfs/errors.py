"""The NFS client's errors: one hierarchy, so callers can tell what a retry may fix."""

from __future__ import annotations

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


class LibnfsUnavailable(NfsError):
    """libnfs could not be loaded, or is not the supported ABI."""


class NfsConnectionError(NfsError):
    """The transport failed (connect, socket, timeout): the client must be dropped."""


class NfsTimeout(NfsConnectionError):
    """No reply within the deadline."""


class MountError(NfsError):
    """The server refused or failed the mount; ``transient`` when it was the transport (refused,
    reset or timed-out connection: a server restarting or failing over), not a refusal."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class NfsStatusError(NfsError):
    """The server answered with an NFS3ERR_* status."""

    def __init__(self, operation: str, status: int) -> None:
        self.operation = operation
        self.status = status
        self.status_name = NFS3_STATUS.get(status, f"NFS3ERR_{status}")
        meaning, self.retryable = STATUS_MEANING.get(status, ("", True))
        super().__init__(f"{operation}: {self.status_name}" + (f" ({meaning})" if meaning else ""))
