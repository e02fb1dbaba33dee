"""Create every resource of the declaration on an AWS-API endpoint (moto, LocalStack, AWS).

Idempotent: running it twice leaves the same resources.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from infra.shared_terraform import ABORT_RULE_ID
from infra.tables import record_for
from shared.adapters.aws import client, region
from shared.adapters.dynamo import bind, create_table
from shared.resources import (
    DECLARATION,
    Declaration,
    bucket_name,
    dlq_name,
    queue_name,
    table_name,
    topic_name,
)


def create_buckets(pfx: str, decl: Declaration = DECLARATION, *, hardened: bool = True) -> None:
    """The buckets; ``hardened``: public access blocked, encrypted by default and incomplete
    multipart uploads aborted after the declared days, as the Terraform makes them
    (SeaweedFS implements none of these)."""
    s3 = client("s3")
    for bucket in decl.buckets:
        name = bucket_name(bucket.key, pfx)
        kwargs: dict[str, Any] = {"Bucket": name}
        if region() != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region()}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(**kwargs)
        if not hardened:
            continue
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={
                "Rules": [abort_incomplete_rule(bucket.abort_incomplete_after_days)]
            },
        )


def abort_incomplete_rule(days: int) -> dict[str, Any]:
    """The S3 API form of infra/shared_terraform.py's rule: the whole bucket, ``days``."""
    return {
        "ID": ABORT_RULE_ID,
        "Status": "Enabled",
        "Filter": {},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
    }


def create_topics(pfx: str, decl: Declaration = DECLARATION) -> dict[str, str]:
    sns = client("sns")
    return {t: sns.create_topic(Name=topic_name(t, pfx))["TopicArn"] for t in decl.topics}


def create_queues(
    pfx: str,
    topic_arns: dict[str, str],
    decl: Declaration = DECLARATION,
    *,
    s3_notifications: bool = True,
) -> None:
    """The queues, their dead-letter queues and subscriptions; with ``s3_notifications``
    also the buckets' notifications to them (else testbed/s3_notifier.py sends those)."""
    sqs, sns, s3 = client("sqs"), client("sns"), client("s3")
    notifications: dict[str, list[dict[str, Any]]] = {}
    for queue in decl.queues:
        dlq_url = sqs.create_queue(QueueName=dlq_name(queue.key, pfx))["QueueUrl"]
        dlq_arn = _arn(sqs, dlq_url)
        url = sqs.create_queue(
            QueueName=queue_name(queue.key, pfx),
            Attributes={
                "VisibilityTimeout": str(queue.visibility_timeout_s),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}
                ),
            },
        )["QueueUrl"]
        arn = _arn(sqs, url)
        for event_type in queue.topics:
            sns.subscribe(
                TopicArn=topic_arns[event_type],
                Protocol="sqs",
                Endpoint=arn,
                Attributes={"RawMessageDelivery": "true"},
            )
        if queue.s3 is not None and s3_notifications:
            notifications.setdefault(bucket_name(queue.s3.bucket, pfx), []).append(
                {"QueueArn": arn, "Events": list(queue.s3.events)}
            )
    for bucket, configs in notifications.items():
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configs}
        )


def create_tables(pfx: str, decl: Declaration = DECLARATION) -> None:
    for table in decl.tables:
        create_table(bind(record_for(table), table_name(table.key, pfx)))


def _arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def bootstrap(pfx: str, *, with_tables: bool = True, full_s3: bool = True) -> dict[str, str]:
    """Create buckets, topics, queues, notifications and tables; return the topic ARNs.

    ``full_s3=False`` is for an S3 without public-access blocks, default encryption and
    event notifications (SeaweedFS): the buckets are created plain and the notifications
    left to testbed/s3_notifier.py.
    """
    create_buckets(pfx, hardened=full_s3)
    topics = create_topics(pfx)
    create_queues(pfx, topics, s3_notifications=full_s3)
    if with_tables:
        create_tables(pfx)
    return topics
