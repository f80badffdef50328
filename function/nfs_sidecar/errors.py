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

from .nfs.errors import (
    LibnfsUnavailable,
    MountError,
    NfsConnectionError,
    NfsError,
    NfsStatusError,
    NfsTimeout,
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


ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    InvalidMessage,
    ProbeRequestError,
    NfsError,
    LibnfsUnavailable,
    NfsConnectionError,
    NfsTimeout,
    MountError,
    NfsStatusError,
)
