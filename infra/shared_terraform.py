"""The Terraform of the shared resources and the root module, derived from the declaration.

``main.tf.json`` holds the one customer-managed key (rotated) that encrypts the topics,
the queues, the buckets whose ETags need not be MD5s and every Lambda's environment;
the buckets (public access blocked, encrypted at rest, TLS only, access logged into the
log bucket, incomplete multipart uploads aborted after the declared days, versioned where
declared, with the noncurrent versions and delete markers expired after a day so that a
deleted file does not stay), the topics, the queues with their dead-letter queues (and
one per scheduled Lambda) and the policies that let the topics and buckets deliver to them,
the S3 notifications, the tables (keys and indexes
read from the pynamodb models) and one module per function: the Terraform that
``chalice package`` made of it (infra/iac.py), fed with the deploy inputs.

The output is plain data, so that it can be compared with what is checked in.
"""

from __future__ import annotations

import json
from typing import Any

from infra import settings
from infra.iam import KMS_KEY_VARIABLE, lambda_dlq_name
from infra.tables import record_for
from shared.resources import (
    DECLARATION,
    Declaration,
    Queue,
    Table,
    bucket_name,
    dlq_name,
    queue_name,
    table_name,
    topic_name,
)

TERRAFORM_VERSION = ">= 1.3.0"
# the bounds chalice's generated modules put on the providers; the root keeps within them
# (4.51: the event source mappings' scaling_config)
AWS_PROVIDER = ">= 4.51.0, < 5"
DLQ_RETENTION_S = 14 * 24 * 3600
ABORT_RULE_ID = "abort-incomplete-multipart-uploads"  # the bootstrap's rule has it too
EXPIRE_DELETED_RULE_ID = "expire-noncurrent-versions-and-delete-markers"
# a deleted object's data stays as a noncurrent version until then (1 is S3's minimum)
NONCURRENT_DAYS = 1
ACCOUNT_REF = "${data.aws_caller_identity.current.account_id}"
KEY = "aws_kms_key.fileservices"
KEY_ARN = f"${{{KEY}.arn}}"
# S3 server access logs: delivered only into an SSE-S3 bucket; kept a year
ACCESS_LOGS = "access-logs"
ACCESS_LOG_DAYS = 365
# checkov's terraform_json parser cannot read required_version in main.tf.json
VERSIONS_TF = "versions.tf"


def ident(key: str) -> str:
    """A Terraform resource name for a declaration key."""
    return key.replace("-", "_")


def _queue_ref(key: str, attribute: str = "arn") -> str:
    return f"${{aws_sqs_queue.{ident(key)}.{attribute}}}"


def abort_incomplete_rule(days: int) -> dict[str, Any]:
    """The lifecycle rule that aborts multipart uploads left open ``days`` (a killed
    invocation's, an abandoned client's), so that their parts stop costing storage."""
    return {
        "id": ABORT_RULE_ID,
        "status": "Enabled",
        "filter": [{}],  # the whole bucket
        "abort_incomplete_multipart_upload": [{"days_after_initiation": days}],
    }


def expire_deleted_rule() -> dict[str, Any]:
    """The rule of a versioned bucket that removes what a delete leaves: noncurrent
    versions after a day, and the delete markers left without any version."""
    return {
        "id": EXPIRE_DELETED_RULE_ID,
        "status": "Enabled",
        "filter": [{}],
        "noncurrent_version_expiration": [{"noncurrent_days": NONCURRENT_DAYS}],
        "expiration": [{"expired_object_delete_marker": True}],
    }


def _key(res: dict[str, Any]) -> None:
    """The customer-managed key: the account administers it (IAM policies grant its use);
    SNS and S3 may use it to deliver into the encrypted queues of this account."""
    account = ACCOUNT_REF
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {
                    "AWS": f"arn:${{data.aws_partition.current.partition}}:iam::{account}:root"
                },
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "DeliverIntoEncryptedQueues",
                "Effect": "Allow",
                "Principal": {"Service": ["s3.amazonaws.com", "sns.amazonaws.com"]},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            },
        ],
    }
    res["aws_kms_key"] = {
        "fileservices": {
            "description": "file services: topics, queues, buckets, Lambda environments",
            "enable_key_rotation": True,
            "deletion_window_in_days": 30,
            "policy": json.dumps(policy),
        }
    }


