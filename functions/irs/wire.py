"""The four kinds of message on IRS's queue, told apart by shape.

- S3 notifications of the inbox bucket (``{"Records": [{"s3": ...}]}``; the
  ``s3:TestEvent`` S3 sends when notifications are configured is ignored),
- FileUploadReceived and FileDeletionRequested events (raw SNS delivery of our event
  envelope, told apart by its type),
- IRS's own continuations (``{"fs_irs_continue": <object key>}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from functions.irs.model import Upload
from shared.events import BadEvent, FileDeletionRequested, FileUploadReceived, parse_message

CONTINUE = "fs_irs_continue"


@dataclass(frozen=True)
class ObjectCreated:
    bucket: str
    key: str
    size: int


@dataclass(frozen=True)
class Continuation:
    object_key: str


Message = list[ObjectCreated] | Upload | FileDeletionRequested | Continuation | None


def continuation_body(object_key: str) -> str:
    return json.dumps({CONTINUE: object_key})


def parse(body: str) -> Message:
    """What the message asks for; None for messages that need nothing (logged by caller)."""
    try:
        data: Any = json.loads(body)
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get(CONTINUE), str):
        return Continuation(data[CONTINUE])
    if isinstance(data.get("Records"), list):
        return _s3_records(data["Records"])
    if data.get("Event") == "s3:TestEvent":
        return None
    try:
        envelope = parse_message(body)
    except BadEvent:
        return None
    if envelope.type not in ("FileUploadReceived", "FileDeletionRequested"):
        return None
    try:
        event = envelope.parsed()
    except ValueError:
        return None
    if isinstance(event, FileDeletionRequested):
        return event
    assert isinstance(event, FileUploadReceived)
    return Upload.from_event(event)


def _s3_records(records: list[Any]) -> list[ObjectCreated]:
    found = []
    for record in records:
        if not isinstance(record, dict) or "s3" not in record:
            continue
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        try:
            found.append(
                ObjectCreated(
                    bucket=record["s3"]["bucket"]["name"],
                    key=unquote_plus(record["s3"]["object"]["key"]),
                    size=int(record["s3"]["object"].get("size", 0)),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return found
