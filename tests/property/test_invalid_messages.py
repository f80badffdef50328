"""Generated messages of the kinds that found issue 17's defects: huge integers, non-finite
numbers, deep nesting, lone surrogates in results, results whose indented rendering outgrows the
sidecar's cap, and every form of the redrive attributes.

Each is decided when it is parsed: a Notification whose sidecar renders as strict JSON within
MAX_SIDECAR_BYTES, or InvalidMessage (not retryable) - never another error type. Through the
handler, an invalid record never reaches the NFS part and never fails its batch-mate.
"""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings, strategies as st

from nfs_sidecar.config import Config
from nfs_sidecar.document import (
    MAX_RESULTS_BYTES,
    MAX_RESULTS_DEPTH,
    MAX_SIDECAR_BYTES,
    render,
    results_size,
)
from nfs_sidecar.errors import InvalidMessage
from nfs_sidecar.handler import Handler
from nfs_sidecar.message import (
    MAX_INTEGER_DIGITS,
    ORIGINAL_MESSAGE_ID_ATTR,
    ORIGINAL_PUBLISHED_ATTR,
    Notification,
    from_envelope,
    parse_message,
)
from nfs_sidecar.nfs.client import Attributes, Entry
from nfs_sidecar.retry import retryable
from nfs_sidecar.sidecar import Outcome
from tests.function.helpers import FakeContext, envelope, sqs_event

SUFFIX = "-sidecar.json"
FILE = "d/f.bin"
DELIVERED = "2026-11-25T08:00:00.000Z"  # the SNS Timestamp of every generated envelope
ENTRY = Entry(b"fh", Attributes(1, 0o644, 0, 0, 2**64 - 1, 7, 0, 1_700_000_000 * 10**9, 0))
SETTINGS = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


def message(results_json: str) -> str:
    return f'{{"filename": "{FILE}", "results": {results_json}}}'


def strict_loads(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def assert_bounded(results_json: str) -> None:
    """Accepted: the sidecar renders, strict JSON, within the cap, results as parsed."""
    filename, results = parse_message(message(results_json), SUFFIX)
    note = Notification(filename, results, "m-1", None, datetime(2026, 11, 24, tzinfo=UTC))
    rendered = render(note, ENTRY)
    assert len(rendered) <= MAX_SIDECAR_BYTES
    assert strict_loads(rendered.decode())["results"] == results


def assert_invalid(results_json: str, *reason: str) -> InvalidMessage:
    try:
        parse_message(message(results_json), SUFFIX)
    except InvalidMessage as exc:  # the type, not just "something raised"
        assert retryable(exc) is False
        assert any(word in str(exc) for word in reason), str(exc)
        return exc
    raise AssertionError(f"accepted: {results_json[:80]!r}")


# --- results ------------------------------------------------------------------------------------


@SETTINGS
@given(st.integers(1, 6000), st.booleans())
def test_integers_are_accepted_up_to_the_digit_limit_then_invalid(digits: int, minus: bool) -> None:
    number = ("-" if minus else "") + "9" * digits
    if digits <= MAX_INTEGER_DIGITS:
        assert_bounded(f"[{number}]")
    else:
        assert_invalid(f"[{number}]", f"more than {MAX_INTEGER_DIGITS} digits")


@SETTINGS
@given(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1E309", "1e99999999"]),
    st.integers(0, 5),
)
def test_non_finite_numbers_are_invalid(number: str, depth: int) -> None:
    assert_invalid("[" * depth + number + "]" * depth, "NaN", "Infinity", "finite")


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["{!r}", "{:e}", "{}"]))
def test_finite_numbers_in_any_notation_are_accepted(number: float, form: str) -> None:
    assert_bounded(f"[{form.format(number)}]")


ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8)


@SETTINGS
@given(
    ascii_text,
    st.integers(0xD800, 0xDFFF),
    ascii_text,
    st.integers(0, 6),
    st.sampled_from(["value", "key"]),
)
def test_a_lone_surrogate_anywhere_in_results_is_invalid(
    before: str, surrogate: int, after: str, depth: int, where: str
) -> None:
    text = before + chr(surrogate) + "_" + after  # "_": never completes a surrogate pair
    inner: Any = {text: 1} if where == "key" else [text]
    for _ in range(depth):
        inner = {"k": inner}
    assert_invalid(json.dumps(inner), "lone surrogate")


