"""One least-privilege IAM policy per function, derived from the resource declaration.

Nothing here is written by hand per function: what a function may do follows from
``DECLARATION.bucket_access`` (S3), ``publishers`` (SNS), the queues it consumes or
sends to (SQS), the tables it owns (DynamoDB) and its own log group. Every statement
names concrete resources; there is no ``*`` resource and no wildcard action.

Vault is not AWS IAM: who reaches Vault is decided by who gets its address and token
(infra/settings.py), and only ``DECLARATION.vault_readers`` do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.resources import (
    DECLARATION,
    Declaration,
    bucket_name,
    queue_name,
    table_name,
    topic_name,
)

# Object-level and bucket-level S3 actions per access mode of the declaration.
# HeadObject needs s3:GetObject; ListBucket makes a missing key a 404 rather than a 403.
S3_MODES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "read": (("s3:GetObject",), ("s3:ListBucket",)),
    "read-meta": (("s3:GetObject",), ("s3:ListBucket",)),
    "presign-read": (("s3:GetObject",), ()),
    "write": (("s3:PutObject",), ()),
    "presign-write": (("s3:PutObject",), ()),
    "multipart": (
        ("s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"),
        ("s3:ListBucketMultipartUploads",),
    ),
    "delete": (("s3:DeleteObject",), ()),
}

SQS_CONSUME = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)
SQS_SEND = ("sqs:GetQueueUrl", "sqs:SendMessage")
SNS_PUBLISH = ("sns:Publish",)
DYNAMODB_OWN = (
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
)
LOGS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")


@dataclass(frozen=True)
class ArnContext:
    """What ARNs are built from: literal values, or Terraform references."""

    partition: str
    region: str
    account: str
    prefix: str

    @classmethod
    def terraform(cls, prefix: str) -> ArnContext:
        """ARNs as interpolations of the data sources every chalice.tf.json declares."""
        return cls(
            "${data.aws_partition.chalice.partition}",
            "${data.aws_region.chalice.name}",
            "${data.aws_caller_identity.chalice.account_id}",
            prefix,
        )

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        if not regional:
            return f"arn:{self.partition}:{service}:::{resource}"
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"


def lambda_function_names(function: str, stage: str, handlers: list[str], prefix: str) -> list[str]:
    """Chalice's names for a function's Lambdas: ``<app>-<stage>`` and ``-<handler>``."""
    app = f"{prefix}-{function}"
    return [f"{app}-{stage}"] + [f"{app}-{stage}-{handler}" for handler in handlers]


def policy_document(
    function: str,
    ctx: ArnContext,
    *,
    log_groups: list[str],
    decl: Declaration = DECLARATION,
) -> dict[str, Any]:
    """The IAM policy of ``function``; ``log_groups`` are its Lambdas' names."""
    statements: list[dict[str, Any]] = [
        _statement(
            "OwnLogs",
            LOGS,
            [
                ctx.arn("logs", f"log-group:/aws/lambda/{name}{suffix}")
                for name in log_groups
                for suffix in ("", ":*")
            ],
        )
    ]
    for bucket, modes in sorted(decl.bucket_access.get(function, {}).items()):
        unknown = set(modes) - set(S3_MODES)
        if unknown:
            raise ValueError(f"{function}: unknown access mode(s) {sorted(unknown)} on {bucket}")
        name = bucket_name(bucket, ctx.prefix)
        object_actions = sorted({a for m in modes for a in S3_MODES[m][0]})
        bucket_actions = sorted({a for m in modes for a in S3_MODES[m][1]})
        title = bucket.capitalize()
        if object_actions:
            statements.append(
                _statement(
                    f"{title}Objects",
                    object_actions,
                    [ctx.arn("s3", f"{name}/*", regional=False)],
                )
            )
        if bucket_actions:
            statements.append(
                _statement(f"{title}Bucket", bucket_actions, [ctx.arn("s3", name, regional=False)])
            )
    topics = decl.publishers.get(function, ())
    if topics:
        statements.append(
            _statement(
                "PublishOwnEvents",
                SNS_PUBLISH,
                [ctx.arn("sns", topic_name(t, ctx.prefix)) for t in sorted(topics)],
            )
        )
    consumed = sorted(q.key for q in decl.queues if q.consumer == function)
    if consumed:
        statements.append(
            _statement(
                "ConsumeOwnQueues",
                SQS_CONSUME,
                [ctx.arn("sqs", queue_name(k, ctx.prefix)) for k in consumed],
            )
        )
    sent = sorted(q.key for q in decl.queues if function in q.senders)
    if sent:
        statements.append(
            _statement(
                "SendToOwnQueues",
                SQS_SEND,
                [ctx.arn("sqs", queue_name(k, ctx.prefix)) for k in sent],
            )
        )
    tables = sorted(t.key for t in decl.tables if t.owner == function)
    if tables:
        resources = []
        for key in tables:
            resources.append(ctx.arn("dynamodb", f"table/{table_name(key, ctx.prefix)}"))
            resources.append(ctx.arn("dynamodb", f"table/{table_name(key, ctx.prefix)}/index/*"))
        statements.append(_statement("OwnTables", DYNAMODB_OWN, resources))
    return {"Version": "2012-10-17", "Statement": statements}


def _statement(sid: str, actions: Any, resources: list[str]) -> dict[str, Any]:
    return {
        "Sid": sid.replace("-", ""),
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resources,
    }
