"""The IAM policies in the checked-in Terraform grant each function only what it needs."""

from __future__ import annotations

import dataclasses
import json

import pytest

from infra.chalice_project import log_groups
from infra.iam import KMS_KEY_VARIABLE, XRAY_WRITE, ArnContext, policy_document
from infra.settings import IAM_ONLY_APIS
from shared.resources import DECLARATION, EVENT_TYPES
from tests.infra.iac import (
    PREFIX,
    REGION,
    allows,
    arn,
    env_of,
    execution_arn,
    main_tf,
    module,
    policies,
    policy,
    resolve,
    s3_bucket,
    s3_object,
)

FUNCTIONS = [f.name for f in DECLARATION.functions]
BUCKETS = [b.key for b in DECLARATION.buckets]
KEY_ARN = f"${{var.{KMS_KEY_VARIABLE}}}"

# (function, action, bucket, allowed): the policy table of the issue, object level
S3_TABLE = [
    ("ucs", "s3:PutObject", "inbox", True),  # presigned part uploads are signed by UCS
    ("ucs", "s3:AbortMultipartUpload", "inbox", True),
    ("ucs", "s3:ListMultipartUploadParts", "inbox", True),
    ("ucs", "s3:DeleteObject", "inbox", True),
    ("ucs", "s3:PutObject", "staging", False),
    ("ucs", "s3:GetObject", "permanent", False),
    ("irs", "s3:GetObject", "inbox", True),
    ("irs", "s3:PutObject", "inbox", False),
    ("irs", "s3:DeleteObject", "inbox", False),
    ("irs", "s3:PutObject", "staging", True),
    ("irs", "s3:AbortMultipartUpload", "staging", True),
    ("irs", "s3:PutObject", "permanent", False),
    ("irs", "s3:GetObject", "permanent", False),
    ("irs", "s3:PutObject", "outbox", False),
    ("ifrs", "s3:GetObject", "staging", True),
    ("ifrs", "s3:PutObject", "staging", False),
    ("ifrs", "s3:PutObject", "permanent", True),
    ("ifrs", "s3:GetObject", "permanent", True),
    ("ifrs", "s3:PutObject", "outbox", True),
    ("ifrs", "s3:GetObject", "inbox", False),
    ("ifrs", "s3:PutObject", "inbox", False),
    ("dcs", "s3:GetObject", "outbox", True),  # presigned downloads are signed by DCS
    ("dcs", "s3:PutObject", "outbox", False),
    ("dcs", "s3:GetObject", "permanent", False),
    ("dcs", "s3:GetObject", "staging", False),
    ("dcs", "s3:GetObject", "inbox", False),
    # EKSS reads the header of a file under interrogation itself, and nothing else
    ("ekss", "s3:GetObject", "inbox", True),
    ("ekss", "s3:PutObject", "inbox", False),
    ("ekss", "s3:DeleteObject", "inbox", False),
    ("ekss", "s3:GetObject", "staging", False),
    ("ekss", "s3:GetObject", "permanent", False),
    ("ekss", "s3:GetObject", "outbox", False),
]


@pytest.mark.parametrize(("function", "action", "bucket", "allowed"), S3_TABLE)
def test_s3_policy_table(function: str, action: str, bucket: str, allowed: bool) -> None:
    assert allows(policy(function), action, s3_object(bucket)) is allowed


@pytest.mark.parametrize("function", ["wkvs", "wps"])
def test_functions_without_buckets_touch_no_bucket(function: str) -> None:
    for bucket in BUCKETS:
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"):
            assert not allows(policy(function), action, s3_object(bucket))
            assert not allows(policy(function), action, s3_bucket(bucket))


