"""Generated bad input (hypothesis; tests only, the function stays standard library only).

SNS and SQS events with odd JSON, odd names, odd attributes and odd timestamps: each must end in
a sidecar inside the export, a skip, or one of the function's own named errors - never another
exception, a hang, or a path outside the export. The odd JSON includes what found issue 17's
defects (huge integers, NaN, deep nesting, lone surrogates in results, times that overflow in UTC):
a record that is refused is InvalidMessage, and one that is accepted renders a strict JSON sidecar
within MAX_SIDECAR_BYTES. Most examples run against the validation and the
handler's dispatch with the NFS part stubbed; a sample runs against the real server.
"""

from __future__ import annotations

import contextlib
import io
import json
import posixpath
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nfs_sidecar.config import Config
from nfs_sidecar.document import MAX_RESULTS_DEPTH, MAX_SIDECAR_BYTES, render
from nfs_sidecar.errors import (
    FileNotFoundOnExport,
    InvalidMessage,
    NotARegularFile,
    RecordsFailed,
    UnsupportedEvent,
)
from nfs_sidecar.handler import Handler
from nfs_sidecar.message import (
    ORIGINAL_MESSAGE_ID_ATTR,
    ORIGINAL_PUBLISHED_ATTR,
    Notification,
)
from nfs_sidecar.nfs.client import Attributes, Entry
from nfs_sidecar.nfs.errors import NfsStatusError
from nfs_sidecar.sidecar import Outcome
from tests.function.helpers import FakeContext, config_for
from tests.nfs_server import NfsServer

SUFFIX = "-sidecar.json"
OWN_ERRORS = (InvalidMessage, UnsupportedEvent, RecordsFailed)
COUNTS = {"pure": 0, "server": 0}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and Infinity too: json.dumps writes them as such
    | st.integers(10**630, 10**660)  # around the digit limit
    | st.text(max_size=20)
    | st.integers(0xD800, 0xDFFF).map(lambda c: f"a{chr(c)}b"),  # a lone surrogate
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=5,
)
odd = (
    st.none()
    | st.integers()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)
segments = st.sampled_from(
    [
        "",
        ".",
        "..",
        "...",
        "a",
        "b.txt",
        "run.tar.gz",
        "x-sidecar.json",
        " ",
        "日本",
        "é",
        "\\",
        "~",
        "-",
        ".hidden",
        "a\0b",
        "\udcff",
        "x" * 256,
        "y" * 240 + ".bin",
    ]
) | st.text(min_size=1, max_size=12)
filenames = st.lists(segments, min_size=0, max_size=6).map("/".join) | st.text(max_size=40) | odd
times = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2999, 1, 1), timezones=st.just(UTC)
)
timestamps = (
    times.map(lambda t: t.isoformat().replace("+00:00", "Z"))
    | times.map(lambda t: t.astimezone(timezone(timedelta(hours=5))).isoformat())
    | times.map(lambda t: t.replace(tzinfo=None).isoformat())
    | st.sampled_from(
        ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-24", "0000-00-00T00:00:00Z"]
    )
    # In range as written, out of range in UTC (OverflowError before issue 17); a NUL.
    | st.sampled_from(
        ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01", "2026-11-24T10:00Z\x00"]
    )
    | st.text(max_size=30)
    | odd
)
attribute_values = st.one_of(
    timestamps.map(lambda v: {"Type": "String", "Value": v}),
    odd,
    st.text(max_size=10).map(lambda v: {"Value": v}),
)
attributes = (
    st.dictionaries(
        st.sampled_from([ORIGINAL_PUBLISHED_ATTR, ORIGINAL_MESSAGE_ID_ATTR, "team", ""]),
        attribute_values,
        max_size=3,
    )
    | odd
)


def deep(depth: int) -> str:
    return "[" * depth + "0" + "]" * depth


# Results as JSON text, as a publisher may send it but json.dumps would not write it.
raw_results = st.one_of(
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.sampled_from(["NaN", "-Infinity", "1e400", '"\\ud800"', '{"\\udc00": [1]}']),
    st.integers(MAX_RESULTS_DEPTH - 2, MAX_RESULTS_DEPTH + 2).map(deep),
    st.integers(0, 60_000).map(deep),  # up to past the parser's own limit
    st.integers(1, 60_000).map(lambda n: "[" * 49 + "[0" + ",0" * n + "]" * 50),
)


@st.composite
def messages(draw: st.DrawFn) -> Any:
    kinds = ["good", "good", "good", "extra", "missing", "text", "odd", "raw"]
    kind = draw(st.sampled_from(kinds))
    if kind == "text":
        return draw(st.text(max_size=60))
    if kind == "raw":
        return f'{{"filename": "a/b.txt", "results": {draw(raw_results)}}}'
    if kind == "odd":
        return draw(odd)
    body: dict[str, Any] = {"filename": draw(filenames), "results": draw(json_values)}
    if kind == "extra":
        body[draw(st.text(max_size=5))] = draw(json_values)
    if kind == "missing":
        body.pop(draw(st.sampled_from(["filename", "results"])))
    return json.dumps(body, ensure_ascii=draw(st.booleans()))


@st.composite
def envelopes(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 20)) == 0:
        return draw(odd | st.text(max_size=20))
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": draw(st.text(min_size=1, max_size=36) | odd),
        "TopicArn": draw(st.just("arn:aws:sns:eu-west-1:1:t") | odd),
        "Timestamp": draw(timestamps),
        "Message": draw(messages()),
    }
    if draw(st.booleans()):
        envelope["MessageAttributes"] = draw(attributes)
    for key in draw(st.lists(st.sampled_from(list(envelope)), max_size=1)):
        del envelope[key]
    return envelope


