"""S3 event notifications for an S3 server that sends none (the seaweedfs backend).

On AWS (and on moto and LocalStack) S3 itself sends the ``s3:ObjectCreated:*`` events of
a bucket to the queue its notification configuration names: that is how IRS learns of a
closed upload (shared/resources.py ``S3Source``). SeaweedFS has no such feature, so in the
testbed a thread lists every bucket that the declaration gives an ``S3Source``
(ListObjectsV2, every 0.5 s) and, for each object it sees for the first time or with a
new ETag, sends to the declared queue the message AWS would send: ``{"Records": [...]}``
with eventSource ``aws:s3``, eventName ``ObjectCreated:CompleteMultipartUpload`` (the
ETag of a multipart upload) or ``ObjectCreated:Put``, the key URL-encoded as AWS does
(form encoding: a space becomes ``+``, ``/`` stays), its size and eTag, and a sequencer
that grows.

How this differs from AWS, and why that is fine for the testbed:

- delivery lags by up to the poll interval and is at-least-once, which is all AWS
  promises too (a message that could not be sent is tried again at the next poll);
- an object overwritten within one interval is announced once, as its last version; a
  copy is announced as ``ObjectCreated:Put`` (a listing cannot tell them apart);
- what it announced is forgotten when the stack stops (so is the store: fresh at every
  start); an object deleted and created again is announced again, as on AWS;
- only creation events: the only kind the declaration asks for.

Testbed only: production code relies on S3's own notifications and knows nothing of this.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from shared.resources import DECLARATION, Declaration, bucket_name, queue_name

log = logging.getLogger("fs.s3_notifier")

POLL_INTERVAL_S = 0.5


@dataclass(frozen=True)
class Route:
    """One bucket's events to one queue (a QueueConfiguration of the bucket on AWS)."""

    bucket: str
    queue_url: str
    events: tuple[str, ...]  # as declared: "s3:ObjectCreated:*", "s3:ObjectCreated:Put", ...


@dataclass(frozen=True)
class Listed:
    etag: str
    size: int
    modified: datetime


def routes(sqs: Any, pfx: str, declaration: Declaration = DECLARATION) -> list[Route]:
    """The routes of every queue with an S3 source in the declaration."""
    return [
        Route(
            bucket=bucket_name(queue.s3.bucket, pfx),
            queue_url=sqs.get_queue_url(QueueName=queue_name(queue.key, pfx))["QueueUrl"],
            events=tuple(queue.s3.events),
        )
        for queue in declaration.queues
        if queue.s3 is not None
    ]


def event_name(etag: str) -> str:
    """What S3 calls the creation of an object with this ETag (``"<md5>-<parts>"`` is
    the ETag of a completed multipart upload)."""
    if "-" in etag.strip('"'):
        return "ObjectCreated:CompleteMultipartUpload"
    return "ObjectCreated:Put"


def wanted(event: str, patterns: tuple[str, ...]) -> bool:
    """Whether a configuration with these event types wants ``event`` (S3's matching:
    ``s3:ObjectCreated:*`` takes every ``ObjectCreated:...``)."""
    full = f"s3:{event}"
    return any(
        full == pattern or (pattern.endswith(":*") and full.startswith(pattern[:-1]))
        for pattern in patterns
    )


def encode_key(key: str) -> str:
    """The key as S3 writes it into an event: form-encoded, ``/`` left as it is."""
    return quote_plus(key, safe="/")


def _timestamp(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def s3_event(
    *, bucket: str, key: str, listed: Listed, event: str, sequencer: str, region: str
) -> dict[str, Any]:
    """The body of the SQS message S3 sends for one created object."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": _timestamp(listed.modified),
                "eventName": event,
                "userIdentity": {"principalId": "AWS:FS-STACK"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": secrets.token_hex(8).upper(),
                    "x-amz-id-2": base64.b64encode(secrets.token_bytes(48)).decode(),
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "fs-stack-s3-notifier",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "FS-STACK"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": encode_key(key),
                        "size": listed.size,
                        "eTag": listed.etag.strip('"'),
                        "sequencer": sequencer,
                    },
                },
            }
        ]
    }


class S3Notifier:
    """Announces each new object of the routed buckets once to each routed queue."""

    def __init__(
        self,
        s3: Any,
        sqs: Any,
        routes: list[Route],
        region: str,
        interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self._s3 = s3
        self._sqs = sqs
        self.routes = list(routes)
        self._region = region
        self._interval_s = interval_s
        self._announced: dict[Route, dict[str, str]] = {route: {} for route in self.routes}
        self._last_sequence = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """One pass over every routed bucket; the number of messages sent."""
        listings: dict[str, dict[str, Listed]] = {}
        sent = 0
        for route in self.routes:
            if route.bucket not in listings:
                listings[route.bucket] = self._list(route.bucket)
            objects = listings[route.bucket]
            announced = self._announced[route]
            for gone in set(announced) - set(objects):
                del announced[gone]
            for key, listed in objects.items():
                if announced.get(key) == listed.etag:
                    continue
                event = event_name(listed.etag)
                if wanted(event, route.events):
                    body = s3_event(
                        bucket=route.bucket,
                        key=key,
                        listed=listed,
                        event=event,
                        sequencer=self._sequencer(),
                        region=self._region,
                    )
                    self._sqs.send_message(QueueUrl=route.queue_url, MessageBody=json.dumps(body))
                    sent += 1
                announced[key] = listed.etag  # only once sent: at least once
        return sent

    def _list(self, bucket: str) -> dict[str, Listed]:
        found: dict[str, Listed] = {}
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                found[item["Key"]] = Listed(item["ETag"], item["Size"], item["LastModified"])
        return found

    def _sequencer(self) -> str:
        self._last_sequence = max(self._last_sequence + 1, time.time_ns())
        return f"{self._last_sequence:018X}"

    # ------------------------------------------------------------ the thread

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="s3-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                if self._stop.is_set():
                    return
                log.warning("S3 notifier pass failed; trying again", exc_info=True)
            self._stop.wait(self._interval_s)