def test_only_declared_bucket_access_is_granted() -> None:
    """Every S3 grant on every bucket follows from DECLARATION.bucket_access, and no more."""
    actions = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
    for function in FUNCTIONS:
        declared = DECLARATION.bucket_access.get(function, {})
        for bucket in BUCKETS:
            granted = {a for a in actions if allows(policy(function), a, s3_object(bucket))}
            if bucket not in declared:
                assert granted == set(), f"{function} may {granted} on {bucket}"
            modes = set(declared.get(bucket, ()))
            if modes & {"write", "presign-write", "multipart"}:
                assert "s3:PutObject" in granted
            else:
                assert "s3:PutObject" not in granted, f"{function} may write {bucket}"
            if modes & {"read", "read-meta", "presign-read"}:
                assert "s3:GetObject" in granted
            else:
                assert "s3:GetObject" not in granted, f"{function} may read {bucket}"
            assert ("s3:DeleteObject" in granted) is ("delete" in modes)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_publishes_only_its_own_topics(function: str) -> None:
    own = set(DECLARATION.publishers.get(function, ()))
    for event_type in EVENT_TYPES:
        topic = arn("sns", f"fs-{event_type}")
        assert allows(policy(function), "sns:Publish", topic) is (event_type in own)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_reads_and_writes_only_its_own_tables(function: str) -> None:
    for table in DECLARATION.tables:
        own = table.owner == function
        resource = arn("dynamodb", f"table/fs-{table.key}")
        for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"):
            assert allows(policy(function), action, resource) is own, (function, table.key)
        index = arn("dynamodb", f"table/fs-{table.key}/index/by_something")
        assert allows(policy(function), "dynamodb:Query", index) is own
    assert not allows(policy(function), "dynamodb:DeleteTable", arn("dynamodb", "table/fs-x"))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_consumes_only_its_own_queues(function: str) -> None:
    for queue in DECLARATION.queues:
        for name in (f"fs-{queue.key}", f"fs-{queue.key}-dlq"):
            resource = arn("sqs", name)
            own = queue.consumer == function and not name.endswith("-dlq")
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
                assert allows(policy(function), action, resource) is own, (function, name)
            sends = function in queue.senders and not name.endswith("-dlq")
            assert allows(policy(function), "sqs:SendMessage", resource) is sends


def test_irs_may_send_continuations_to_its_own_queue_only() -> None:
    assert allows(policy("irs"), "sqs:SendMessage", arn("sqs", "fs-irs-inbox"))
    assert not allows(policy("irs"), "sqs:SendMessage", arn("sqs", "fs-ifrs-events"))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_wildcard_actions_and_no_star_resources(function: str) -> None:
    for document in policies(function):
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            resources = statement["Resource"]
            for action in [actions] if isinstance(actions, str) else actions:
                assert "*" not in action and "?" not in action, (function, action)
            if statement["Sid"] == "Tracing":  # X-Ray's writes take no resource but "*"
                assert statement["Action"] == sorted(XRAY_WRITE) and resources == ["*"]
                continue
            for resource in [resources] if isinstance(resources, str) else resources:
                assert resource != "*", (function, statement)
                if resource == KEY_ARN:  # the deployment's one key, by its ARN
                    continue
                if resource == arn("kms", "key/*"):
                    # any key, but only through SSM and for the function's own parameters
                    context = statement["Condition"]["StringEquals"]
                    assert context["kms:ViaService"] == f"ssm.{REGION}.amazonaws.com"
                    assert context["kms:EncryptionContext:PARAMETER_ARN"]
                    continue
                if any(resource.startswith(execution_arn(a) + "/") for a in IAM_ONLY_APIS):
                    continue  # the routes of one named API (test_iam_apis.py)
                # wildcards only below a named resource (objects, indexes, log streams)
                named = resource.split("*", 1)[0]
                assert f"{PREFIX}-" in named or f":parameter/{PREFIX}/" in named, resource


