"""The S3 notifier of the seaweedfs backend, on the stack's real SeaweedFS and moto: one
message per new object, in the shape S3 sends, none again for what it announced."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import botocore.exceptions
import pytest

from functions.irs.wire import ObjectCreated, parse
from shared.resources import DECLARATION, bucket_name, queue_name
from testbed.s3_notifier import Route, S3Notifier, encode_key, routes, wanted
from tests.localstack.conftest import ls_client
from tests.seaweedfs.conftest import sw_client

KEY = "upload dir/a+b ü=1.bin"  # a space, a plus, non-ASCII and "/" in one key


class Probe:
    """A fresh bucket on SeaweedFS, a fresh queue on moto, and a notifier between them."""

    def __init__(self, endpoints: dict[str, Any], events: tuple[str, ...]) -> None:
        self.s3, self.sqs = sw_client(endpoints, "s3"), sw_client(endpoints, "sqs")
        self.bucket = f"probe-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(
            Bucket=self.bucket,
            CreateBucketConfiguration={"LocationConstraint": endpoints["aws_region"]},
        )
        self.queue_name = f"probe-{uuid.uuid4().hex[:12]}"
        self.queue_url = self.sqs.create_queue(QueueName=self.queue_name)["QueueUrl"]
        self.route = Route(self.bucket, self.queue_url, events)
        self.notifier = S3Notifier(self.s3, self.sqs, [self.route], endpoints["aws_region"])

    def records(self) -> list[dict[str, Any]]:
        """Every message now in the queue (removed), each a single S3 record."""
        found = []
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            if not answer.get("Messages"):
                return found
            for message in answer["Messages"]:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
                (record,) = json.loads(message["Body"])["Records"]
                found.append(record)

    def close(self) -> None:
        for item in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", []):
            self.s3.delete_object(Bucket=self.bucket, Key=item["Key"])
        self.s3.delete_bucket(Bucket=self.bucket)
        with contextlib.suppress(Exception):
            self.sqs.delete_queue(QueueUrl=self.queue_url)


@pytest.fixture
def probe(sw_endpoints: dict[str, Any]) -> Iterator[Probe]:
    probe = Probe(sw_endpoints, ("s3:ObjectCreated:*",))
    try:
        yield probe
    finally:
        probe.close()


def _etag(probe: Probe, key: str) -> str:
    return probe.s3.head_object(Bucket=probe.bucket, Key=key)["ETag"].strip('"')


def test_one_message_per_new_object_and_none_again(probe: Probe) -> None:
    assert probe.notifier.poll() == 0
    probe.s3.put_object(Bucket=probe.bucket, Key=KEY, Body=b"12345")
    assert probe.notifier.poll() == 1
    (record,) = probe.records()
    assert record["eventSource"] == "aws:s3" and record["eventName"] == "ObjectCreated:Put"
    bucket = record["s3"]["bucket"]
    assert (bucket["name"], bucket["arn"]) == (probe.bucket, f"arn:aws:s3:::{probe.bucket}")
    obj = record["s3"]["object"]
    assert obj["key"] == "upload+dir/a%2Bb+%C3%BC%3D1.bin" == encode_key(KEY)
    assert unquote_plus(obj["key"]) == KEY
    assert (obj["size"], obj["eTag"]) == (5, _etag(probe, KEY))
    int(obj["sequencer"], 16)
    # already announced: nothing more, however often it looks
    assert probe.notifier.poll() == 0 and probe.notifier.poll() == 0
    assert probe.records() == []


def test_a_multipart_upload_is_announced_once_as_such(probe: Probe) -> None:
    upload = probe.s3.create_multipart_upload(Bucket=probe.bucket, Key="big")["UploadId"]
    parts = []
    for number, body in ((1, b"a" * 5 * 1024 * 1024), (2, b"b" * 100)):
        answer = probe.s3.upload_part(
            Bucket=probe.bucket, Key="big", UploadId=upload, PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    assert probe.notifier.poll() == 0  # an open multipart upload is no object yet
    probe.s3.complete_multipart_upload(
        Bucket=probe.bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert probe.notifier.poll() == 1 and probe.notifier.poll() == 0
    (record,) = probe.records()
    assert record["eventName"] == "ObjectCreated:CompleteMultipartUpload"
    assert record["s3"]["object"]["size"] == 5 * 1024 * 1024 + 100
    assert record["s3"]["object"]["eTag"] == _etag(probe, "big")


def test_an_overwritten_or_recreated_object_is_announced_again(probe: Probe) -> None:
    probe.s3.put_object(Bucket=probe.bucket, Key="k", Body=b"one")
    probe.s3.put_object(Bucket=probe.bucket, Key="other", Body=b"other")
    assert probe.notifier.poll() == 2
    first = {r["s3"]["object"]["key"]: r for r in probe.records()}["k"]
    probe.s3.put_object(Bucket=probe.bucket, Key="k", Body=b"two")  # a new ETag
    assert probe.notifier.poll() == 1
    (second,) = probe.records()
    probe.s3.delete_object(Bucket=probe.bucket, Key="k")
    assert probe.notifier.poll() == 0
    probe.s3.put_object(Bucket=probe.bucket, Key="k", Body=b"two")  # the same ETag again
    assert probe.notifier.poll() == 1
    (third,) = probe.records()
    assert [r["s3"]["object"]["key"] for r in (second, third)] == ["k", "k"]
    sequencers = [int(r["s3"]["object"]["sequencer"], 16) for r in (first, second, third)]
    assert sequencers == sorted(set(sequencers))  # later events of a key sort later


def test_a_message_that_could_not_be_sent_is_sent_at_the_next_pass(probe: Probe) -> None:
    probe.sqs.delete_queue(QueueUrl=probe.queue_url)
    probe.s3.put_object(Bucket=probe.bucket, Key="k", Body=b"data")
    with pytest.raises(botocore.exceptions.ClientError):  # no such queue
        probe.notifier.poll()
    assert probe.sqs.create_queue(QueueName=probe.queue_name)["QueueUrl"] == probe.queue_url
    assert probe.notifier.poll() == 1
    assert [r["s3"]["object"]["key"] for r in probe.records()] == ["k"]


def test_only_the_configured_event_types_are_sent(sw_endpoints: dict[str, Any]) -> None:
    assert wanted("ObjectCreated:Put", ("s3:ObjectCreated:*",))
    assert not wanted("ObjectCreated:Put", ("s3:ObjectCreated:CompleteMultipartUpload",))
    probe = Probe(sw_endpoints, ("s3:ObjectCreated:CompleteMultipartUpload",))
    try:
        probe.s3.put_object(Bucket=probe.bucket, Key="single", Body=b"put")
        assert probe.notifier.poll() == 0 and probe.records() == []
    finally:
        probe.close()


def test_irs_reads_the_message_as_the_object_it_announces(probe: Probe) -> None:
    probe.s3.put_object(Bucket=probe.bucket, Key=KEY, Body=b"12345")
    probe.notifier.poll()
    answer = probe.sqs.receive_message(QueueUrl=probe.queue_url)
    (message,) = answer["Messages"]
    assert parse(message["Body"]) == [ObjectCreated(probe.bucket, KEY, 5)]


def test_the_message_has_the_shape_moto_sends(sw_endpoints: dict[str, Any], probe: Probe) -> None:
    """moto's S3 on the same stack, notifying a queue of its own, sends the reference."""
    moto = sw_endpoints["dynamodb_endpoint_url"]
    s3, sqs = ls_client(sw_endpoints, "s3", moto), sw_client(sw_endpoints, "sqs")
    bucket = f"ref-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": sw_endpoints["aws_region"]}
    )
    url = sqs.create_queue(QueueName=f"ref-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn["QueueArn"], "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket=bucket, Key="same", Body=b"12345")
    reference = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ]
    s3.delete_object(Bucket=bucket, Key="same")
    s3.delete_bucket(Bucket=bucket)
    sqs.delete_queue(QueueUrl=url)
    (expected,) = [r for body in reference if "Records" in body for r in body["Records"]]
    probe.s3.put_object(Bucket=probe.bucket, Key="same", Body=b"12345")
    probe.notifier.poll()
    (ours,) = probe.records()

    def paths(value: Any, at: str = "") -> set[tuple[str, str]]:
        """Every field's path and JSON type."""
        if isinstance(value, dict):
            return {p for k, v in value.items() for p in paths(v, f"{at}.{k}")}
        return {(at, type(value).__name__)}

    assert paths(expected) <= paths(ours), paths(expected) - paths(ours)
    for field in ("eventSource", "eventVersion", "eventName", "awsRegion"):
        assert ours[field] == expected[field], field
    assert ours["s3"]["object"]["key"] == expected["s3"]["object"]["key"] == "same"
    assert ours["s3"]["object"]["size"] == expected["s3"]["object"]["size"] == 5
    assert ours["s3"]["object"]["eTag"] == expected["s3"]["object"]["eTag"]  # both plain MD5


def test_the_stack_routes_the_inbox_to_irs(sw_endpoints: dict[str, Any]) -> None:
    pfx = sw_endpoints["resource_prefix"]
    (route,) = routes(sw_client(sw_endpoints, "sqs"), pfx)
    (queue,) = [q for q in DECLARATION.queues if q.s3 is not None]
    assert route.bucket == bucket_name(queue.s3.bucket, pfx) == f"{pfx}-inbox"
    assert route.queue_url.endswith("/" + queue_name(queue.key, pfx))
    assert route.events == ("s3:ObjectCreated:*",)
