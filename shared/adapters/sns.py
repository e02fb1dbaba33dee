"""The event publisher port on SNS: one topic per event type."""

from __future__ import annotations

import logging
from typing import Any

from shared.adapters.aws import client
from shared.events import EventSchema, envelope

log = logging.getLogger("fs.events")


class SnsPublisher:
    def __init__(self, topic_arns: dict[str, str], sns_client: Any | None = None) -> None:
        self._topics = topic_arns
        self._sns = sns_client or client("sns")

    def publish(self, event: EventSchema, key: str | None = None) -> str:
        message = envelope(event, key)
        event_type = message.type
        if event_type not in self._topics:
            raise KeyError(f"this function may not publish {event_type}")
        self._sns.publish(
            TopicArn=self._topics[event_type],
            Message=message.model_dump_json(),
            MessageAttributes={"type": {"DataType": "String", "StringValue": event_type}},
        )
        log.info(
            "event published",
            extra={
                "event_type": event_type,
                "event_id": message.event_id,
                "event_key": message.key,
            },
        )
        return message.event_id