@SETTINGS
@given(st.integers(0, 40_000), st.sampled_from(["[%s]", '{"k":%s}', "[1,%s,2]"]))
def test_nesting_is_accepted_to_the_limit_then_invalid(depth: int, wrap: str) -> None:
    before, after = wrap.split("%s")
    text = before * depth + "0" + after * depth
    assume(len(message(text)) <= 256 * 1024)
    if depth <= MAX_RESULTS_DEPTH:
        assert_bounded(text)
    else:  # past the parser's own limit too (RecursionError before the fix)
        assert_invalid(text, f"deeper than {MAX_RESULTS_DEPTH} levels", "nest")


def nested(depth: int, width: int, leaves: int) -> Any:
    """``depth`` + 1 levels: lists of ``width`` lists, the innermost holding ``leaves`` zeros."""
    return [nested(depth - 1, width, leaves) for _ in range(width)] if depth else [0] * leaves


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, MAX_RESULTS_DEPTH - 1), st.integers(1, 3), st.integers(1, 60_000))
@example(49, 1, 60_000)  # refused: issue 17's 13.8 MB (a chain 50 deep, its leaves indented)
@example(0, 1, 120_000)  # accepted: 120,000 leaves one level deep take about 840 KB
def test_results_are_accepted_exactly_when_their_sidecar_fits_the_cap(
    depth: int, width: int, leaves: int
) -> None:
    """Messages under 256 KiB whose indented rendering may grow past the cap (issue 17: nested 50
    deep, 13.8 MB): what is accepted fits, what is refused would not have."""
    assume(width**depth * (leaves + 1) <= 130_000)  # more could not fit in 256 KiB anyway
    results = nested(depth, width, leaves)
    text = json.dumps(results, separators=(",", ":"))
    assume(len(message(text)) <= 256 * 1024)
    actual = len(json.dumps({"r": results}, indent=2).encode()) - len('{\n  "r": \n}')
    if actual <= MAX_RESULTS_BYTES:
        assert_bounded(text)
    else:
        assert_invalid(text, f"over the limit of {MAX_RESULTS_BYTES}")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),  # control characters, quotes, backslashes, astral planes included
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=40,
)


@settings(max_examples=1000, deadline=None, database=None)
@given(json_values)
def test_the_size_decided_at_parse_time_is_the_rendered_size(results: Any) -> None:
    """The cap is checked on a size computed without rendering: it must be the rendering's own."""
    note = Notification(FILE, None, "m-1", None, datetime(2026, 11, 24, tzinfo=UTC))
    without = len(render(note, ENTRY)) - len("null")
    assert len(render(note._replace(results=results), ENTRY)) - without == results_size(results)


# --- redrive attributes -------------------------------------------------------------------------

delivered = datetime.fromisoformat(DELIVERED)
in_range = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def redrive_times(draw: st.DrawFn) -> tuple[object, bool]:
    """(the original-published attribute's value, whether a redrive could have sent it)."""
    kind = draw(st.sampled_from(["ok", "naive", "overflow", "later", "garbage", "not-a-string"]))
    if kind == "ok":
        when = draw(
            st.datetimes(datetime(1, 1, 2), delivered.replace(tzinfo=None), timezones=offsets)
        )
        assume(when <= delivered)
        return when.isoformat(), True
    if kind == "naive":
        return draw(in_range).isoformat(), False
    if kind == "overflow":  # in range as written, out of range in UTC (OverflowError before)
        minutes = draw(st.integers(1, 23 * 60 + 59))
        early = datetime(1, 1, 1, tzinfo=timezone(timedelta(minutes=minutes)))
        late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(minutes=-minutes)))
        return draw(st.sampled_from([early, late])).isoformat(), False
    if kind == "later":
        when = delivered + draw(st.timedeltas(timedelta(microseconds=1), timedelta(days=10**5)))
        return when.astimezone(draw(offsets)).isoformat(), False
    if kind == "garbage":
        return draw(
            st.sampled_from(
                [
                    *["", " ", "yesterday", "2026-13-01T00:00:00Z", "0000-01-01T00:00:00Z"],
                    *["10000-01-01T00:00:00Z", "+2026-01-01T00:00:00Z", "2026-01-01T00:00+24:00"],
                    *["\ud800", "2026-11-24T10:00:00Z\x00"],
                ]
            )
        ), False
    return draw(st.none() | st.integers() | st.lists(st.integers(), max_size=1)), False