def _bucket_basics(ref: str, res: dict[str, Any], encryption: dict[str, Any]) -> None:
    """Public access blocked, no ACLs, encrypted at rest, TLS only."""
    bucket_id = f"${{aws_s3_bucket.{ref}.id}}"
    res.setdefault("aws_s3_bucket_public_access_block", {})[ref] = {
        "bucket": bucket_id,
        "block_public_acls": True,
        "block_public_policy": True,
        "ignore_public_acls": True,
        "restrict_public_buckets": True,
    }
    res.setdefault("aws_s3_bucket_ownership_controls", {})[ref] = {
        "bucket": bucket_id,
        "rule": {"object_ownership": "BucketOwnerEnforced"},
    }
    res.setdefault("aws_s3_bucket_server_side_encryption_configuration", {})[ref] = {
        "bucket": bucket_id,
        "rule": [encryption],
    }


def _log_bucket(pfx: str, decl: Declaration, res: dict[str, Any]) -> None:
    """Where S3 delivers the access logs of every declared bucket (SSE-S3: S3 delivers
    no access logs into an SSE-KMS bucket); the logs expire after a year."""
    ref = ident(ACCESS_LOGS)
    res["aws_s3_bucket"][ref] = {
        "bucket": bucket_name(ACCESS_LOGS, pfx),
        "tags": {"purpose": "S3 server access logs of the other buckets"},
    }
    _bucket_basics(
        ref, res, {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}
    )
    res["aws_s3_bucket_lifecycle_configuration"][ref] = {
        "bucket": f"${{aws_s3_bucket.{ref}.id}}",
        "rule": [
            abort_incomplete_rule(1),
            {
                "id": "expire-access-logs",
                "status": "Enabled",
                "filter": [{}],
                "expiration": [{"days": ACCESS_LOG_DAYS}],
            },
        ],
    }
    arn = f"${{aws_s3_bucket.{ref}.arn}}"
    sources = [f"${{aws_s3_bucket.{ident(b.key)}.arn}}" for b in decl.buckets]
    res["aws_s3_bucket_policy"][ref] = {
        "bucket": f"${{aws_s3_bucket.{ref}.id}}",
        "policy": json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    _tls_only(arn),
                    {
                        "Sid": "S3DeliversAccessLogs",
                        "Effect": "Allow",
                        "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"{arn}/*",
                        "Condition": {
                            "ArnLike": {"aws:SourceArn": sources},
                            "StringEquals": {"aws:SourceAccount": ACCOUNT_REF},
                        },
                    },
                ],
            }
        ),
        "depends_on": [f"aws_s3_bucket_public_access_block.{ref}"],
    }


def _tls_only(arn: str) -> dict[str, Any]:
    return {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _buckets(pfx: str, decl: Declaration, res: dict[str, Any]) -> None:
    for bucket in decl.buckets:
        name, ref = bucket_name(bucket.key, pfx), ident(bucket.key)
        res.setdefault("aws_s3_bucket", {})[ref] = {
            "bucket": name,
            "tags": {"purpose": bucket.description},
        }
        bucket_id = f"${{aws_s3_bucket.{ref}.id}}"
        if bucket.md5_etags:
            encryption: dict[str, Any] = {
                "apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}
            }
        else:
            encryption = {
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": KEY_ARN,
                },
                "bucket_key_enabled": True,  # one KMS call per object, not per request
            }
        _bucket_basics(ref, res, encryption)
        rules = [abort_incomplete_rule(bucket.abort_incomplete_after_days)]
        lifecycle: dict[str, Any] = {"bucket": bucket_id}
        if bucket.versioned:
            res.setdefault("aws_s3_bucket_versioning", {})[ref] = {
                "bucket": bucket_id,
                "versioning_configuration": {"status": "Enabled"},
            }
            rules.append(expire_deleted_rule())
            lifecycle["depends_on"] = [f"aws_s3_bucket_versioning.{ref}"]
        lifecycle["rule"] = rules
        res.setdefault("aws_s3_bucket_lifecycle_configuration", {})[ref] = lifecycle
        res.setdefault("aws_s3_bucket_logging", {})[ref] = {
            "bucket": bucket_id,
            "target_bucket": f"${{aws_s3_bucket.{ident(ACCESS_LOGS)}.id}}",
            "target_prefix": f"{bucket.key}/",
        }
        arn = f"${{aws_s3_bucket.{ref}.arn}}"
        res.setdefault("aws_s3_bucket_policy", {})[ref] = {
            "bucket": bucket_id,
            "policy": json.dumps({"Version": "2012-10-17", "Statement": [_tls_only(arn)]}),
            "depends_on": [f"aws_s3_bucket_public_access_block.{ref}"],
        }
    _log_bucket(pfx, decl, res)


def _queue_policy(queue: Queue) -> dict[str, Any]:
    statements = []
    if queue.topics:
        statements.append(
            {
                "Sid": "FromTopics",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": _queue_ref(queue.key),
                "Condition": {
                    "ArnEquals": {
                        "aws:SourceArn": [
                            f"${{aws_sns_topic.{ident(t)}.arn}}" for t in sorted(queue.topics)
                        ]
                    }
                },
            }
        )
    if queue.s3 is not None:
        statements.append(
            {
                "Sid": "FromBucket",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": _queue_ref(queue.key),
                "Condition": {
                    "ArnEquals": {
                        "aws:SourceArn": f"${{aws_s3_bucket.{ident(queue.s3.bucket)}.arn}}"
                    },
                    "StringEquals": {
                        "aws:SourceAccount": "${data.aws_caller_identity.current.account_id}"
                    },
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _queues(pfx: str, decl: Declaration, res: dict[str, Any]) -> None:
    notifications: dict[str, list[dict[str, Any]]] = {}
    for queue in decl.queues:
        ref, dlq_ref = ident(queue.key), ident(queue.key) + "_dlq"
        queues = res.setdefault("aws_sqs_queue", {})
        queues[dlq_ref] = {
            "name": dlq_name(queue.key, pfx),
            "message_retention_seconds": DLQ_RETENTION_S,
            "kms_master_key_id": KEY_ARN,
        }
        queues[ref] = {
            "name": queue_name(queue.key, pfx),
            "visibility_timeout_seconds": queue.visibility_timeout_s,
            "kms_master_key_id": KEY_ARN,
            "redrive_policy": json.dumps(
                {
                    "deadLetterTargetArn": _queue_ref(queue.key + "_dlq"),
                    "maxReceiveCount": queue.max_receive_count,
                }
            ),
        }
        statements = _queue_policy(queue)
        if statements["Statement"]:
            res.setdefault("aws_sqs_queue_policy", {})[ref] = {
                "queue_url": _queue_ref(queue.key, "id"),
                "policy": json.dumps(statements),
            }
        for event_type in sorted(queue.topics):
            res.setdefault("aws_sns_topic_subscription", {})[f"{ref}_{ident(event_type)}"] = {
                "topic_arn": f"${{aws_sns_topic.{ident(event_type)}.arn}}",
                "protocol": "sqs",
                "endpoint": _queue_ref(queue.key),
                "raw_message_delivery": True,
            }
        if queue.s3 is not None:
            notifications.setdefault(queue.s3.bucket, []).append(
                {
                    "id": queue.key,
                    "queue_arn": _queue_ref(queue.key),
                    "events": list(queue.s3.events),
                }
            )
    queues = res.setdefault("aws_sqs_queue", {})
    for schedule in decl.schedules:  # scheduled Lambdas run asynchronously: failed runs go here
        queues[ident(f"{schedule.function}_{schedule.handler}_dlq")] = {
            "name": lambda_dlq_name(schedule.function, schedule.handler, pfx),
            "message_retention_seconds": DLQ_RETENTION_S,
            "kms_master_key_id": KEY_ARN,
        }
    for bucket, configs in sorted(notifications.items()):
        ref = ident(bucket)
        res.setdefault("aws_s3_bucket_notification", {})[ref] = {
            "bucket": f"${{aws_s3_bucket.{ref}.id}}",
            "queue": configs,
            "depends_on": sorted(f"aws_sqs_queue_policy.{ident(c['id'])}" for c in configs),
        }


def _topics(pfx: str, decl: Declaration, res: dict[str, Any]) -> None:
    for event_type in decl.topics:
        res.setdefault("aws_sns_topic", {})[ident(event_type)] = {
            "name": topic_name(event_type, pfx),
            "kms_master_key_id": KEY_ARN,
        }


def table_schema(table: Table) -> dict[str, Any]:
    """Keys, attributes and indexes of a table, read from its pynamodb model."""
    schema = record_for(table)._get_schema()

    def keys(key_schema: list[dict[str, str]]) -> dict[str, str]:
        found = {k["KeyType"]: k["AttributeName"] for k in key_schema}
        out = {"hash_key": found["HASH"]}
        if "RANGE" in found:
            out["range_key"] = found["RANGE"]
        return out

    table: dict[str, Any] = keys(schema["key_schema"])
    table["attribute"] = sorted(
        (
            {"name": a["AttributeName"], "type": a["AttributeType"]}
            for a in schema["attribute_definitions"]
        ),
        key=lambda a: a["name"],
    )
    indexes = []
    for index in schema.get("global_secondary_indexes", []):
        indexes.append(
            {
                "name": index["index_name"],
                **keys(index["key_schema"]),
                "projection_type": index["projection"]["ProjectionType"],
                **(
                    {"non_key_attributes": sorted(index["projection"]["NonKeyAttributes"])}
                    if index["projection"].get("NonKeyAttributes")
                    else {}
                ),
            }
        )
    if indexes:
        table["global_secondary_index"] = sorted(indexes, key=lambda i: i["name"])
    if schema.get("local_secondary_indexes"):
        raise ValueError(f"{table.key}: local secondary indexes are not supported here")
    return table


def _tables(pfx: str, decl: Declaration, res: dict[str, Any]) -> None:
    for table in decl.tables:
        res.setdefault("aws_dynamodb_table", {})[ident(table.key)] = {
            "name": table_name(table.key, pfx),
            "billing_mode": "PAY_PER_REQUEST",
            **table_schema(table),
            "point_in_time_recovery": {"enabled": True},
            "tags": {"owner": table.owner},
        }


def _variables() -> dict[str, Any]:
    variables: dict[str, Any] = {
        "region": {"type": "string", "default": "eu-central-1", "description": "AWS region"}
    }
    # sensitive inputs are SSM parameters, not variables: no value in the plan or the state
    for name, setting in settings.variables().items():
        variable: dict[str, Any] = {"type": "string", "description": setting.description}
        if setting.default is not None:
            variable["default"] = setting.default
        variables[name] = variable
    return variables


def module_inputs(function: str) -> dict[str, str]:
    """What the root passes into a function's module (one entry per variable it declares)."""
    inputs: dict[str, str] = {}
    for setting in settings.SETTINGS.get(function, {}).values():
        if isinstance(setting, settings.ApiUrl):
            inputs[settings.url_variable(setting.function)] = (
                f'${{trimsuffix(module.{setting.function}.EndpointURL, "/")}}'
            )
        elif isinstance(setting, settings.SignedCalls):
            continue  # a literal in the environment, not a variable
        elif not setting.sensitive:  # a sensitive input reaches it as a parameter name
            inputs[setting.name] = f"${{var.{setting.name}}}"
    for api in settings.iam_apis_called(function):
        inputs[settings.execution_arn_variable(api)] = f"${{module.{api}.ApiExecutionArn}}"
    inputs[KMS_KEY_VARIABLE] = KEY_ARN  # every Lambda's environment is encrypted with it
    return dict(sorted(inputs.items()))


def _modules(decl: Declaration) -> dict[str, Any]:
    modules = {}
    for function in decl.functions:
        depends = {
            f"aws_sqs_queue.{ident(q.key)}"
            for q in decl.queues
            if q.consumer == function.name or function.name in q.senders
        }
        depends |= {
            f"aws_dynamodb_table.{ident(t.key)}" for t in decl.tables if t.owner == function.name
        }
        depends |= {
            f"aws_sqs_queue.{ident(f'{s.function}_{s.handler}_dlq')}"
            for s in decl.schedules
            if s.function == function.name
        }
        block: dict[str, Any] = {"source": f"./functions/{function.name}"}
        block.update(module_inputs(function.name))
        if depends:
            block["depends_on"] = sorted(depends)
        modules[function.name] = block
    return modules


def root_module(pfx: str, decl: Declaration = DECLARATION) -> dict[str, Any]:
    """The whole of ``main.tf.json``."""
    resources: dict[str, Any] = {}
    _key(resources)
    _buckets(pfx, decl, resources)
    _topics(pfx, decl, resources)
    _queues(pfx, decl, resources)
    _tables(pfx, decl, resources)
    outputs = {
        f"{f.name}_api_url": {"value": f'${{trimsuffix(module.{f.name}.EndpointURL, "/")}}'}
        for f in decl.functions
        if f.http
    }
    outputs["secret_parameters"] = {
        "description": "SSM SecureString parameters to put before applying "
        "(aws ssm put-parameter --type SecureString --name NAME --value ...)",
        "value": {name: setting.description for name, setting in settings.parameters(pfx).items()},
    }
    return {
        "//": "Generated by `make iac` (infra/iac.py) from shared/resources.py. Do not edit.",
        "terraform": {  # its required_version is in versions.tf
            "required_providers": {
                "aws": {"source": "hashicorp/aws", "version": AWS_PROVIDER},
                "null": {"source": "hashicorp/null", "version": ">= 2, < 4"},
            },
        },
        "provider": {"aws": {"region": "${var.region}"}},
        "variable": _variables(),
        "data": {"aws_caller_identity": {"current": {}}, "aws_partition": {"current": {}}},
        "resource": resources,
        "module": _modules(decl),
        "output": outputs,
    }


def versions_tf() -> str:
    """``versions.tf``: the Terraform version bound of the whole configuration, in HCL,
    because checkov's terraform_json parser fails on a plain attribute of the
    ``terraform`` block (and it scans only the JSON files, where the resources are)."""
    return (
        "# Generated by `make iac` (infra/iac.py). Do not edit.\n"
        "terraform {\n"
        f'  required_version = "{TERRAFORM_VERSION}"\n'
        "}\n"
    )


def render(document: dict[str, Any]) -> str:
    """The one way generated Terraform is written, so that regenerating is byte-identical."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
