"""SIDECAR_NAMING: the seed's naming (the default) and a naming that cannot collide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nfs_sidecar.config import Config
from nfs_sidecar.errors import ConfigError, SidecarCollision
from nfs_sidecar.message import FULL_NAME, STEM, sidecar_location
from tests.function.helpers import FakeContext, handler_for, sns_event
from tests.nfs_server import NfsServer


def test_the_default_naming_is_the_seeds_and_full_name_keeps_the_extension() -> None:
    assert sidecar_location("c/a.csv", "-sidecar.json") == ("c", "a.csv", "a-sidecar.json")
    assert sidecar_location("c/a.csv", "-sidecar.json", STEM)[2] == "a-sidecar.json"
    assert sidecar_location("c/a.csv", "-sidecar.json", FULL_NAME)[2] == "a.csv-sidecar.json"
    assert sidecar_location("c/a", "-sidecar.json", FULL_NAME)[2] == "a-sidecar.json"


def test_the_naming_is_checked_at_cold_start() -> None:
    base = {"NFS_SERVER": "nfs", "NFS_EXPORT": "/e"}
    assert Config.from_env(base).naming == STEM
    assert Config.from_env({**base, "SIDECAR_NAMING": FULL_NAME}).naming == FULL_NAME
    with pytest.raises(ConfigError, match="SIDECAR_NAMING='extension' must be one of"):
        Config.from_env({**base, "SIDECAR_NAMING": "extension"})


@pytest.mark.parametrize("naming", [STEM, FULL_NAME])
def test_two_files_sharing_a_stem(nfs_server: NfsServer, naming: str) -> None:
    """With the seed's naming, the second is a named collision (nothing replaced, not retried);
    with full_name, each file gets its own sidecar."""
    folder = nfs_server.open.local / f"naming-{naming}"
    folder.mkdir()
    (folder / "a.csv").write_bytes(b"csv")
    (folder / "a.json").write_bytes(b"{}")
    handler = handler_for(nfs_server, naming=naming)
    try:
        handler(sns_event(f"{folder.name}/a.csv", "m-1", "2026-11-24T10:00:05Z"), FakeContext(30))
        second = sns_event(f"{folder.name}/a.json", "m-2", "2026-11-24T10:00:01Z")
        if naming == STEM:
            before = (folder / "a-sidecar.json").read_bytes()
            with pytest.raises(SidecarCollision, match="SIDECAR_NAMING=full_name") as caught:
                handler(second, FakeContext(30))
            assert caught.value.retryable is False
            assert (folder / "a-sidecar.json").read_bytes() == before
            assert json.loads(before)["filename"].endswith("a.csv")
        else:
            handler(second, FakeContext(30))
            for name in ("a.csv", "a.json"):
                sidecar = json.loads((folder / f"{name}-sidecar.json").read_text())
                assert Path(sidecar["filename"]).name == name
    finally:
        handler.disconnect()
