#!/usr/bin/env python3
"""Publish the notifications in the failure queue to the topic again, once the cause is fixed.

The failure queue holds Lambda on-failure destination records (direct SNS delivery: the SNS event
is in ``requestPayload``, the reason in ``responsePayload``) and SNS envelopes: those the SQS
delivery mode's queue gave up on, and those SNS could not deliver at all (the subscription's
dead-letter queue, in both modes). Each notification is published again with its
original publish time and message id as message attributes, so it keeps its place in the order:
a redriven old notification never replaces a sidecar written for a newer one.

A queue message is deleted only after all of its notifications were published; one that cannot be
understood is left in the queue and reported.

    python scripts/redrive.py --queue-url URL --topic-arn ARN [--dry-run] [--max N]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

ORIGINAL_PUBLISHED_ATTR = "nfs-sidecar.original-published"
ORIGINAL_MESSAGE_ID_ATTR = "nfs-sidecar.original-message-id"


@dataclass(frozen=True)
class Failed:
    """One failed notification, as it will be published again."""

    message: str
    original_published: str
    original_message_id: str
    reason: str

    def publish_args(self, topic_arn: str) -> dict[str, Any]:
        return {
            "TopicArn": topic_arn,
            "Message": self.message,
            "MessageAttributes": {
                ORIGINAL_PUBLISHED_ATTR: {
                    "DataType": "String",
                    "StringValue": self.original_published,
                },
                ORIGINAL_MESSAGE_ID_ATTR: {
                    "DataType": "String",
                    "StringValue": self.original_message_id,
                },
            },
        }


def _from_envelope(envelope: dict[str, Any], reason: str) -> Failed:
    attributes = envelope.get("MessageAttributes") or {}

    def original(name: str, fallback: str) -> str:
        value = attributes.get(name)
        return value.get("Value") if isinstance(value, dict) and value.get("Value") else fallback

    return Failed(
        message=envelope["Message"],
        original_published=original(ORIGINAL_PUBLISHED_ATTR, envelope["Timestamp"]),
        original_message_id=original(ORIGINAL_MESSAGE_ID_ATTR, envelope["MessageId"]),
        reason=reason,
    )


# An SNS envelope carries no reason: the function's log has one if it ever ran for the message.
ENVELOPE_REASON = (
    "not delivered by SNS, or given up on by the delivery queue: the function's log has the"
    " reason if it ran for this message id"
)


def failed_notifications(body: str) -> list[Failed]:
    """The notifications in one failure-queue message; ValueError if it is neither shape."""
    try:
        record = json.loads(body)
        if "requestPayload" in record:  # Lambda on-failure destination record
            response = record.get("responsePayload") or {}
            reason = f"{response.get('errorType', '?')}: {response.get('errorMessage', '?')}"
            return [_from_envelope(r["Sns"], reason) for r in record["requestPayload"]["Records"]]
        if record.get("Type") == "Notification":  # an SNS envelope
            return [_from_envelope(record, ENVELOPE_REASON)]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a failure record or SNS envelope: {exc!r}") from None
    raise ValueError("not a failure record or SNS envelope")


def redrive(
    sqs: Any,
    sns: Any,
    queue_url: str,
    topic_arn: str,
    *,
    dry_run: bool = False,
    limit: int | None = None,
) -> tuple[int, int]:
    """Returns (notifications published, queue messages left because they were not understood)."""
    published = skipped = 0
    seen: set[str] = set()
    while limit is None or published < limit:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                notes = failed_notifications(message["Body"])
            except ValueError as exc:
                print(f"left in the queue: {message['MessageId']}: {exc}", file=sys.stderr)
                skipped += 1
                continue
            for note in notes:
                print(
                    f"{'would publish' if dry_run else 'publishing'} {note.original_message_id}"
                    f" ({note.original_published}), failed with {note.reason}"
                )
                if not dry_run:
                    sns.publish(**note.publish_args(topic_arn))
                published += 1
            if not dry_run:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return published, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue-url", required=True, help="the failure queue (Terraform output)")
    parser.add_argument("--topic-arn", required=True, help="the notification topic")
    parser.add_argument("--dry-run", action="store_true", help="list, publish nothing")
    parser.add_argument("--max", type=int, default=None, help="stop after N notifications")
    parser.add_argument("--endpoint-url", default=None, help="e.g. LocalStack's")
    args = parser.parse_args(argv)

    import boto3  # the operator's environment, not the function's

    sqs = boto3.client("sqs", endpoint_url=args.endpoint_url)
    sns = boto3.client("sns", endpoint_url=args.endpoint_url)
    published, skipped = redrive(
        sqs, sns, args.queue_url, args.topic_arn, dry_run=args.dry_run, limit=args.max
    )
    print(
        f"{'would publish' if args.dry_run else 'published'} {published} notification(s); "
        f"{skipped} queue message(s) not understood, left in the queue"
    )
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
