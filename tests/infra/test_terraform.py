"""The checked-in Terraform holds every declared resource, configured as the issue asks."""

from __future__ import annotations

import json

import pytest

from infra.shared_terraform import ACCESS_LOG_DAYS, ACCESS_LOGS, KEY_ARN, ident, table_schema
from shared.resources import DECLARATION
from tests.infra.iac import PREFIX, main_tf, module

RESOURCES = main_tf()["resource"]
FUNCTIONS = [f.name for f in DECLARATION.functions]


def _ref_name(reference: str) -> str:
    """``${aws_x.name.attr}`` → ``name``."""
    return reference.removeprefix("${").removesuffix("}").split(".")[1]


@pytest.mark.parametrize("bucket", [b.key for b in DECLARATION.buckets])
def test_every_bucket_blocks_public_access_and_is_encrypted(bucket: str) -> None:
    ref = ident(bucket)
    assert RESOURCES["aws_s3_bucket"][ref]["bucket"] == f"{PREFIX}-{bucket}"
    block = RESOURCES["aws_s3_bucket_public_access_block"][ref]
    assert block["bucket"] == f"${{aws_s3_bucket.{ref}.id}}"
    for setting in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[setting] is True
    encryption = RESOURCES["aws_s3_bucket_server_side_encryption_configuration"][ref]
    assert encryption["bucket"] == f"${{aws_s3_bucket.{ref}.id}}"
    (rule,) = encryption["rule"]
    default = rule["apply_server_side_encryption_by_default"]
    if next(b for b in DECLARATION.buckets if b.key == bucket).md5_etags:
        assert default == {"sse_algorithm": "AES256"}  # the ETags stay the parts' MD5s
    else:
        assert default == {"sse_algorithm": "aws:kms", "kms_master_key_id": KEY_ARN}
        assert rule["bucket_key_enabled"] is True
    logging = RESOURCES["aws_s3_bucket_logging"][ref]
    assert logging["bucket"] == f"${{aws_s3_bucket.{ref}.id}}"
    assert logging["target_bucket"] == f"${{aws_s3_bucket.{ident(ACCESS_LOGS)}.id}}"
    assert logging["target_prefix"] == f"{bucket}/"
    ownership = RESOURCES["aws_s3_bucket_ownership_controls"][ref]
    assert ownership["rule"]["object_ownership"] == "BucketOwnerEnforced"  # no ACLs at all
    policy = json.loads(RESOURCES["aws_s3_bucket_policy"][ref]["policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_no_undeclared_buckets() -> None:
    declared = {ident(b.key) for b in DECLARATION.buckets}
    assert set(RESOURCES["aws_s3_bucket"]) == declared | {ident(ACCESS_LOGS)}
    assert set(RESOURCES["aws_s3_bucket_logging"]) == declared  # the log bucket logs nowhere


def test_access_logs_may_be_delivered_only_by_s3_for_our_buckets() -> None:
    ref = ident(ACCESS_LOGS)
    default = RESOURCES["aws_s3_bucket_server_side_encryption_configuration"][ref]["rule"][0]
    # S3 delivers server access logs only into an SSE-S3 bucket
    assert default["apply_server_side_encryption_by_default"] == {"sse_algorithm": "AES256"}
    assert RESOURCES["aws_s3_bucket_public_access_block"][ref]["block_public_policy"] is True
    tls, deliver = json.loads(RESOURCES["aws_s3_bucket_policy"][ref]["policy"])["Statement"]
    assert tls["Sid"] == "TlsOnly" and tls["Effect"] == "Deny"
    assert deliver["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert deliver["Action"] == "s3:PutObject"
    sources = deliver["Condition"]["ArnLike"]["aws:SourceArn"]
    assert {_ref_name(s) for s in sources} == {ident(b.key) for b in DECLARATION.buckets}
    assert "aws:SourceAccount" in deliver["Condition"]["StringEquals"]
    rules = RESOURCES["aws_s3_bucket_lifecycle_configuration"][ref]["rule"]
    assert any(r.get("expiration") == [{"days": ACCESS_LOG_DAYS}] for r in rules)


def test_one_rotated_key_encrypts_topics_queues_and_lambda_environments() -> None:
    (key,) = RESOURCES["aws_kms_key"].values()
    assert key["enable_key_rotation"] is True
    policy = json.loads(key["policy"])
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    assert not any(s["Principal"] in ("*", {"AWS": "*"}) for s in policy["Statement"])
    for topic in RESOURCES["aws_sns_topic"].values():
        assert topic["kms_master_key_id"] == KEY_ARN
    for queue in RESOURCES["aws_sqs_queue"].values():
        assert queue["kms_master_key_id"] == KEY_ARN and "sqs_managed_sse_enabled" not in queue
    for function, block in main_tf()["module"].items():
        assert block["kms_key_arn"] == KEY_ARN
        for fn in module(function)["resource"]["aws_lambda_function"].values():
            assert fn["kms_key_arn"] == "${var.kms_key_arn}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_lambdas_are_traced_limited_and_keep_failed_scheduled_runs(function: str) -> None:
    spec = DECLARATION.function(function)
    scheduled = {f"app.{s.handler}": s for s in DECLARATION.schedules if s.function == function}
    for fn in module(function)["resource"]["aws_lambda_function"].values():
        assert fn["tracing_config"] == {"mode": "Active"}
        assert fn["reserved_concurrent_executions"] == spec.reserved_concurrency >= 5
    for mapping in module(function)["resource"].get("aws_lambda_event_source_mapping", {}).values():
        # the pollers never outrun the reservation (a throttle would count as a receive)
        assert mapping["scaling_config"] == {"maximum_concurrency": spec.reserved_concurrency}
    for fn in module(function)["resource"]["aws_lambda_function"].values():
        schedule = scheduled.get(fn["handler"])
        if schedule is None:  # SQS-triggered (the queue's DLQ) or synchronous (API)
            assert "dead_letter_config" not in fn
            continue
        name = f"{PREFIX}-{function}-{schedule.handler.replace('_', '-')}-dlq"
        assert fn["dead_letter_config"]["target_arn"].endswith(f":{name}")
        dlq = RESOURCES["aws_sqs_queue"][ident(f"{function}_{schedule.handler}_dlq")]
        assert dlq["name"] == name
        assert (
            f"aws_sqs_queue.{ident(f'{function}_{schedule.handler}_dlq')}"
            in (main_tf()["module"][function]["depends_on"])
        )


@pytest.mark.parametrize("queue", DECLARATION.queues, ids=lambda q: q.key)
def test_every_queue_has_a_dead_letter_queue(queue) -> None:
    queues = RESOURCES["aws_sqs_queue"]
    main = queues[ident(queue.key)]
    assert main["name"] == f"{PREFIX}-{queue.key}"
    redrive = json.loads(main["redrive_policy"])
    dlq = _ref_name(redrive["deadLetterTargetArn"])
    assert dlq in queues and dlq != ident(queue.key)
    assert queues[dlq]["name"] == f"{PREFIX}-{queue.key}-dlq"
    assert "redrive_policy" not in queues[dlq]
    assert redrive["maxReceiveCount"] == queue.max_receive_count >= 1
    assert main["kms_master_key_id"] == queues[dlq]["kms_master_key_id"] == KEY_ARN
    # Lambda refuses an SQS trigger whose visibility timeout is below the function's timeout
    consumer = DECLARATION.function(queue.consumer)
    assert main["visibility_timeout_seconds"] >= consumer.timeout_s


def test_every_queue_resource_is_declared_or_a_dead_letter_queue() -> None:
    queues = RESOURCES["aws_sqs_queue"]
    mains = {name for name, q in queues.items() if "redrive_policy" in q}
    assert mains == {ident(q.key) for q in DECLARATION.queues}
    scheduled = {ident(f"{s.function}_{s.handler}_dlq") for s in DECLARATION.schedules}
    assert set(queues) - mains == {ident(q.key) + "_dlq" for q in DECLARATION.queues} | scheduled


def test_s3_triggers_match_the_declaration() -> None:
    declared = {
        (ident(q.s3.bucket), ident(q.key), tuple(q.s3.events))
        for q in DECLARATION.queues
        if q.s3 is not None
    }
    found = set()
    for bucket, notification in RESOURCES.get("aws_s3_bucket_notification", {}).items():
        assert notification["bucket"] == f"${{aws_s3_bucket.{bucket}.id}}"
        assert "lambda_function" not in notification and "topic" not in notification
        for config in notification["queue"]:
            found.add((bucket, _ref_name(config["queue_arn"]), tuple(config["events"])))
    assert found == declared
    assert ("inbox", "irs_inbox", ("s3:ObjectCreated:*",)) in found  # what IRS depends on


def test_queue_policies_let_exactly_the_declared_sources_deliver() -> None:
    for queue in DECLARATION.queues:
        policy = json.loads(RESOURCES["aws_sqs_queue_policy"][ident(queue.key)]["policy"])
        sources = {}
        for statement in policy["Statement"]:
            assert statement["Action"] == "sqs:SendMessage"
            assert statement["Resource"] == f"${{aws_sqs_queue.{ident(queue.key)}.arn}}"
            source = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
            sources[statement["Principal"]["Service"]] = source
        topics = {_ref_name(t) for t in sources.get("sns.amazonaws.com", [])}
        assert topics == {ident(t) for t in queue.topics}
        bucket = sources.get("s3.amazonaws.com")
        assert (_ref_name(bucket) if bucket else None) == (
            ident(queue.s3.bucket) if queue.s3 else None
        )


def test_topics_and_raw_subscriptions_match_the_declaration() -> None:
    topics = RESOURCES["aws_sns_topic"]
    assert {t["name"] for t in topics.values()} == {f"{PREFIX}-{t}" for t in DECLARATION.topics}
    declared = {(ident(t), ident(q.key)) for q in DECLARATION.queues for t in q.topics}
    found = set()
    for subscription in RESOURCES.get("aws_sns_topic_subscription", {}).values():
        assert subscription["protocol"] == "sqs"
        assert subscription["raw_message_delivery"] is True
        found.add((_ref_name(subscription["topic_arn"]), _ref_name(subscription["endpoint"])))
    assert found == declared


@pytest.mark.parametrize("table", DECLARATION.tables, ids=lambda t: t.key)
def test_tables_have_the_keys_of_their_models(table) -> None:
    resource = RESOURCES["aws_dynamodb_table"][ident(table.key)]
    assert resource["name"] == f"{PREFIX}-{table.key}"
    assert resource["billing_mode"] == "PAY_PER_REQUEST"
    schema = table_schema(table)
    assert resource["hash_key"] == schema["hash_key"]
    assert resource.get("range_key") == schema.get("range_key")
    assert resource.get("global_secondary_index") == schema.get("global_secondary_index")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_lambdas_are_sized_as_declared(function: str) -> None:
    spec = DECLARATION.function(function)
    lambdas = module(function)["resource"]["aws_lambda_function"]
    assert lambdas
    for fn in lambdas.values():
        assert fn["memory_size"] == spec.memory_mb
        assert fn["timeout"] == spec.timeout_s
        assert fn["function_name"].startswith(f"{PREFIX}-{function}-aws")
        assert fn["filename"].startswith("${path.module}/")  # the zip is built, not committed
    has_api = "aws_api_gateway_rest_api" in module(function)["resource"]
    assert has_api is spec.http


def test_irs_may_run_long_and_apis_answer_fast() -> None:
    assert DECLARATION.function("irs").timeout_s == 900
    for spec in DECLARATION.functions:
        if spec.http:
            assert spec.timeout_s <= 30  # API Gateway gives up after 29 s


@pytest.mark.parametrize("queue", DECLARATION.queues, ids=lambda q: q.key)
def test_each_queue_triggers_its_consumer_handler(queue) -> None:
    resources = module(queue.consumer)["resource"]
    mappings = resources.get("aws_lambda_event_source_mapping", {}).values()
    matching = [m for m in mappings if m["event_source_arn"].endswith(f":{PREFIX}-{queue.key}")]
    assert len(matching) == 1, f"{queue.consumer} has no trigger on {queue.key}"
    target = _ref_name(matching[0]["function_name"])
    assert resources["aws_lambda_function"][target]["handler"] == f"app.{queue.handler}"
    for function in FUNCTIONS:  # and nobody else is triggered by it
        if function != queue.consumer:
            others = module(function)["resource"].get("aws_lambda_event_source_mapping", {})
            assert not any(
                m["event_source_arn"].endswith(f":{PREFIX}-{queue.key}") for m in others.values()
            )


@pytest.mark.parametrize("schedule", DECLARATION.schedules, ids=lambda s: s.handler)
def test_schedules_match_the_declaration(schedule) -> None:
    resources = module(schedule.function)["resource"]
    rules = resources["aws_cloudwatch_event_rule"]
    targets = resources["aws_cloudwatch_event_target"]
    found = []
    for name, target in targets.items():
        handler = resources["aws_lambda_function"][_ref_name(target["arn"])]["handler"]
        if handler == f"app.{schedule.handler}":
            found.append(rules[name])
    assert len(found) == 1
    minutes = schedule.rate_minutes
    assert found[0]["schedule_expression"] == f"rate({minutes} minute{'s' if minutes > 1 else ''})"
    assert found[0]["name"].startswith(f"{PREFIX}-{schedule.function}-aws-")


def test_modules_cover_every_function_and_are_fed_every_variable() -> None:
    modules = main_tf()["module"]
    assert set(modules) == set(FUNCTIONS)
    root_variables = set(main_tf()["variable"])
    for function, block in modules.items():
        assert block["source"] == f"./functions/{function}"
        declared = set(module(function).get("variable", {}))
        passed = set(block) - {"source", "depends_on"}
        assert passed == declared, function
        for value in block.values():
            if isinstance(value, str) and value.startswith("${var."):
                assert value[6:-1] in root_variables


def test_sensitive_inputs_are_parameters_not_variables() -> None:
    """A Terraform variable's value is in the plan and the state: no secret may be one."""
    from infra.settings import inputs, parameters

    variables = main_tf()["variable"]
    for name, setting in inputs().items():
        assert (name in variables) is not setting.sensitive, name
    assert "wot_signing_key" not in variables and "vault_token" not in variables
    assert not any(v.get("sensitive") for v in variables.values())
    for function in FUNCTIONS:
        declared = module(function).get("variable", {})
        assert not any(v.get("sensitive") for v in declared.values()), function
    # the operator is told which parameters to put
    listed = main_tf()["output"]["secret_parameters"]["value"]
    assert set(listed) == set(parameters(PREFIX)) and "/fs/wot-signing-key" in listed


def test_version_bound_is_in_versions_tf_where_checkov_does_not_trip() -> None:
    """checkov's terraform_json parser fails on a plain attribute of the ``terraform``
    block: the JSON files hold only their providers, versions.tf the Terraform bound."""
    from infra.shared_terraform import TERRAFORM_VERSION
    from tests.infra.iac import TERRAFORM

    text = (TERRAFORM / "versions.tf").read_text()
    assert f'required_version = "{TERRAFORM_VERSION}"' in text
    for document in [main_tf()] + [module(f) for f in FUNCTIONS]:
        assert set(document["terraform"]) == {"required_providers"}