@pytest.mark.parametrize("function", FUNCTIONS)
def test_logs_only_to_own_log_groups(function: str) -> None:
    own = [
        fn["function_name"] for fn in module(function)["resource"]["aws_lambda_function"].values()
    ]
    for name in own:
        group = arn("logs", f"log-group:/aws/lambda/{name}:log-stream:abc")
        assert allows(policy(function), "logs:PutLogEvents", group)
    other = "wps" if function != "wps" else "ucs"
    assert not allows(
        policy(function), "logs:PutLogEvents", arn("logs", f"log-group:/aws/lambda/fs-{other}-aws")
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_lambda_runs_under_a_role_with_the_function_policy(function: str) -> None:
    resources = module(function)["resource"]
    roles = set(resources["aws_iam_role"])
    attached = {p["role"] for p in resources["aws_iam_role_policy"].values()}
    for fn in resources["aws_lambda_function"].values():
        role = fn["role"].removeprefix("${aws_iam_role.").removesuffix(".arn}")
        assert role in roles and f"${{aws_iam_role.{role}.id}}" in attached
    assert "aws_iam_role_policy_attachment" not in resources  # no managed policies on top


def test_policies_are_the_ones_the_declaration_makes() -> None:
    ctx = ArnContext.terraform(PREFIX)
    for function in FUNCTIONS:
        expected = policy_document(
            function, ctx, log_groups=log_groups(function, "aws", PREFIX), deployed=True
        )
        assert policy(function) == json.loads(resolve(json.dumps(expected)))


def test_nobody_but_the_vault_readers_reaches_vault() -> None:
    """Vault is reached with its address and a token: only EKSS is given them."""
    assert DECLARATION.vault_readers == ("ekss",)
    for function in FUNCTIONS:
        env = env_of(function)
        reaches = any("VAULT" in name or "var.vault" in value for name, value in env.items())
        assert reaches is (function in DECLARATION.vault_readers), function
    for name, block in main_tf()["module"].items():
        passed = {key for key in block if key.startswith("vault")}
        # the token is an SSM parameter, never a Terraform variable
        assert passed == ({"vault_url"} if name == "ekss" else set())


def test_nobody_but_ekss_reaches_vault_in_the_embedded_stack() -> None:
    from testbed.environment import StackSecrets, stack_environment

    secrets = StackSecrets(**{f.name: f"secret-{f.name}" for f in dataclasses.fields(StackSecrets)})
    env, _ = stack_environment(
        api_url="http://127.0.0.1:1",
        aws_endpoint_url="http://127.0.0.1:2",
        vault_addr="http://127.0.0.1:3",
        region="eu-central-1",
        account="123456789012",
        prefix="fs",
        secrets=secrets,
        ekss_vault_token="ekss-vault-token",
    )
    assert "secret-vault_token" not in env.values() and "ekss-vault-token" not in env.values()
    reaching = {name for name in env if "VAULT" in name}
    assert reaching == {"EKSS_VAULT_URL", "EKSS_VAULT_TOKEN_PARAMETER"}
    assert not any(
        value == "http://127.0.0.1:3" for name, value in env.items() if name not in reaching
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_uses_the_key_only_as_far_as_it_must(function: str) -> None:
    """Decrypt for all (the environment); a data key only for what publishes, sends or
    writes into a KMS-encrypted bucket; no key administration, no other key."""
    document = policy(function)
    assert allows(document, "kms:Decrypt", KEY_ARN)
    kms_buckets = {b.key for b in DECLARATION.buckets if not b.md5_etags}
    writes = any(
        bucket in kms_buckets and {"write", "multipart", "presign-write"} & set(modes)
        for bucket, modes in DECLARATION.bucket_access.get(function, {}).items()
    )
    encrypts = bool(
        writes
        or DECLARATION.publishers.get(function)
        or any(function in q.senders for q in DECLARATION.queues)
        or any(s.function == function for s in DECLARATION.schedules)
    )
    assert allows(document, "kms:GenerateDataKey", KEY_ARN) is encrypts
    for action in ("kms:Encrypt", "kms:CreateGrant", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"):
        assert not allows(document, action, KEY_ARN), (function, action)
    assert not allows(document, "kms:Decrypt", arn("kms", "key/another-key"))


@pytest.mark.parametrize("schedule", DECLARATION.schedules, ids=lambda s: s.handler)
def test_scheduled_lambdas_may_send_to_their_dead_letter_queue_only(schedule) -> None:
    own = arn("sqs", f"{PREFIX}-{schedule.function}-{schedule.handler.replace('_', '-')}-dlq")
    for function in FUNCTIONS:
        assert allows(policy(function), "sqs:SendMessage", own) is (function == schedule.function)
