"""The NFS client's errors: one hierarchy, so callers can tell what a retry may fix."""

from __future__ import annotations

from .nfs3_xdr import NFS3_STATUS


class NfsError(Exception):
    """Any NFS failure."""


class LibnfsUnavailable(NfsError):
    """libnfs could not be loaded, or is not the supported ABI."""


class NfsConnectionError(NfsError):
    """The transport failed (connect, socket, timeout): the client must be dropped."""


class NfsTimeout(NfsConnectionError):
    """No reply within the deadline."""


class MountError(NfsError):
    """The server refused or failed the mount."""


class NfsStatusError(NfsError):
    """The server answered with an NFS3ERR_* status."""

    def __init__(self, operation: str, status: int) -> None:
        self.operation = operation
        self.status = status
        self.status_name = NFS3_STATUS.get(status, f"NFS3ERR_{status}")
        super().__init__(f"{operation}: {self.status_name}")
