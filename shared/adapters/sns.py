"""The event publisher port on SNS: one topic per event type."""

from __future__ import annotations

import logging
from typing import Any

from shared.adapters.aws import client
from shared.events import SCHEMAS, Envelope

log = logging.getLogger("fs.events")


class SnsPublisher:
    def __init__(self, topic_arns: dict[str, str], sns_client: Any | None = None) -> None:
        self._topics = topic_arns
        self._sns = sns_client or client("sns")

    def publish(self, event_type: str, payload: dict[str, Any], key: str) -> str:
        if event_type not in self._topics:
            raise KeyError(f"this function may not publish {event_type}")
        payload = SCHEMAS[event_type].model_validate(payload).model_dump()
        message = Envelope(type=event_type, key=key, payload=payload)
        self._sns.publish(
            TopicArn=self._topics[event_type],
            Message=message.model_dump_json(),
            MessageAttributes={"type": {"DataType": "String", "StringValue": event_type}},
        )
        log.info(
            "event published",
            extra={"event_type": event_type, "event_id": message.event_id, "event_key": key},
        )
        return message.event_id
