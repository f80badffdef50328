"""The redrive tool's reading of failure-queue messages (the round trip through real queues and a
real topic is in the end-to-end suite)."""

from __future__ import annotations

import json

import pytest

import redrive
from nfs_sidecar.message import ORIGINAL_MESSAGE_ID_ATTR, ORIGINAL_PUBLISHED_ATTR, from_envelope
from tests.function.helpers import TOPIC, envelope


def destination_record(*envelopes: dict) -> str:
    """What Lambda sends to an on-failure destination after the last retry."""
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": "2026-11-24T10:03:00.000Z",
            "requestContext": {
                "requestId": "r-1",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": {
                "Records": [{"EventSource": "aws:sns", "Sns": e} for e in envelopes]
            },
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {
                "errorType": "FileNotFoundOnExport",
                "errorMessage": "'a.txt' not found in the export",
            },
        }
    )


def test_destination_record_gives_the_notification_and_reason() -> None:
    original = envelope("a.txt", "m-1", "2026-11-24T10:00:00.000Z")
    [failed] = redrive.failed_notifications(destination_record(original))
    assert failed.message == original["Message"]
    assert failed.original_message_id == "m-1"
    assert failed.original_published == "2026-11-24T10:00:00.000Z"
    assert failed.reason == "FileNotFoundOnExport: 'a.txt' not found in the export"


def test_dead_letter_envelope_is_redriven_too() -> None:
    [failed] = redrive.failed_notifications(json.dumps(envelope("b.txt", "m-2")))
    assert json.loads(failed.message)["filename"] == "b.txt"


def test_dead_letter_envelope_says_where_the_reason_is() -> None:
    """SNS envelopes (the subscription's dead-letter queue, the delivery queue's) carry none."""
    [failed] = redrive.failed_notifications(json.dumps(envelope("c.txt", "m-3")))
    assert failed.original_message_id == "m-3"
    assert failed.reason == redrive.ENVELOPE_REASON


def test_a_redriven_notification_keeps_its_first_identity_through_two_redrives() -> None:
    first = envelope("a.txt", "m-1", "2026-11-24T10:00:00.000Z")
    [failed] = redrive.failed_notifications(destination_record(first))
    args = failed.publish_args(TOPIC)
    # What SNS delivers for that publish, which fails again and is redriven again:
    second = {
        **envelope("a.txt", "m-9", "2026-11-25T09:00:00.000Z", message=args["Message"]),
        "MessageAttributes": {
            name: {"Type": "String", "Value": value["StringValue"]}
            for name, value in args["MessageAttributes"].items()
        },
    }
    assert set(second["MessageAttributes"]) == {ORIGINAL_PUBLISHED_ATTR, ORIGINAL_MESSAGE_ID_ATTR}
    [again] = redrive.failed_notifications(destination_record(second))
    assert (again.original_message_id, again.original_published) == (
        "m-1",
        "2026-11-24T10:00:00.000Z",
    )
    note = from_envelope(second, "-sidecar.json")  # and the function agrees
    assert (note.message_id, note.published.isoformat()) == ("m-1", "2026-11-24T10:00:00+00:00")


@pytest.mark.parametrize("body", ["not json", "{}", '{"requestPayload": {}}', "[1]"])
def test_unknown_messages_are_refused(body: str) -> None:
    with pytest.raises(ValueError, match="not a failure record"):
        redrive.failed_notifications(body)
