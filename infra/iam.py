"""One least-privilege IAM policy per function, derived from the resource declaration.

Nothing here is written by hand per function: what a function may do follows from
``DECLARATION.bucket_access`` (S3), ``publishers`` (SNS), the queues it consumes or
sends to (SQS), the tables it owns (DynamoDB) and its own log group. Every statement
names concrete resources; there is no ``*`` resource and no wildcard action.

A function that is given sensitive settings (SSM parameters, infra/settings.py) may read
exactly those parameters, and decrypt with KMS only through SSM and only for them (the
encryption context SSM sets is the parameter's ARN): whichever key encrypts them.

A function that calls an IAM-only API (``IAM_ONLY_APIS``: EKSS) may invoke exactly that
API (``execute-api:Invoke`` on its execution ARN's stage), and no other function may.

Vault is not AWS IAM: who reaches Vault is decided by who gets its address and token
(infra/settings.py), and only ``DECLARATION.vault_readers`` do; what the token may do is
its Vault policy (infra/vault/ekss.hcl).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.settings import execution_arn_variable, iam_apis_called, secret_parameters
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
SSM_READ = ("ssm:GetParameter",)
KMS_DECRYPT = ("kms:Decrypt",)
# the Terraform deployment's customer-managed key (infra/shared_terraform.py) encrypts every
# function's environment, the topics, the queues and the buckets without MD5 ETags; each
# module is given its ARN as this variable
KMS_KEY_VARIABLE = "kms_key_arn"
KMS_ENCRYPT = ("kms:GenerateDataKey",)
S3_WRITE_MODES = frozenset({"write", "presign-write", "multipart"})
EXECUTE_API_INVOKE = ("execute-api:Invoke",)
API_STAGE = "api"  # the API Gateway stage of every function's API (infra/chalice_project.py)
# X-Ray's write actions have no resource types: "*" is the only resource they take
XRAY_WRITE = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")


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


def lambda_dlq_name(function: str, handler: str, prefix: str) -> str:
    """The dead-letter queue of a scheduled handler's Lambda (invoked asynchronously)."""
    return f"{prefix}-{function}-{handler.replace('_', '-')}-dlq"


def policy_document(
    function: str,
    ctx: ArnContext,
    *,
    log_groups: list[str],
    decl: Declaration = DECLARATION,
    deployed: bool = False,
) -> dict[str, Any]:
    """The IAM policy of ``function``; ``log_groups`` are its Lambdas' names.

    ``deployed``: the Terraform deployment's, which also encrypts with the key, traces
    with X-Ray and sends failed scheduled runs to a dead-letter queue.
    """
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
    statements.extend(_parameter_statements(function, ctx))
    if deployed:
        statements.extend(_deployed_statements(function, ctx, decl))
    return {"Version": "2012-10-17", "Statement": statements}


def _deployed_statements(function: str, ctx: ArnContext, decl: Declaration) -> list[dict[str, Any]]:
    """The dead-letter queues of its scheduled Lambdas, the key, X-Ray."""
    dlqs = [
        ctx.arn("sqs", lambda_dlq_name(function, s.handler, ctx.prefix))
        for s in decl.schedules
        if s.function == function
    ]
    statements = []
    if dlqs:
        statements.append(_statement("DeadLetterFailedRuns", ("sqs:SendMessage",), dlqs))
    # decrypt: its environment, its queues' messages, the KMS buckets' objects it reads;
    # a data key: what it publishes, sends or writes into a KMS-encrypted bucket
    unencrypted = {b.key for b in decl.buckets if b.md5_etags}
    writes = any(
        bucket not in unencrypted and S3_WRITE_MODES & set(modes)
        for bucket, modes in decl.bucket_access.get(function, {}).items()
    )
    sends = any(function in q.senders for q in decl.queues)
    actions = set(KMS_DECRYPT)
    if writes or sends or dlqs or decl.publishers.get(function):
        actions |= set(KMS_ENCRYPT)
    statements.append(_statement("UseTheKey", actions, [f"${{var.{KMS_KEY_VARIABLE}}}"]))
    statements.append(_statement("Tracing", XRAY_WRITE, ["*"]))
    # the IAM-only APIs it calls (EKSS): any route of that one API's stage, nothing else;
    # the API's execution ARN reaches the module as a variable (infra/shared_terraform.py)
    for api in iam_apis_called(function):
        execution_arn = f"${{var.{execution_arn_variable(api)}}}"
        statements.append(
            _statement(
                f"Invoke{api.capitalize()}Api",
                EXECUTE_API_INVOKE,
                [f"{execution_arn}/{API_STAGE}/*"],
            )
        )
    return statements


def _parameter_statements(function: str, ctx: ArnContext) -> list[dict[str, Any]]:
    """Read the function's own SSM parameters, and decrypt them (and nothing else)."""
    names = sorted(set(secret_parameters(function, ctx.prefix).values()))
    if not names:
        return []
    # a parameter's ARN is ``parameter`` followed by its name, which starts with a slash
    arns = [ctx.arn("ssm", f"parameter{name}") for name in names]
    decrypt = _statement("DecryptOwnParameters", KMS_DECRYPT, [ctx.arn("kms", "key/*")])
    decrypt["Condition"] = {
        "StringEquals": {
            "kms:ViaService": f"ssm.{ctx.region}.amazonaws.com",
            "kms:EncryptionContext:PARAMETER_ARN": arns,
        }
    }
    return [_statement("ReadOwnParameters", SSM_READ, arns), decrypt]


def _statement(sid: str, actions: Any, resources: list[str]) -> dict[str, Any]:
    return {
        "Sid": sid.replace("-", ""),
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resources,
    }
