"""Notifications: SNS records (direct subscription) and SQS records carrying SNS envelopes.

A message is JSON ``{"filename": "<path in the export>", "results": <any JSON value>}``. Everything
is checked before the NFS server is touched, and a rejection names the problem: whatever a record
holds, its parsing ends in a Notification or InvalidMessage, never another error. That includes
the size of its sidecar (document.py), so a record that is parsed can be rendered and written.
"""

from __future__ import annotations

import json
import posixpath
from datetime import UTC, datetime
from typing import Any, NamedTuple

from .document import MAX_ID_CHARS, MAX_RESULTS_DEPTH, Unrenderable, results_size
from .errors import InvalidMessage

MAX_MESSAGE_BYTES = 256 * 1024  # SNS's own limit
MAX_NAME_BYTES = 255  # NAME_MAX of the file systems behind NFS
MAX_PATH_BYTES = 4096
# Temp and lock names add a leading dot and this much to the sidecar's name.
SIDECAR_NAME_OVERHEAD = len("..12345678.tmp")
# Longest integer accepted in a message, in digits. Python refuses to convert more than 4300 by
# default (quadratic time), and an interpreter setting may lower that to 640 but not below: up to
# 640 the conversion never fails and stays cheap, whatever the runtime's settings.
MAX_INTEGER_DIGITS = 640


# Set by the redrive tool when it publishes a failed notification again: the notification keeps
# its place in the order (and its identity in the sidecar) instead of looking brand new.
ORIGINAL_PUBLISHED_ATTR = "nfs-sidecar.original-published"
ORIGINAL_MESSAGE_ID_ATTR = "nfs-sidecar.original-message-id"


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


# How a file's sidecar is named (SIDECAR_NAMING). STEM, the tutorial's and the default: the suffix
# replaces the extension, so ``a.csv`` and ``a.json`` share ``a-sidecar.json`` (a collision the
# writer refuses to resolve silently). FULL_NAME: the suffix follows the whole name
# (``a.csv-sidecar.json``), which no two files share.
STEM, FULL_NAME = "stem", "full_name"
NAMINGS = (STEM, FULL_NAME)


def sidecar_location(filename: str, suffix: str, naming: str = STEM) -> tuple[str, str, str]:
    """``data/run.tar.gz`` -> (``data``, ``run.tar.gz``, ``run.tar-sidecar.json``), or with
    FULL_NAME (``data``, ``run.tar.gz``, ``run.tar.gz-sidecar.json``)."""
    folder, name = posixpath.split(filename)
    stem = name if naming == FULL_NAME else posixpath.splitext(name)[0]
    return folder, name, stem + suffix


def normalise_filename(raw: object, suffix: str, naming: str = STEM) -> str:
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
    sidecar = sidecar_location(name, suffix, naming)[2]
    if len(sidecar.encode()) + SIDECAR_NAME_OVERHEAD > MAX_NAME_BYTES:
        raise InvalidMessage(f"'filename' {raw!r}: its sidecar's name would be too long")
    return "/".join(parts)


