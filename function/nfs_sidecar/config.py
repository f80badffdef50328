"""Configuration from environment variables, validated once at cold start."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# libnfs takes the server and export inside an nfs:// URL and does not unescape it: keep to
# characters that need no escaping.
HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$")
EXPORT_RE = re.compile(r"^(?:/[A-Za-z0-9._~+-]+)+/?$|^/$")
MAX_SUFFIX = 64


class ConfigError(ValueError):
    """The function's environment variables are missing or invalid."""


@dataclass(frozen=True)
class Config:
    server: str
    export: str
    nfs_port: int | None = None
    mount_port: int | None = None
    timeout_ms: int = 5000
    uid: int | None = None
    gid: int | None = None
    suffix: str = "-sidecar.json"
    lock_stale_seconds: int = 120

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        errors: list[str] = []

        def text(name: str, pattern: re.Pattern[str], hint: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                errors.append(f"{name} is required ({hint})")
            elif not pattern.match(value) or ".." in value.split("/"):
                errors.append(f"{name}={value!r} is invalid ({hint})")
            return value

        def number(name: str, low: int, high: int, default: int | None) -> int | None:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            if not raw.isdigit() or not low <= int(raw) <= high:
                errors.append(f"{name}={raw!r} must be an integer from {low} to {high}")
                return default
            return int(raw)

        server = text("NFS_SERVER", HOST_RE, "host name or IPv4 address of the NFS server")
        export = text("NFS_EXPORT", EXPORT_RE, "absolute export path such as /processingresults")
        suffix = env.get("SIDECAR_SUFFIX", cls.suffix)
        if not suffix or "/" in suffix or "\0" in suffix or len(suffix) > MAX_SUFFIX:
            errors.append(f"SIDECAR_SUFFIX={suffix!r} must be 1-{MAX_SUFFIX} characters, no '/'")
        config = cls(
            server=server,
            export=export.rstrip("/") or "/",
            nfs_port=number("NFS_PORT", 1, 65535, None),
            mount_port=number("NFS_MOUNT_PORT", 1, 65535, None),
            timeout_ms=number("NFS_TIMEOUT_MS", 100, 120_000, cls.timeout_ms) or cls.timeout_ms,
            uid=number("NFS_UID", 0, 2**32 - 1, None),
            gid=number("NFS_GID", 0, 2**32 - 1, None),
            suffix=suffix,
            lock_stale_seconds=number(
                "SIDECAR_LOCK_STALE_SECONDS", 1, 86_400, cls.lock_stale_seconds
            )
            or cls.lock_stale_seconds,
        )
        if errors:
            raise ConfigError("invalid configuration: " + "; ".join(errors))
        return config
