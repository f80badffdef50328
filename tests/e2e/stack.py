"""The pieces an end-to-end run needs, shared by the pytest fixtures and ``make demo``."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.config import Config
from localstack_client.session import Session

from tests.e2e.terraform import REPO

REGION = "us-east-1"
DIST = REPO / "dist"
# The example the tests apply; E2E_TERRAFORM_EXAMPLE overrides it (a path).
EXAMPLE = Path(os.environ.get("E2E_TERRAFORM_EXAMPLE", REPO / "terraform" / "examples" / "e2e"))


def build_zip() -> Path:
    """The function's zip: E2E_ZIP if set, else `make build` (a no-op when up to date)."""
    if os.environ.get("E2E_ZIP"):
        return Path(os.environ["E2E_ZIP"]).resolve()
    subprocess.run(["make", "-s", "-C", str(REPO), "build"], check=True)
    zips = sorted(DIST.glob("nfs-sidecar-*-x86_64.zip"), key=lambda p: p.stat().st_mtime)
    if not zips:
        raise RuntimeError(f"`make build` made no {DIST}/nfs-sidecar-*-x86_64.zip")
    return zips[-1]


def client(service: str, endpoint: str) -> Any:
    """A boto3 client for the LocalStack at ``endpoint``, made by localstack-client."""
    session = Session(
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name=REGION,
        localstack_host=urlsplit(endpoint).netloc,
    )
    return session.client(service, config=Config(retries={"max_attempts": 3, "mode": "standard"}))


def sidecar_path(export_root: Path, filename: str, suffix: str = "-sidecar.json") -> Path:
    """`a/run.tar.gz` -> `a/run.tar-sidecar.json` (the last extension goes)."""
    rel = Path(filename.lstrip("/"))
    stem = rel.name.rsplit(".", 1)[0] if "." in rel.name[1:] else rel.name
    return export_root / rel.parent / f"{stem}{suffix}"


@dataclass
class Published:
    filename: str
    message_id: str
    at: float  # time.time() just before the publish call


def publish(sns: Any, topic_arn: str, message: str | dict[str, Any]) -> Published:
    body = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
    filename = message.get("filename", "") if isinstance(message, dict) else ""
    at = time.time()
    resp = sns.publish(TopicArn=topic_arn, Message=body)
    return Published(filename=filename, message_id=resp["MessageId"], at=at)


def wait_for_sidecar(path: Path, timeout: float = 30) -> dict[str, Any]:
    """Waits until the sidecar exists and parses (it may be caught mid-write)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if path.exists():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, OSError) as e:
                last_error = e
        time.sleep(0.05)
    raise AssertionError(f"no valid sidecar {path} after {timeout} s (last error: {last_error})")
