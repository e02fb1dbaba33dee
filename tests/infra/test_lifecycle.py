"""Every bucket aborts multipart uploads left open: in the Terraform and in the embedded stack.

A killed invocation can leave an open multipart upload nobody knows of (IRS dies right after
S3 opened its staging upload, before the checkpoint names it); its parts would cost storage
for ever. The lifecycle rule is what removes them, so both places that create buckets must
set it, with the days the declaration gives each bucket.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from infra.shared_terraform import (
    ABORT_RULE_ID,
    ACCESS_LOGS,
    EXPIRE_DELETED_RULE_ID,
    ident,
    root_module,
)
from shared.adapters.aws import client
from shared.multipart import MAX_OBJECT_SIZE
from shared.resources import DECLARATION, bucket_name
from testbed.bootstrap import create_buckets

DAYS = {b.key: b.abort_incomplete_after_days for b in DECLARATION.buckets}


def test_declaration_gives_the_inbox_longer_than_the_largest_upload_takes() -> None:
    # UCS cancels uploads idle for 7 days itself; the rule is the backstop behind it, and
    # must leave the largest file (5 TiB) time to arrive at a slow 1 MB/s
    assert DAYS == {"inbox": 90, "staging": 7, "permanent": 7, "outbox": 7}
    assert DAYS["inbox"] * 24 * 3600 * 1_000_000 > MAX_OBJECT_SIZE


def test_generated_terraform_has_one_abort_rule_per_bucket() -> None:
    resources = root_module("fs")["resource"]
    lifecycles = resources["aws_s3_bucket_lifecycle_configuration"]
    buckets = {ident(k) for k in DAYS} | {ident(ACCESS_LOGS)}
    assert set(lifecycles) == set(resources["aws_s3_bucket"]) == buckets
    for key, days in DAYS.items():
        config = lifecycles[ident(key)]
        assert config["bucket"] == f"${{aws_s3_bucket.{ident(key)}.id}}"
        (rule,) = [r for r in config["rule"] if r["id"] == ABORT_RULE_ID]
        assert rule["status"] == "Enabled"
        assert rule["filter"] == [{}]  # the whole bucket, no prefix
        assert rule["abort_incomplete_multipart_upload"] == [{"days_after_initiation": days}]
        assert set(rule) == {"id", "status", "filter", "abort_incomplete_multipart_upload"}


def test_versioned_buckets_expire_what_a_delete_leaves() -> None:
    """A delete in a versioned bucket only hides the object: its data stays as a noncurrent
    version. The rule removes those after a day, and the delete markers left behind."""
    resources = root_module("fs")["resource"]
    versioned = {ident(b.key) for b in DECLARATION.buckets if b.versioned}
    assert versioned == {"permanent"}
    assert set(resources["aws_s3_bucket_versioning"]) == versioned
    for ref, config in resources["aws_s3_bucket_lifecycle_configuration"].items():
        rules = {r["id"]: r for r in config["rule"]}
        if ref not in versioned:
            assert EXPIRE_DELETED_RULE_ID not in rules
            continue
        assert resources["aws_s3_bucket_versioning"][ref]["versioning_configuration"] == {
            "status": "Enabled"
        }
        assert config["depends_on"] == [f"aws_s3_bucket_versioning.{ref}"]
        rule = rules[EXPIRE_DELETED_RULE_ID]
        assert rule["status"] == "Enabled" and rule["filter"] == [{}]
        assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": 1}]
        assert rule["expiration"] == [{"expired_object_delete_marker": True}]
        assert set(rules) == {ABORT_RULE_ID, EXPIRE_DELETED_RULE_ID}  # the abort rule stays


def _rules(s3: Any, bucket: str) -> list[dict[str, Any]]:
    return s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]


def _assert_abort_rule(s3: Any, bucket: str, days: int) -> None:
    (rule,) = _rules(s3, bucket)
    assert rule["Status"] == "Enabled"
    assert rule.get("Prefix", "") == "" and not rule.get("Filter", {}).get("Prefix")
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": days}


@pytest.mark.parametrize("key", list(DAYS))
def test_stack_buckets_carry_the_rule(endpoints: dict[str, Any], key: str) -> None:
    s3 = client("s3", endpoints["aws_endpoint_url"])
    _assert_abort_rule(s3, bucket_name(key, endpoints["resource_prefix"]), DAYS[key])


def test_bootstrap_sets_the_rule_and_twice_is_still_one_rule(endpoints: dict[str, Any]) -> None:
    pfx = f"lc{uuid.uuid4().hex[:8]}"
    s3 = client("s3", endpoints["aws_endpoint_url"])
    create_buckets(pfx)
    create_buckets(pfx)  # idempotent: the rule is replaced, not added
    try:
        for key, days in DAYS.items():
            _assert_abort_rule(s3, bucket_name(key, pfx), days)
    finally:
        for key in DAYS:
            s3.delete_bucket(Bucket=bucket_name(key, pfx))


def test_plain_buckets_get_no_rule(endpoints: dict[str, Any]) -> None:
    """SeaweedFS (``hardened=False``) implements no lifecycle: none is attempted."""
    pfx = f"lc{uuid.uuid4().hex[:8]}"
    s3 = client("s3", endpoints["aws_endpoint_url"])
    create_buckets(pfx, hardened=False)
    try:
        for key in DAYS:
            with pytest.raises(s3.exceptions.ClientError) as error:
                _rules(s3, bucket_name(key, pfx))
            assert error.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
    finally:
        for key in DAYS:
            s3.delete_bucket(Bucket=bucket_name(key, pfx))
