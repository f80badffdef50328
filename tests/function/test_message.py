"""Message validation: pure logic, no server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from nfs_sidecar.message import (
    MAX_MESSAGE_BYTES,
    InvalidMessage,
    from_envelope,
    from_sqs_body,
    normalise_filename,
    parse_message,
    sidecar_location,
)
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
