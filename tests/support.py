"""Helpers for tests that talk to a running embedded stack over real HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shared.crypt.keys import encode_key, generate_keypair
from shared.crypt.sealedbox import unseal
from testbed.process import StackProcess, start_stack_process

REPO = Path(__file__).resolve().parents[1]


RunningStack = StackProcess


def start_stack(state_dir: Path, *extra: str, timeout: float = 120) -> StackProcess:
    """Start ``fs-stack up`` in a subprocess and wait for its endpoints file."""
    return start_stack_process(state_dir, *extra, timeout=timeout)


@dataclass
class User:
    """A user's Crypt4GH key pair (raw keys) and the base64 public key."""

    private_key: bytes
    public_key: bytes

    @property
    def public_b64(self) -> str:
        return encode_key(self.public_key)

    @classmethod
    def new(cls) -> User:
        private, public = generate_keypair()
        return cls(private, public)


class Operator:
    """The archive operator's view of the stack (authenticated admin calls)."""

    def __init__(self, endpoints: dict[str, Any]) -> None:
        self.endpoints = endpoints
        self.http = httpx.Client(
            headers={"Authorization": f"Bearer {endpoints['operator_token']}"}, timeout=30
        )

    def create_box(self, max_size: int | None = None) -> str:
        body = {} if max_size is None else {"max_size": max_size}
        response = self.http.post(f"{self.endpoints['ucs_url']}/boxes", json=body)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def work_package(self, user: User, **body: Any) -> tuple[str, str]:
        """Create a work package; returns (package id, plain WPAT)."""
        response = self.http.post(
            f"{self.endpoints['wps_url']}/work-packages",
            json={"user_public_crypt4gh_key": user.public_b64, **body},
        )
        assert response.status_code == 201, response.text
        data = response.json()
        return data["id"], unseal(data["token"], user.private_key)

    def upload_package(self, user: User, box_id: str) -> tuple[str, str]:
        return self.work_package(user, type="upload", file_upload_box_id=box_id)

    def download_package(self, user: User, file_ids: list[str]) -> tuple[str, str]:
        return self.work_package(user, type="download", file_ids=file_ids)


def upload_wot(
    endpoints: dict[str, Any],
    user: User,
    package_id: str,
    wpat: str,
    box_id: str,
    work_type: str,
    **body: Any,
) -> str:
    """A plain (unsealed) upload work order token."""
    response = httpx.post(
        f"{endpoints['wps_url']}/work-packages/{package_id}/boxes/{box_id}/work-order-tokens",
        json={"work_type": work_type, **body},
        headers={"Authorization": f"Bearer {wpat}"},
    )
    assert response.status_code == 201, response.text
    return unseal(response.json(), user.private_key)


def download_wot(
    endpoints: dict[str, Any], user: User, package_id: str, wpat: str, file_id: str
) -> str:
    response = httpx.post(
        f"{endpoints['wps_url']}/work-packages/{package_id}/files/{file_id}/work-order-tokens",
        headers={"Authorization": f"Bearer {wpat}"},
    )
    assert response.status_code == 201, response.text
    return unseal(response.json(), user.private_key)


# ---------------------------------------------------------------- AWS side of the stack


def aws(endpoints: dict[str, Any], service: str) -> Any:
    """A boto3 client for the stack's AWS API (moto server)."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoints["aws_endpoint_url"],
        region_name=endpoints["aws_region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def stack_topic_arn(endpoints: dict[str, Any], event_type: str) -> str:
    from infra.resources import topic_arn

    return topic_arn(
        event_type, endpoints["aws_region"], MOTO_ACCOUNT, endpoints["resource_prefix"]
    )


MOTO_ACCOUNT = "123456789012"


def publish_event(
    endpoints: dict[str, Any], event_type: str, payload: dict[str, Any], key: str
) -> str:
    """Publish one event on the stack's topic, exactly as a service's SnsPublisher does."""
    from shared.events import SCHEMAS, Envelope

    payload = SCHEMAS[event_type].model_validate(payload).model_dump()
    message = Envelope(type=event_type, key=key, payload=payload)
    aws(endpoints, "sns").publish(
        TopicArn=stack_topic_arn(endpoints, event_type),
        Message=message.model_dump_json(),
        MessageAttributes={"type": {"DataType": "String", "StringValue": event_type}},
    )
    return message.event_id


class EventStream:
    """A queue of the test's own, subscribed with raw delivery to some event topics.

    Every event published on those topics from its creation on is collected; ``wait_for``
    polls (bounded) until one matches. Close it to unsubscribe.
    """

    def __init__(self, endpoints: dict[str, Any], event_types: list[str] | tuple[str, ...]):
        import uuid

        self._sqs = aws(endpoints, "sqs")
        self._sns = aws(endpoints, "sns")
        self.url = self._sqs.create_queue(QueueName=f"test-events-{uuid.uuid4().hex[:12]}")[
            "QueueUrl"
        ]
        arn = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self._subscriptions = [
            self._sns.subscribe(
                TopicArn=stack_topic_arn(endpoints, event_type),
                Protocol="sqs",
                Endpoint=arn,
                Attributes={"RawMessageDelivery": "true"},
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
            for event_type in event_types
        ]
        self.seen: list[Any] = []  # shared.events.Envelope, in arrival order

    def poll(self, wait_s: int = 1) -> None:
        from shared.events import parse_message

        response = self._sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s
        )
        for message in response.get("Messages", []):
            self.seen.append(parse_message(message["Body"]))
            self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def events(self, event_type: str | None = None, key: str | None = None) -> list[Any]:
        return [
            e
            for e in self.seen
            if (event_type is None or e.type == event_type) and (key is None or e.key == key)
        ]

    def wait_for(self, event_type: str, key: str, timeout: float = 60) -> Any:
        """The first event of this type and key; AssertionError after ``timeout`` seconds."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            found = self.events(event_type, key)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {event_type} for {key} within {timeout:.0f}s; seen: "
                    f"{[(e.type, e.key) for e in self.seen]}"
                )
            self.poll()

    def settle(self, quiet_polls: int = 3) -> None:
        """Collect until the queue stays empty for a few long polls (late duplicates)."""
        quiet = 0
        while quiet < quiet_polls:
            before = len(self.seen)
            self.poll()
            quiet = quiet + 1 if len(self.seen) == before else 0

    def close(self) -> None:
        for subscription in self._subscriptions:
            self._sns.unsubscribe(SubscriptionArn=subscription)
        self._sqs.delete_queue(QueueUrl=self.url)


def queue_url(endpoints: dict[str, Any], name: str) -> str:
    """URL of a queue of the stack by its concrete name (see infra.resources.queue_name)."""
    return aws(endpoints, "sqs").get_queue_url(QueueName=name)["QueueUrl"]


def wait_until_drained(endpoints: dict[str, Any], name: str, timeout: float = 60) -> None:
    """Wait (bounded) until a queue of the stack has no visible or in-flight messages."""
    import time

    sqs, url = aws(endpoints, "sqs"), queue_url(endpoints, name)
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 3:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        busy = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        quiet = 0 if busy else quiet + 1
        if time.monotonic() > deadline:
            raise AssertionError(f"queue {name} still has {busy} messages after {timeout:.0f}s")
        time.sleep(0.3)
