"""The sidecar document: what a notification and its file's attributes become on disk.

Its size is bounded, and the bound is checked when the message is parsed (``results_size``,
called by message.py), not when the sidecar is written: a message whose sidecar would be too large
to read back, or whose results cannot be rendered as strict JSON, fails as ``InvalidMessage``
before any call to the server instead of pinning its file or failing its batch-mates.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # message.py imports this module: no import cycle at run time
    from collections.abc import Iterable

    from .message import Notification
    from .nfs.client import Entry

FORMAT_VERSION = 1
# Every sidecar the function writes is at most this many bytes, and it reads back at most this
# many (sidecar.py): a sidecar it wrote is never too large for it to compare with a later one.
MAX_SIDECAR_BYTES = 4 * 1024 * 1024
# The rendered document without its results, at most: a filename of 4096 bytes escaped (a control
# character becomes 6 bytes: 24 KiB), two ids of at most MAX_ID_CHARS escaped (12 KiB), the keys,
# times, size and format version (under 1 KiB). tests/function/test_message.py renders the worst.
MAX_DOCUMENT_WITHOUT_RESULTS_BYTES = 64 * 1024
MAX_RESULTS_BYTES = MAX_SIDECAR_BYTES - MAX_DOCUMENT_WITHOUT_RESULTS_BYTES
# Nesting depth of results (a scalar is 0, [] and [1] are 1). With an indent the encoder is pure
# Python and recursive, and each level adds indentation to every line inside it. 64 is deeper than
# result documents go, and well inside every recursion limit on the way: the parser's, the
# encoder's, and readers' own (serde_json, for one, stops at 128).
MAX_RESULTS_DEPTH = 64
# The sidecar's look: indented by 2, results one level into the document.
INDENT = 2
RESULTS_LEVEL = 1
MAX_ID_CHARS = 1024  # an SNS message id is 36, a topic ARN at most 300 or so


class Unrenderable(ValueError):
    """Results that cannot be rendered within the limits (message.py makes it InvalidMessage)."""


def iso_utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


def results_size(results: object) -> int:
    """The bytes ``results`` takes in the rendered sidecar, exactly, without rendering it indented
    -> Unrenderable when it nests deeper than MAX_RESULTS_DEPTH, holds a number that is not
    finite or a lone surrogate, or takes more than MAX_RESULTS_BYTES.

    The compact form comes from the C encoder; the indentation is added per container: each item
    of a non-empty container at level L starts a line indented to L + 1, and its closing bracket
    one indented to L; an object's ": " is one byte longer than ":". The walk is iterative, so a
    result nested as deep as the parser allows cannot exhaust the stack here."""
    whitespace = 0
    stack: list[tuple[object, int]] = [(results, RESULTS_LEVEL)]
    children: Iterable[object]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children = value.values()
            whitespace += len(value)
        elif isinstance(value, list):
            children = value
        else:
            continue
        if level - RESULTS_LEVEL >= MAX_RESULTS_DEPTH:
            raise Unrenderable(f"nests deeper than {MAX_RESULTS_DEPTH} levels")
        if value:
            whitespace += len(value) * (1 + INDENT * (level + 1)) + 1 + INDENT * level
            below = level + 1
            stack.extend((child, below) for child in children if isinstance(child, (dict, list)))
        if whitespace > MAX_RESULTS_BYTES:  # too large whatever the rest: stop walking
            raise Unrenderable(_too_large(f"more than {MAX_RESULTS_BYTES}"))
    try:
        compact = json.dumps(results, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        size = len(compact.encode()) + whitespace
    except UnicodeEncodeError:
        raise Unrenderable("holds a lone surrogate (not valid Unicode)") from None
    except ValueError:  # allow_nan=False: a float that is inf or nan
        raise Unrenderable("holds a number that is not finite (NaN, Infinity)") from None
    if size > MAX_RESULTS_BYTES:
        raise Unrenderable(_too_large(str(size)))
    return size


def _too_large(size: str) -> str:
    return (
        f"would take {size} bytes in the sidecar (indented by {INDENT} per level), over the limit "
        f"of {MAX_RESULTS_BYTES}: a sidecar is at most {MAX_SIDECAR_BYTES} bytes"
    )


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
    # Strict JSON: a non-finite number fails here rather than be written as NaN/Infinity. A
    # notification from message.py never fails (its results were measured when it was parsed).
    text = json.dumps(document, indent=INDENT, ensure_ascii=False, allow_nan=False) + "\n"
    return text.encode()
