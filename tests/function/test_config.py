"""Configuration from the environment: defaults and clear errors."""

from __future__ import annotations

import pytest

from nfs_sidecar.config import Config
from nfs_sidecar.errors import ConfigError

BASE = {"NFS_SERVER": "10.0.1.20", "NFS_EXPORT": "/processingresults"}


def test_defaults() -> None:
    config = Config.from_env(BASE)
    assert config == Config(server="10.0.1.20", export="/processingresults")
    assert (config.nfs_port, config.mount_port, config.uid, config.gid) == (None,) * 4
    assert config.timeout_ms == 5000
    assert config.suffix == "-sidecar.json"


def test_every_setting_is_read() -> None:
    config = Config.from_env(
        {
            **BASE,
            "NFS_PORT": "2049",
            "NFS_MOUNT_PORT": "2049",
            "NFS_TIMEOUT_MS": "1500",
            "NFS_UID": "1000",
            "NFS_GID": "0",
            "SIDECAR_SUFFIX": ".meta.json",
            "SIDECAR_LOCK_STALE_SECONDS": "60",
            "NFS_EXPORT": "/a/b/",
        }
    )
    assert config == Config("10.0.1.20", "/a/b", 2049, 2049, 1500, 1000, 0, ".meta.json", 60)
    assert Config.from_env({**BASE, "METRICS_NAMESPACE": "Team/Sidecars"}).metrics_namespace == (
        "Team/Sidecars"
    )


def test_missing_settings_are_named_together() -> None:
    with pytest.raises(ConfigError) as error:
        Config.from_env({})
    assert "NFS_SERVER is required" in str(error.value)
    assert "NFS_EXPORT is required" in str(error.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NFS_SERVER", "nfs://host"),
        ("NFS_SERVER", "host name"),
        ("NFS_EXPORT", "processingresults"),
        ("NFS_EXPORT", "/a/../b"),
        ("NFS_EXPORT", "/a?b=1"),
        ("NFS_PORT", "0"),
        ("NFS_PORT", "65536"),
        ("NFS_MOUNT_PORT", "http"),
        ("NFS_TIMEOUT_MS", "10"),
        ("NFS_UID", "-1"),
        ("SIDECAR_SUFFIX", "a/b.json"),
        ("SIDECAR_SUFFIX", ""),
        ("SIDECAR_LOCK_STALE_SECONDS", "0"),
        ("NFS_SERVER", " 10.0.1.20"),  # taken as given: Terraform passes no whitespace either
        ("NFS_PORT", "²"),  # a digit to str.isdigit(), not to int()
        ("NFS_UID", "4294967295"),  # (uid_t)-1
        ("SIDECAR_SUFFIX", "a b.json"),
        ("METRICS_NAMESPACE", "AWS/Lambda"),
        ("METRICS_NAMESPACE", ""),
    ],
)
def test_invalid_settings_are_rejected_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_env({**BASE, name: value})
