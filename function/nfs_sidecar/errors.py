"""Every error type the function can raise, each with what a retry may do and what to do about it.

``retryable`` (a class attribute) says whether the notification may succeed when tried again
unchanged: it is the ``retryable`` field of the log line (retry.py). ``hint`` says, in a sentence
or two, what the error means and what the operator does: docs/operations.md's troubleshooting
table is generated from ``ERRORS`` (``make errors-docs``; a test fails when it differs).

The NFS client's errors live in nfs/errors.py, as that layer never imports the application; they
carry the same two attributes and are re-exported here. ``errorType`` in Lambda's failure records
and ``error_type`` in the log lines are the class names.

Not here, as they never leave the module that raises them: ``document.Unrenderable`` (message.py
turns it into InvalidMessage), ``sidecar._FolderReplaced`` and ``probe._Stop`` (control flow).
"""

from __future__ import annotations

from typing import ClassVar

# Re-exported ("as"): every error the function raises is importable from this one module.
from .nfs.errors import (
    LibnfsUnavailable as LibnfsUnavailable,
    MountError as MountError,
    NfsConnectionError as NfsConnectionError,
    NfsError as NfsError,
    NfsStatusError as NfsStatusError,
    NfsTimeout as NfsTimeout,
)


class AppError(Exception):
    """An error of the application (not of the NFS client): each type sets both attributes."""

    retryable: ClassVar[bool]
    hint: ClassVar[str]


class ConfigError(AppError, ValueError):
    """The function's environment variables are missing or invalid."""

    retryable = True  # Lambda retries; it fails until the configuration is fixed
    hint = (
        "A missing or invalid environment variable, named in the message: every invocation "
        "fails at cold start. Fix the Terraform inputs; the failure queue keeps the "
        "notifications for a redrive."
    )


class InvalidMessage(AppError, ValueError):
    """The notification can never succeed as sent: fix the publisher, then redrive it."""

    retryable = False
    hint = (
        "The message is not what the function accepts, and the error names the problem (see "
        "*The notification* in docs/deploying.md, and its limits). Fix the publisher, then "
        "redrive."
    )


class ProbeRequestError(AppError, ValueError):
    """The probe event asks for something the probe does not do."""

    retryable = True
    hint = (
        "The post-deploy probe was asked for a folder it does not accept (over 1024 characters, "
        "a `..` part, characters other than letters, digits and `._~+- `). Give `--folder` as a "
        "path relative to the export."
    )


class FileNotFoundOnExport(AppError):
    """The notified file (or a folder on its path) does not exist in the export."""

    retryable = True  # the file may yet appear
    hint = (
        "The file, or a folder on its path, does not exist in the export, or the path is not "
        "relative to the export. Publish paths inside the export; redrive once the file exists."
    )


class NotARegularFile(AppError):
    """The notified path is a folder, a symlink or a special file."""

    retryable = True
    hint = (
        "The path names a folder, a symlink or a special file: symlinks are not followed, on "
        "purpose. Publish the path of a regular file."
    )


class SidecarBusy(AppError):
    """Another writer held the sidecar's lock for longer than this invocation could wait."""

    retryable = True
    hint = (
        "Another writer is replacing that sidecar, or one died holding its lock. Retried "
        "automatically; a dead writer's lock is taken over after `SIDECAR_LOCK_STALE_SECONDS`."
    )


class SidecarInTheWay(AppError):
    """A file that is not a sidecar of this function's sits where the sidecar (or its lock) goes.
    It is left as it is: rename or remove it, or choose another SIDECAR_SUFFIX, then redrive."""

    retryable = False
    hint = (
        "A file this function did not write (or a folder, or a file over 4 MiB) sits where the "
        "sidecar or its lock goes, and is left as it is. Rename or remove it, or choose another "
        "`SIDECAR_SUFFIX`, then redrive."
    )


class SidecarCollision(AppError):
    """The sidecar's name holds the sidecar of another file (``a.csv`` and ``a.json`` share
    ``a-sidecar.json`` under the default naming): SIDECAR_NAMING=full_name keeps them apart."""

    retryable = False
    hint = (
        "Two files share a sidecar name under the default naming (`a.csv` and `a.json`: "
        '`a-sidecar.json`). Set `sidecar_naming = "full_name"`, then redrive.'
    )


class UnsupportedEvent(AppError, ValueError):
    """The event is neither SNS nor SQS."""

    retryable = True
    hint = (
        "The function was invoked with an event that is neither SNS nor SQS, nor the probe's. "
        "Let only the module's subscription or queue invoke it, and `make check-deployment`."
    )


class Deferred(AppError):
    """Not started: the invocation had too little time left for it (the queue delivers it again)."""

    retryable = True
    hint = (
        "An SQS record went back to the queue unstarted: the invocation had too little time "
        "left to write the whole batch. The queue delivers it again; when frequent, raise "
        "`timeout`."
    )


class RecordsFailed(AppError):
    """Several records of one invocation failed (the message lists each)."""

    retryable = True
    hint = (
        "Several records of one direct invocation failed; the message lists each one's error "
        "type and message. Look each up in this table."
    )


ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    InvalidMessage,
    ProbeRequestError,
    FileNotFoundOnExport,
    NotARegularFile,
    SidecarBusy,
    SidecarInTheWay,
    SidecarCollision,
    UnsupportedEvent,
    Deferred,
    RecordsFailed,
    NfsError,
    LibnfsUnavailable,
    NfsConnectionError,
    NfsTimeout,
    MountError,
    NfsStatusError,
)
