"""The sidecar document: what a notification and its file's attributes become on disk."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from .message import Notification
from .nfs_client import Entry

FORMAT_VERSION = 1
MAX_SIDECAR_BYTES = 4 * 1024 * 1024  # far above what a 256 KiB message produces


def iso_utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


def render(note: Notification, entry: Entry) -> bytes:
    attrs = entry.attributes
    assert attrs is not None
    document = {
        "filename": note.filename,
        "size": attrs.size,
        # NFSv3 has no birth time: "created" is the file's ctime (last change of its data or
        # metadata), the field the tutorial's sidecars carried; "modified" is its mtime.
        "created": iso_utc(attrs.ctime_ns),
        "modified": iso_utc(attrs.mtime_ns),
        "results": note.results,
        "source": {
            "sns_message_id": note.message_id,
            "topic_arn": note.topic_arn,
            "published": note.published.isoformat(),
        },
        "format_version": FORMAT_VERSION,
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()
