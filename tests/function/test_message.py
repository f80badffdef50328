"""Message validation: pure logic, no server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from nfs_sidecar.document import (
    MAX_DOCUMENT_WITHOUT_RESULTS_BYTES,
    MAX_ID_CHARS,
    MAX_RESULTS_BYTES,
    MAX_SIDECAR_BYTES,
    Unrenderable,
    render,
    results_size,
)
from nfs_sidecar.errors import InvalidMessage
from nfs_sidecar.message import (
    MAX_MESSAGE_BYTES,
    MAX_NAME_BYTES,
    MAX_PATH_BYTES,
    from_envelope,
    from_sqs_body,
    normalise_filename,
    parse_message,
    sidecar_location,
)
from nfs_sidecar.nfs.client import Attributes, Entry
from tests.function.helpers import TOPIC, envelope

SUFFIX = "-sidecar.json"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("data/run.tar.gz", ("data", "run.tar.gz", "run.tar-sidecar.json")),  # the tutorial's rule
        ("run.csv", ("", "run.csv", "run-sidecar.json")),
        ("a/b/archive", ("a/b", "archive", "archive-sidecar.json")),
        ("a/.hidden", ("a", ".hidden", ".hidden-sidecar.json")),
        ("données/résumé.txt", ("données", "résumé.txt", "résumé-sidecar.json")),
    ],
)
def test_sidecar_sits_beside_the_file(filename: str, expected: tuple[str, str, str]) -> None:
    assert sidecar_location(filename, SUFFIX) == expected


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("/data/run.tar.gz", "data/run.tar.gz"),
        ("data//x/./run.bin", "data/x/run.bin"),
        ("日本語/ファイル.dat", "日本語/ファイル.dat"),
        ("with space/and\\backslash.txt", "with space/and\\backslash.txt"),
    ],
)
def test_filenames_are_normalised_inside_the_export(raw: str, normalised: str) -> None:
    assert normalise_filename(raw, SUFFIX) == normalised


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "empty"),
        ("/", "names a folder"),
        ("./.", "empty"),
        ("data/", "names a folder"),
        ("../etc/passwd", "'..'"),
        ("/data/../../etc/passwd", "'..'"),
        ("data/..", "'..'"),
        ("a\0b", "NUL"),
        ("x" * 256, "longer than 255"),
        ("a/" * 2100 + "b", "longer than 4096"),
        ("data/run-sidecar.json", "itself a sidecar"),
        ("data/\udcff.bin", "not valid Unicode"),
        ("d/" + "y" * 250 + ".z", "sidecar's name would be too long"),
        (42, "must be a string"),
        (None, "must be a string"),
        (["a"], "must be a string"),
    ],
)
def test_bad_filenames_are_rejected_with_the_reason(raw: object, problem: str) -> None:
    with pytest.raises(InvalidMessage, match=problem):
        normalise_filename(raw, SUFFIX)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not JSON"),
        ("", "not JSON"),
        ('["data/x"]', "JSON object, not list"),
        ('"data/x"', "JSON object, not str"),
        ('{"results": 1}', "lacks 'filename'"),
        ('{"filename": "a"}', "lacks 'results'"),
        ("{}", "lacks 'filename' and 'results'"),
        ('{"filename": 7, "results": 1}', "must be a string"),
        ('{"filename": "a", "results": "x' + "y" * MAX_MESSAGE_BYTES + '"}', "larger than"),
    ],
)
def test_bad_messages_are_rejected_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(InvalidMessage, match=problem):
        parse_message(text, SUFFIX)


def test_results_may_be_any_json_value() -> None:
    for results in (None, 0, "done", [1, 2], {"nested": {"k": [True, None]}}):
        message = json.dumps({"filename": "f.txt", "results": results})
        assert parse_message(message, SUFFIX) == ("f.txt", results)


def test_envelope_gives_the_notification_and_its_origin() -> None:
    note = from_envelope(envelope("/a/b.txt", "mid-7", "2026-11-24T10:00:00.123Z"), SUFFIX)
    assert note.filename == "a/b.txt"
    assert note.message_id == "mid-7"
    assert note.topic_arn == TOPIC
    assert note.published == datetime(2026, 11, 24, 10, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"MessageId": None}, "no MessageId"),
        ({"Timestamp": "yesterday"}, "not ISO 8601"),
        ({"Timestamp": "2026-11-24T10:00:00"}, "no time zone"),
        ({"Timestamp": None}, "Timestamp is missing"),
        ({"Message": None}, "must be a JSON string"),
    ],
)
def test_bad_envelopes_are_rejected(change: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidMessage, match=problem):
        from_envelope({**envelope("f.txt"), **change}, SUFFIX)


def test_sqs_body_must_be_an_sns_envelope() -> None:
    assert from_sqs_body(json.dumps(envelope("f.txt")), SUFFIX).filename == "f.txt"
    with pytest.raises(InvalidMessage, match="raw message delivery"):
        from_sqs_body('{"filename": "f.txt", "results": 1}', SUFFIX)
    with pytest.raises(InvalidMessage, match="not an SNS envelope"):
        from_sqs_body("plain text", SUFFIX)


def test_notifications_order_by_publish_time_then_message_id() -> None:
    older = from_envelope(envelope("f", "b", "2026-11-24T10:00:00.000Z"), SUFFIX)
    newer = from_envelope(envelope("f", "a", "2026-11-24T10:00:00.001Z"), SUFFIX)
    tie = from_envelope(envelope("f", "c", "2026-11-24T10:00:00.000Z"), SUFFIX)
    assert older.order_key < newer.order_key
    assert older.order_key < tie.order_key < newer.order_key


def test_a_redriven_notification_keeps_its_original_identity_and_time() -> None:
    redriven = {
        **envelope("f.txt", "new-id", "2026-11-25T08:00:00.000Z"),
        "MessageAttributes": {
            "nfs-sidecar.original-published": {
                "Type": "String",
                "Value": "2026-11-24T10:00:00.000Z",
            },
            "nfs-sidecar.original-message-id": {"Type": "String", "Value": "first-id"},
        },
    }
    note = from_envelope(redriven, SUFFIX)
    assert note.message_id == "first-id"
    assert note.published == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def redriven(published: str, attributes: dict[str, object]) -> dict[str, object]:
    return {
        **envelope("f.txt", "new-id", published),
        "MessageAttributes": {
            name: value if isinstance(value, dict) else {"Type": "String", "Value": value}
            for name, value in attributes.items()
        },
    }


ORIGINAL_PUBLISHED = "nfs-sidecar.original-published"
ORIGINAL_ID = "nfs-sidecar.original-message-id"


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        # A publisher dating its notification in the future would pin the sidecar forever.
        (
            {ORIGINAL_PUBLISHED: "2999-01-01T00:00:00+00:00", ORIGINAL_ID: "x"},
            "'nfs-sidecar.original-published' .* is later than the SNS Timestamp",
        ),
        (
            {ORIGINAL_PUBLISHED: "2026-11-25T08:00:00.001Z", ORIGINAL_ID: "x"},
            "is later than the SNS Timestamp",
        ),
        ({ORIGINAL_PUBLISHED: "2026-11-24T10:00:00Z"}, "'nfs-sidecar.original-message-id' is miss"),
        ({ORIGINAL_ID: "first-id"}, "'nfs-sidecar.original-published' is missing"),
        (
            {ORIGINAL_PUBLISHED: "yesterday", ORIGINAL_ID: "x"},
            "'nfs-sidecar.original-published' 'yesterday' is not ISO 8601",
        ),
        (
            {ORIGINAL_PUBLISHED: "2026-11-24T10:00:00", ORIGINAL_ID: "x"},
            "'nfs-sidecar.original-published' .* has no time zone",
        ),
        ({ORIGINAL_PUBLISHED: "", ORIGINAL_ID: "x"}, "'nfs-sidecar.original-published' has no"),
        ({ORIGINAL_PUBLISHED: {"Type": "Number"}, ORIGINAL_ID: "x"}, "has no string value"),
        ({ORIGINAL_PUBLISHED: "2026-11-24T10:00:00Z", ORIGINAL_ID: {"Value": 7}}, "no string"),
    ],
)
def test_redrive_attributes_that_a_redrive_cannot_have_are_refused(
    attributes: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidMessage, match=problem):
        from_envelope(redriven("2026-11-25T08:00:00.000Z", attributes), SUFFIX)


def test_a_redrive_published_in_the_same_millisecond_is_honoured() -> None:
    note = from_envelope(
        redriven(
            "2026-11-25T08:00:00.000Z",
            {ORIGINAL_PUBLISHED: "2026-11-25T08:00:00.000Z", ORIGINAL_ID: "first-id"},
        ),
        SUFFIX,
    )
    assert (note.message_id, note.published) == ("first-id", datetime(2026, 11, 25, 8, tzinfo=UTC))


def test_unrelated_message_attributes_are_ignored() -> None:
    note = from_envelope(redriven("2026-11-25T08:00:00.000Z", {"team": "genomics"}), SUFFIX)
    assert note.message_id == "new-id"


# --- issue 17: whatever a record holds, it is parsed or it is InvalidMessage --------------------


def results_message(results_json: str) -> str:
    return f'{{"filename": "f.txt", "results": {results_json}}}'


@pytest.mark.parametrize(
    ("results_json", "problem"),
    [
        # Each failed with another error type before (logged retryable: true).
        ("1" * 5000, "more than 640 digits"),  # ValueError
        # RecursionError (past every supported Python's parser limit: 3.13's is above 9,000)
        ("[" * 100_000 + "]" * 100_000, "nested deeper than the JSON parser allows"),
        ('"\\ud800"', "lone surrogate"),  # UnicodeEncodeError, after a CREATE and a REMOVE
        ('{"\\udfff": 1}', "lone surrogate"),
        # Each was written as it was: the sidecar was not JSON.
        ("NaN", "NaN is not a JSON number"),
        ("[Infinity]", "Infinity is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ("1e400", "not finite"),
        # Each was written, and grew with its nesting: 50 deep, 13.8 MB, pinning its file.
        ("[" * 65 + "]" * 65, "nests deeper than 64 levels"),
        ("[" * 49 + "[0" + ",0" * 60_000 + "]" + "]" * 49, r"over the limit of \d+"),
    ],
    ids=[
        "huge-integer",
        "past-the-parser",
        "surrogate",
        "surrogate-key",
        "nan",
        "infinity",
        "minus-infinity",
        "overflowing-float",
        "too-deep",
        "too-large-indented",
    ],
)
def test_results_that_cannot_be_a_bounded_strict_sidecar_are_invalid(
    results_json: str, problem: str
) -> None:
    with pytest.raises(InvalidMessage, match=problem):
        parse_message(results_message(results_json), SUFFIX)


@pytest.mark.parametrize(
    "results_json",
    [
        "9" * 640,
        "-" + "9" * 640,
        "[" * 64 + "]" * 64,
        "1e308",
        "-0",
        "[1.5e-320]",
        '"\\ud83d\\ude00"',
    ],
)
def test_results_at_the_limits_are_accepted(results_json: str) -> None:
    assert parse_message(results_message(results_json), SUFFIX)[1] == json.loads(results_json)


@pytest.mark.parametrize(
    ("published", "problem"),
    [
        ("0001-01-01T00:00:00+01:00", "out of range in UTC"),  # OverflowError before
        ("9999-12-31T23:59:59-00:01", "out of range in UTC"),
        ("2026-11-24T10:00:00Z\x00junk", "not ISO 8601"),
    ],
)
def test_times_out_of_range_in_utc_are_invalid(published: str, problem: str) -> None:
    with pytest.raises(InvalidMessage, match=problem):
        from_envelope({**envelope("f.txt"), "Timestamp": published}, SUFFIX)
    attributes = {ORIGINAL_PUBLISHED: published, ORIGINAL_ID: "x"}
    with pytest.raises(InvalidMessage, match=f"'{ORIGINAL_PUBLISHED}' .*{problem}"):
        from_envelope(redriven("2026-11-25T08:00:00.000Z", attributes), SUFFIX)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"MessageId": "\ud800"}, "MessageId is not valid Unicode"),
        ({"MessageId": "m" * 1025}, "MessageId is longer than 1024"),
        ({"TopicArn": "arn:\udcff"}, "TopicArn is not valid Unicode"),
        ({"TopicArn": "a" * 1025}, "TopicArn is longer than 1024"),
    ],
)
def test_ids_the_sidecar_cannot_hold_are_invalid(change: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidMessage, match=problem):
        from_envelope({**envelope("f.txt"), **change}, SUFFIX)


@pytest.mark.parametrize("odd", ["[" * 100_000 + "]" * 100_000, "1" * 5000, "NaN"])
def test_an_sqs_body_the_parser_refuses_is_invalid(odd: str) -> None:
    # RecursionError and ValueError before.
    with pytest.raises(InvalidMessage, match="not an SNS envelope"):
        from_sqs_body('{"MessageId": "m", "x": ' + odd + "}", SUFFIX)


def test_the_largest_sidecar_a_message_can_produce_is_within_the_cap() -> None:
    """Every field at its limit, each character the longest escaped (a control character is 6
    bytes), the results taking exactly the bytes allowed: the document is at most the cap."""
    part = "\x01" * MAX_NAME_BYTES
    filename = "/".join([part] * 15 + ["\x01" * 200])
    assert len(filename.encode()) <= MAX_PATH_BYTES
    longest = envelope(filename, "\x01" * MAX_ID_CHARS)
    longest["TopicArn"] = "\x01" * MAX_ID_CHARS
    note = from_envelope(longest, SUFFIX)
    results = "x" * (MAX_RESULTS_BYTES - 2)
    assert results_size(results) == MAX_RESULTS_BYTES
    with pytest.raises(Unrenderable, match="over the limit"):
        results_size(results + "x")
    biggest = Attributes(1, 0o644, 0, 0, 2**64 - 1, 2**64 - 1, 0, 253_402_300_799 * 10**9, 1000)
    without = render(note._replace(results=None), Entry(b"", biggest))
    assert len(without) - len("null") <= MAX_DOCUMENT_WITHOUT_RESULTS_BYTES
    assert len(render(note._replace(results=results), Entry(b"", biggest))) <= MAX_SIDECAR_BYTES


def test_a_sidecar_is_strict_json() -> None:
    note = from_envelope(envelope("f.txt"), SUFFIX)._replace(results=[float("nan")])
    with pytest.raises(ValueError, match="not JSON compliant"):
        render(note, Entry(b"", Attributes(1, 0o644, 0, 0, 0, 0, 0, 0, 0)))
