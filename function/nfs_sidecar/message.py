"""Notifications: SNS records (direct subscription) and SQS records carrying SNS envelopes.

A message is JSON ``{"filename": "<path in the export>", "results": <any JSON value>}``. Everything
is checked before the NFS server is touched, and a rejection names the problem.
"""

from __future__ import annotations

import json
import posixpath
from datetime import UTC, datetime
from typing import Any, NamedTuple

MAX_MESSAGE_BYTES = 256 * 1024  # SNS's own limit
MAX_NAME_BYTES = 255  # NAME_MAX of the file systems behind NFS
MAX_PATH_BYTES = 4096
# Temp and lock names add a leading dot and this much to the sidecar's name.
SIDECAR_NAME_OVERHEAD = len("..12345678.tmp")


# Set by the redrive tool when it publishes a failed notification again: the notification keeps
# its place in the order (and its identity in the sidecar) instead of looking brand new.
ORIGINAL_PUBLISHED_ATTR = "nfs-sidecar.original-published"
ORIGINAL_MESSAGE_ID_ATTR = "nfs-sidecar.original-message-id"


class InvalidMessage(ValueError):
    """The notification can never succeed as sent: fix the publisher, then redrive it."""


class Notification(NamedTuple):
    filename: str  # normalised: relative to the export root, no empty, '.' or '..' parts
    results: Any
    message_id: str
    topic_arn: str | None
    published: datetime  # SNS publish time, UTC

    @property
    def order_key(self) -> tuple[str, str]:
        """Notifications for one file are applied in this order (ties broken by message id)."""
        return (self.published.isoformat(), self.message_id)


def sidecar_location(filename: str, suffix: str) -> tuple[str, str, str]:
    """``data/run.tar.gz`` -> (``data``, ``run.tar.gz``, ``run.tar-sidecar.json``)."""
    folder, name = posixpath.split(filename)
    return folder, name, posixpath.splitext(name)[0] + suffix


def normalise_filename(raw: object, suffix: str) -> str:
    if not isinstance(raw, str):
        raise InvalidMessage(f"'filename' must be a string, not {type(raw).__name__}")
    if "\0" in raw:
        raise InvalidMessage("'filename' contains a NUL byte")
    try:
        size = len(raw.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidMessage("'filename' is not valid Unicode (lone surrogate)") from None
    if size > MAX_PATH_BYTES:
        raise InvalidMessage(f"'filename' is longer than {MAX_PATH_BYTES} bytes")
    if raw.endswith("/"):
        raise InvalidMessage(f"'filename' {raw!r} names a folder, not a file")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidMessage(f"'filename' {raw!r} has a '..' part: paths must stay in the export")
    if not parts:
        raise InvalidMessage("'filename' is empty")
    for part in parts:
        if len(part.encode()) > MAX_NAME_BYTES:
            raise InvalidMessage(f"'filename' has a part longer than {MAX_NAME_BYTES} bytes")
    name = parts[-1]
    if name.endswith(suffix):
        raise InvalidMessage(f"'filename' {raw!r} is itself a sidecar (ends with {suffix!r})")
    sidecar = sidecar_location(name, suffix)[2]
    if len(sidecar.encode()) + SIDECAR_NAME_OVERHEAD > MAX_NAME_BYTES:
        raise InvalidMessage(f"'filename' {raw!r}: its sidecar's name would be too long")
    return "/".join(parts)


def parse_message(text: object, suffix: str) -> tuple[str, Any]:
    """The SNS ``Message`` string -> (normalised filename, results)."""
    if not isinstance(text, str):
        raise InvalidMessage(f"message must be a JSON string, not {type(text).__name__}")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        raise InvalidMessage(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidMessage(f"message is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidMessage(f"message must be a JSON object, not {type(body).__name__}")
    missing = [key for key in ("filename", "results") if key not in body]
    if missing:
        raise InvalidMessage(f"message lacks {' and '.join(repr(k) for k in missing)}")
    return normalise_filename(body["filename"], suffix), body["results"]


def _published(raw: object, what: str = "SNS Timestamp") -> datetime:
    if not isinstance(raw, str):
        raise InvalidMessage(f"{what} is missing")
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidMessage(f"{what} {raw!r} is not ISO 8601") from None
    if when.tzinfo is None:
        raise InvalidMessage(f"{what} {raw!r} has no time zone")
    return when.astimezone(UTC)


def _attribute(envelope: dict[str, Any], name: str) -> str | None:
    """A message attribute's string value; None when absent, InvalidMessage when malformed."""
    attributes = envelope.get("MessageAttributes")
    if not isinstance(attributes, dict) or name not in attributes:
        return None
    value = attributes[name]
    found = value.get("Value") if isinstance(value, dict) else None
    if not isinstance(found, str) or not found:
        raise InvalidMessage(f"message attribute {name!r} has no string value")
    return found


def _redrive_origin(
    envelope: dict[str, Any], sns_published: datetime
) -> tuple[str, datetime] | None:
    """The original (message id, publish time) of a redriven notification, or None.

    Anyone who may publish to the topic can set message attributes, so they are honoured only as
    the redrive tool sets them: both together, and the original publish time not later than this
    delivery's SNS ``Timestamp`` (set by SNS; a redrive always publishes after the original).
    Otherwise a publisher could date a notification in the future and pin its sidecar forever.
    """
    original_id = _attribute(envelope, ORIGINAL_MESSAGE_ID_ATTR)
    original_published = _attribute(envelope, ORIGINAL_PUBLISHED_ATTR)
    if original_id is None and original_published is None:
        return None
    if original_id is None or original_published is None:
        missing = ORIGINAL_MESSAGE_ID_ATTR if original_id is None else ORIGINAL_PUBLISHED_ATTR
        raise InvalidMessage(
            f"message attribute {missing!r} is missing: the redrive attributes "
            f"{ORIGINAL_PUBLISHED_ATTR!r} and {ORIGINAL_MESSAGE_ID_ATTR!r} come together"
        )
    when = _published(original_published, f"message attribute {ORIGINAL_PUBLISHED_ATTR!r}")
    if when > sns_published:
        raise InvalidMessage(
            f"message attribute {ORIGINAL_PUBLISHED_ATTR!r} ({original_published}) is later than "
            f"the SNS Timestamp ({sns_published.isoformat()}): a redrive publishes after the "
            "original, so it cannot be honoured"
        )
    return original_id, when


def from_envelope(envelope: object, suffix: str) -> Notification:
    """An SNS envelope (a Lambda SNS record's ``Sns``, or an SQS body) -> Notification."""
    if not isinstance(envelope, dict):
        raise InvalidMessage("SNS envelope must be a JSON object")
    message_id = envelope.get("MessageId")
    if not isinstance(message_id, str) or not message_id:
        raise InvalidMessage("SNS envelope has no MessageId (raw message delivery must be off)")
    filename, results = parse_message(envelope.get("Message"), suffix)
    topic = envelope.get("TopicArn")
    published = _published(envelope.get("Timestamp"))
    origin = _redrive_origin(envelope, published)
    if origin is not None:
        message_id, published = origin
    return Notification(
        filename, results, message_id, topic if isinstance(topic, str) else None, published
    )


def from_sqs_body(body: object, suffix: str) -> Notification:
    if not isinstance(body, str):
        raise InvalidMessage("SQS record has no body")
    try:
        envelope = json.loads(body)
    except json.JSONDecodeError:
        raise InvalidMessage(
            "SQS body is not an SNS envelope (JSON); turn raw message delivery off"
        ) from None
    return from_envelope(envelope, suffix)
