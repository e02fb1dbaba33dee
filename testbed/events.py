"""The testbed's tap on the event stream, and a way to publish as a service would.

The journey and the tests use it to see what really happened (which events
were published, for which file), instead of assuming it. It talks to the
stack's AWS API with the credentials in endpoints.json, so it works on the
embedded stack, on LocalStack and, with real credentials, on AWS.
"""

from __future__ import annotations

from typing import Any

from shared.resources import MOTO_ACCOUNT


def aws(endpoints: dict[str, Any], service: str) -> Any:
    """A boto3 client for the stack's AWS API: ``<service>_endpoint_url`` when the stack
    puts that service elsewhere (seaweedfs backend: SQS and SNS on moto), else
    ``aws_endpoint_url``."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoints.get(f"{service}_endpoint_url") or endpoints["aws_endpoint_url"],
        region_name=endpoints["aws_region"],
        aws_access_key_id=endpoints.get("aws_access_key_id", "testing"),
        aws_secret_access_key=endpoints.get("aws_secret_access_key", "testing"),
    )


def stack_topic_arn(endpoints: dict[str, Any], event_type: str) -> str:
    from shared.resources import topic_arn

    account = endpoints.get("aws_account", MOTO_ACCOUNT)
    return topic_arn(event_type, endpoints["aws_region"], account, endpoints["resource_prefix"])


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

    def drain(self) -> None:
        """Collect everything delivered so far, without waiting for more."""
        while True:
            before = len(self.seen)
            self.poll(wait_s=0)
            if len(self.seen) == before:
                return

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