@st.composite
def redrive_attributes(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """Every form: absent, one without the other, no Value, odd Values, odd ids, any time."""
    form = draw(st.sampled_from(["none", "both", "time-only", "id-only", "not-a-dict", "no-value"]))
    published, time_ok = draw(redrive_times())
    original_id: Any = draw(
        st.sampled_from(["first-id", "", "\udc80", "x" * 2000]) | st.integers() | st.none()
    )
    id_ok = isinstance(original_id, str) and original_id in ("first-id",)
    values = {
        ORIGINAL_PUBLISHED_ATTR: {"Type": "String", "Value": published},
        ORIGINAL_MESSAGE_ID_ATTR: {"Type": "String", "Value": original_id},
    }
    if form == "none":
        return {"team": {"Type": "String", "Value": "x"}}, True
    if form == "time-only":
        return {ORIGINAL_PUBLISHED_ATTR: values[ORIGINAL_PUBLISHED_ATTR]}, False
    if form == "id-only":
        return {ORIGINAL_MESSAGE_ID_ATTR: values[ORIGINAL_MESSAGE_ID_ATTR]}, False
    broken = draw(st.sampled_from([ORIGINAL_PUBLISHED_ATTR, ORIGINAL_MESSAGE_ID_ATTR]))
    if form == "not-a-dict":
        values[broken] = draw(st.none() | st.integers() | st.text(max_size=5))
        return values, False
    if form == "no-value":
        values[broken] = {"Type": "String"}
        return values, False
    return values, time_ok and id_ok


@settings(max_examples=2000, deadline=None, database=None)
@given(redrive_attributes())
def test_every_redrive_attribute_form_is_honoured_or_invalid(
    case: tuple[dict[str, Any], bool],
) -> None:
    attributes, valid = case
    redriven = {**envelope(FILE, "new-id", DELIVERED), "MessageAttributes": attributes}
    try:
        note = from_envelope(redriven, SUFFIX)
    except InvalidMessage as exc:
        assert not valid, f"refused: {exc}"
        assert retryable(exc) is False
        return
    assert valid, f"accepted: {attributes}"
    assert note.published <= delivered and note.published.tzinfo is not None
    assert note.message_id == ("first-id" if ORIGINAL_MESSAGE_ID_ATTR in attributes else "new-id")


# --- through the handler: an invalid record fails alone, before the NFS part --------------------


class RecordingHandler(Handler):
    """The handler with its NFS part replaced by a record of what reached it."""

    reached: list[Notification]

    def process_all(self, notes: list[Notification], *args: Any, **kwargs: Any) -> list[Any]:
        self.reached.extend(notes)
        return [Outcome(note.filename + SUFFIX, True, "link") for note in notes]


HANDLER = RecordingHandler(Config(server="127.0.0.1", export="/export"))

bad_results = st.one_of(
    st.integers(MAX_INTEGER_DIGITS + 1, 5000).map(lambda n: "1" * n),
    st.sampled_from(["NaN", "-Infinity", "1e400", '"\\ud800"', '{"\\udfff": 1}']),
    st.integers(MAX_RESULTS_DEPTH + 1, 20_000).map(lambda n: "[" * n + "]" * n),
    st.just(json.dumps(nested(49, 1, 60_000), separators=(",", ":"))),  # issue 17's 13.8 MB
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(bad_results | redrive_attributes().filter(lambda case: not case[1]), st.booleans())
def test_an_invalid_record_fails_alone_and_never_reaches_the_server(
    bad: str | tuple[dict[str, Any], bool], newest: bool
) -> None:
    """A valid record for the same file, older or newer, is written; the invalid one fails as
    InvalidMessage, not retryable, and the NFS part never sees it."""
    good = envelope(FILE, "m-good", "2026-11-24T10:00:00.000Z")
    if isinstance(bad, str):
        invalid = envelope(FILE, "m-bad", DELIVERED if newest else "2026-11-23T00:00:00.000Z")
        invalid["Message"] = message(bad)
    else:
        invalid = {**envelope(FILE, "m-bad", DELIVERED), "MessageAttributes": bad[0]}
    HANDLER.reached = []
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        answer = HANDLER(sqs_event(good, invalid), FakeContext(30))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "sqs-1"}]}
    assert [note.message_id for note in HANDLER.reached] == ["m-good"]
    lines = {line["sqs_message_id"]: line for line in map(json.loads, out.getvalue().splitlines())}
    assert lines["sqs-0"]["outcome"] == "written"
    failed = lines["sqs-1"]
    assert (failed["outcome"], failed["error_type"], failed["retryable"]) == (
        "failed",
        "InvalidMessage",
        False,
    )