def _integer(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_INTEGER_DIGITS:
        raise InvalidMessage(f"message has an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _constant(name: str) -> float:
    raise InvalidMessage(f"message is not strict JSON: {name} is not a JSON number")


def _strict_json(text: str, what: str) -> Any:
    """``json.loads`` that ends in a value or InvalidMessage: no NaN/Infinity, no huge integers,
    no RecursionError (the parser's own depth limit)."""
    try:
        return json.loads(text, parse_int=_integer, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise InvalidMessage(f"{what} is not JSON: {exc}") from None
    except RecursionError:
        raise InvalidMessage(
            f"{what} is nested deeper than the JSON parser allows "
            f"('results' may nest {MAX_RESULTS_DEPTH} levels)"
        ) from None


def parse_message(text: object, suffix: str, naming: str = STEM) -> tuple[str, Any]:
    """The SNS ``Message`` string -> (normalised filename, results)."""
    if not isinstance(text, str):
        raise InvalidMessage(f"message must be a JSON string, not {type(text).__name__}")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        raise InvalidMessage(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    body = _strict_json(text, "message")
    if not isinstance(body, dict):
        raise InvalidMessage(f"message must be a JSON object, not {type(body).__name__}")
    missing = [key for key in ("filename", "results") if key not in body]
    if missing:
        raise InvalidMessage(f"message lacks {' and '.join(repr(k) for k in missing)}")
    filename = normalise_filename(body["filename"], suffix, naming)
    try:
        results_size(body["results"])
    except Unrenderable as exc:
        raise InvalidMessage(f"'results' {exc}") from None
    return filename, body["results"]


def _published(raw: object, what: str = "SNS Timestamp") -> datetime:
    if not isinstance(raw, str):
        raise InvalidMessage(f"{what} is missing or not a string")
    try:
        if "\0" in raw:  # CPython's fromisoformat stops at a NUL and ignores what follows
            raise ValueError(raw)
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidMessage(f"{what} {raw!r} is not ISO 8601") from None
    if when.tzinfo is None:
        raise InvalidMessage(f"{what} {raw!r} has no time zone")
    try:
        return when.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: in UTC it falls before year 1
        raise InvalidMessage(f"{what} {raw!r} is out of range in UTC (years 1-9999)") from None


def _text(raw: object, what: str) -> str:
    """An id as the sidecar can hold it: a non-empty string, valid Unicode, of bounded length."""
    if not isinstance(raw, str) or not raw:
        raise InvalidMessage(f"{what} is missing or not a string")
    if len(raw) > MAX_ID_CHARS:
        raise InvalidMessage(f"{what} is longer than {MAX_ID_CHARS} characters")
    try:
        raw.encode()
    except UnicodeEncodeError:
        raise InvalidMessage(f"{what} is not valid Unicode (lone surrogate)") from None
    return raw


def _attribute(envelope: dict[str, Any], name: str) -> str | None:
    """A message attribute's string value; None when absent, InvalidMessage when malformed."""
    attributes = envelope.get("MessageAttributes")
    if not isinstance(attributes, dict) or name not in attributes:
        return None
    value = attributes[name]
    found = value.get("Value") if isinstance(value, dict) else None
    if not isinstance(found, str) or not found:
        raise InvalidMessage(f"message attribute {name!r} has no string value")
    return _text(found, f"message attribute {name!r}")


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


def from_envelope(envelope: object, suffix: str, naming: str = STEM) -> Notification:
    """An SNS envelope (a Lambda SNS record's ``Sns``, or an SQS body) -> Notification."""
    if not isinstance(envelope, dict):
        raise InvalidMessage("SNS envelope must be a JSON object")
    message_id = envelope.get("MessageId")
    if not isinstance(message_id, str) or not message_id:
        raise InvalidMessage("SNS envelope has no MessageId (raw message delivery must be off)")
    message_id = _text(message_id, "SNS MessageId")
    filename, results = parse_message(envelope.get("Message"), suffix, naming)
    topic = envelope.get("TopicArn")
    if isinstance(topic, str) and topic:
        topic = _text(topic, "SNS TopicArn")
    published = _published(envelope.get("Timestamp"))
    origin = _redrive_origin(envelope, published)
    if origin is not None:
        message_id, published = origin
    return Notification(
        filename, results, message_id, topic if isinstance(topic, str) else None, published
    )


def from_sqs_body(body: object, suffix: str, naming: str = STEM) -> Notification:
    if not isinstance(body, str):
        raise InvalidMessage("SQS record has no body")
    try:
        envelope = _strict_json(body, "SQS body")
    except InvalidMessage as exc:
        raise InvalidMessage(
            f"SQS body is not an SNS envelope ({exc}); turn raw message delivery off"
        ) from None
    return from_envelope(envelope, suffix, naming)