@st.composite
def events(draw: st.DrawFn) -> Any:
    shape = draw(st.sampled_from(["sns", "sns", "sqs", "sqs", "mixed", "odd"]))
    if shape == "odd":
        return draw(odd | st.text(max_size=10) | st.just({"Records": []}))
    records = []
    for _ in range(draw(st.integers(1, 2))):
        source = shape if shape != "mixed" else draw(st.sampled_from(["sns", "sqs"]))
        if source == "sns":
            records.append({"EventSource": "aws:sns", "Sns": draw(envelopes())})
        else:
            body = draw(envelopes())
            raw = draw(st.sampled_from(["json", "json", "text"]))
            records.append(
                {
                    "eventSource": "aws:sqs",
                    "messageId": draw(st.text(max_size=8)),
                    "body": json.dumps(body) if raw == "json" else draw(st.text(max_size=20)),
                }
            )
    return {"Records": records}


class StubbedHandler(Handler):
    """The handler with its NFS part replaced: checks every notification that reaches it."""

    def process_all(
        self,
        notes: list[Notification],
        lock_wait_s: float = 0,
        usages: Any = None,
        budget: Any = None,
    ) -> list[Outcome | Exception]:
        for note in notes:
            assert_inside_the_export(note.filename)
            assert note.published.tzinfo is not None
            # Accepted: its sidecar renders, strict JSON, within the cap (issue 17).
            assert len(render(note, ENTRY)) <= MAX_SIDECAR_BYTES
        return [Outcome(note.filename + SUFFIX, True, "link") for note in notes]


def assert_inside_the_export(filename: str) -> None:
    assert filename and not filename.startswith("/")
    assert posixpath.normpath(filename) == filename
    assert ".." not in filename.split("/") and "\0" not in filename
    assert posixpath.normpath(posixpath.join("/export", filename)).startswith("/export/")


ENTRY = Entry(b"fh", Attributes(1, 0o644, 0, 0, 2**64 - 1, 7, 0, 1_700_000_000 * 10**9, 0))
STUB = StubbedHandler(Config(server="127.0.0.1", export="/export"))


@pytest.mark.slow  # ~30 s
@settings(
    max_examples=10_000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(events())
def test_generated_events_end_in_a_result_or_a_named_error(event: Any) -> None:
    COUNTS["pure"] += 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(OWN_ERRORS):
        STUB(event, FakeContext(30))
    for line in filter(
        None, out.getvalue().split("\n")
    ):  # each record's own outcome, SQS's included
        logged = json.loads(line)
        assert logged["outcome"] in ("written", "failed"), logged
        if logged["outcome"] == "failed":
            assert logged["error_type"] == "InvalidMessage", logged
            assert logged["retryable"] is False


@pytest.mark.slow
def test_at_least_ten_thousand_events_were_tried() -> None:
    print(f"generated events tried: {COUNTS}")
    assert COUNTS["pure"] >= 10_000


# --- a sample against the real server -----------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, bundled_libnfs: Path) -> Iterator[NfsServer]:
    with NfsServer(tmp_path_factory.mktemp("nfs-generated")) as server:
        yield server


@pytest.fixture(scope="module")
def real(server: NfsServer) -> Iterator[Handler]:
    handler = Handler(config_for(server, timeout_ms=2000))
    yield handler
    handler.disconnect()


SERVER_ERRORS = (*OWN_ERRORS, FileNotFoundOnExport, NotARegularFile, NfsStatusError)


@pytest.mark.nfs  # a server of its own
@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.lists(segments, min_size=1, max_size=4).map("/".join), st.booleans(), attributes)
def test_generated_names_on_the_real_server_stay_in_the_export(
    server: NfsServer, real: Handler, name: str, create: bool, attrs: Any
) -> None:
    COUNTS["server"] += 1
    root = server.open.local
    envelope = {
        "Type": "Notification",
        "MessageId": "m-gen",
        "TopicArn": "arn:aws:sns:eu-west-1:1:t",
        "Timestamp": "2026-11-24T10:00:00.000Z",
        "Message": json.dumps({"filename": name, "results": 1}),
        "MessageAttributes": attrs,
    }
    if create:
        try:
            target = (root / name.lstrip("/")).resolve()
            if target.is_relative_to(root) and target != root:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
        except (OSError, ValueError):
            pass
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            real({"Records": [{"EventSource": "aws:sns", "Sns": envelope}]}, FakeContext(10))
    except SERVER_ERRORS:
        return
    found = [p for p in server.root.rglob(f"*{SUFFIX}") if not p.is_relative_to(root)]
    assert found == []  # never a sidecar outside the export


@pytest.mark.nfs  # a server of its own
def test_no_sidecar_was_written_outside_the_export(server: NfsServer) -> None:
    assert COUNTS["server"] > 0
    outside = [
        p for p in server.root.rglob(f"*{SUFFIX}") if not p.is_relative_to(server.open.local)
    ]
    assert outside == []
    inside = list(server.open.local.rglob(f"*{SUFFIX}"))
    print(f"real server: {COUNTS['server']} generated names, {len(inside)} sidecars written")
    assert inside  # some did reach the server and were written
