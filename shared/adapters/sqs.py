"""The message sender port on SQS: a function hands work on to a later invocation of itself.

The queue is named in the resource declaration; its URL is looked up once, at the first send.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.adapters.aws import client


class SqsMessageSender:
    def __init__(self, queue_name: str, sqs_client: Any | None = None) -> None:
        self._name = queue_name
        self._sqs = sqs_client or client("sqs")
        self._url: str | None = None
        self._lock = threading.Lock()

    def _queue_url(self) -> str:
        with self._lock:
            if self._url is None:
                self._url = self._sqs.get_queue_url(QueueName=self._name)["QueueUrl"]
            return self._url

    def send(self, body: str, delay_s: int = 0) -> str:
        response = self._sqs.send_message(
            QueueUrl=self._queue_url(), MessageBody=body, DelaySeconds=max(0, min(delay_s, 900))
        )
        return response["MessageId"]
