"""Configuration from environment variables, validated once at cold start.

The limits below are the contract with the Terraform module: each variable that becomes one of
these environment variables is validated there exactly as here (tests/terraform/test_limits.py
checks both sides at the boundaries), so a value Terraform applies never fails the cold start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from .errors import ConfigError
from .message import NAMINGS, STEM

# libnfs takes the server and export inside an nfs:// URL and does not unescape it: keep to
# characters that need no escaping. The patterns use only syntax Python and Terraform (RE2) share.
HOST_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$"  # a DNS name (253 at most) or an IPv4 address
EXPORT_PATTERN = r"^(/[A-Za-z0-9._~+-]+)+/?$"  # or exactly "/"; no ".." part
MAX_EXPORT = 1024  # MNTPATHLEN of the MOUNT protocol
# The suffix ends up in file names on the export (and in temp and lock names): portable characters.
SUFFIX_PATTERN = r"^[A-Za-z0-9_.~+-]{1,64}$"
# CloudWatch namespaces: 1-255 of these characters; "AWS/" is reserved for AWS's own.
NAMESPACE_PATTERN = r"^[A-Za-z0-9.\-_/#: ]{1,255}$"
RESERVED_NAMESPACE_PREFIX = "AWS/"

# Whole-number settings: (lowest, highest).
PORT_RANGE = (1, 65535)
TIMEOUT_MS_RANGE = (100, 120_000)  # each NFS step; a Lambda runs 900 s at most
ID_RANGE = (0, 2**32 - 2)  # AUTH_SYS uid/gid; 2**32 - 1 is (uid_t)-1, "no change" to the kernel
LOCK_STALE_RANGE = (1, 86_400)
NUMBERS = {
    "NFS_PORT": PORT_RANGE,
    "NFS_MOUNT_PORT": PORT_RANGE,
    "NFS_TIMEOUT_MS": TIMEOUT_MS_RANGE,
    "NFS_UID": ID_RANGE,
    "NFS_GID": ID_RANGE,
    "SIDECAR_LOCK_STALE_SECONDS": LOCK_STALE_RANGE,
}

DEFAULT_NAMESPACE = "NfsSidecar"

# Log levels Lambda's JSON logging recognises (application_log_level), lowest first.
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")

HOST_RE = re.compile(HOST_PATTERN)
EXPORT_RE = re.compile(EXPORT_PATTERN)
SUFFIX_RE = re.compile(SUFFIX_PATTERN)
NAMESPACE_RE = re.compile(NAMESPACE_PATTERN)


def valid_export(value: str) -> bool:
    return len(value) <= MAX_EXPORT and (
        value == "/" or (bool(EXPORT_RE.match(value)) and ".." not in value.split("/"))
    )


def valid_namespace(value: str) -> bool:
    return bool(NAMESPACE_RE.match(value)) and not value.startswith(RESERVED_NAMESPACE_PREFIX)


class Config(NamedTuple):
    server: str
    export: str
    nfs_port: int | None = None
    mount_port: int | None = None
    timeout_ms: int = 5000
    uid: int | None = None
    gid: int | None = None
    suffix: str = "-sidecar.json"
    lock_stale_seconds: int = 120
    metrics_namespace: str = DEFAULT_NAMESPACE
    naming: str = STEM  # SIDECAR_NAMING: see message.py

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        defaults = cls._field_defaults
        errors: list[str] = []

        def required(name: str, valid: bool, value: str, hint: str) -> str:
            if not value:
                errors.append(f"{name} is required ({hint})")
            elif not valid:
                errors.append(f"{name}={value!r} is invalid ({hint})")
            return value

        def number(name: str, default: int | None) -> int | None:
            raw = env.get(name, "")
            if not raw:
                return default
            low, high = NUMBERS[name]
            # ASCII digits only: str.isdigit() would also take "²" or "٣".
            if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
                errors.append(f"{name}={raw!r} must be an integer from {low} to {high}")
                return default
            return int(raw)

        server = env.get("NFS_SERVER", "")
        required(
            "NFS_SERVER",
            bool(HOST_RE.match(server)),
            server,
            "host name or IPv4 address of the NFS server",
        )
        export = env.get("NFS_EXPORT", "")
        required(
            "NFS_EXPORT",
            valid_export(export),
            export,
            "absolute export path such as /processingresults",
        )
        naming = env.get("SIDECAR_NAMING", defaults["naming"])
        if naming not in NAMINGS:
            errors.append(f"SIDECAR_NAMING={naming!r} must be one of {', '.join(NAMINGS)}")
        suffix = env.get("SIDECAR_SUFFIX", defaults["suffix"])
        if not SUFFIX_RE.match(suffix):
            errors.append(f"SIDECAR_SUFFIX={suffix!r} must be 1-64 of letters, digits and '_.~+-'")
        namespace = env.get("METRICS_NAMESPACE", defaults["metrics_namespace"])
        if not valid_namespace(namespace):
            errors.append(
                f"METRICS_NAMESPACE={namespace!r} must be 1-255 of letters, digits and"
                f" '.-_/#: ', not starting with {RESERVED_NAMESPACE_PREFIX!r}"
            )
        config = cls(
            server=server,
            export=export.rstrip("/") or "/",
            nfs_port=number("NFS_PORT", None),
            mount_port=number("NFS_MOUNT_PORT", None),
            timeout_ms=number("NFS_TIMEOUT_MS", defaults["timeout_ms"]) or defaults["timeout_ms"],
            uid=number("NFS_UID", None),
            gid=number("NFS_GID", None),
            suffix=suffix,
            naming=naming,
            lock_stale_seconds=number("SIDECAR_LOCK_STALE_SECONDS", defaults["lock_stale_seconds"])
            or defaults["lock_stale_seconds"],
            metrics_namespace=namespace,
        )
        if errors:
            raise ConfigError("invalid configuration: " + "; ".join(errors))
        return config
