"""The time and size budgets of docs/limits.md, checked against the declaration and the
services' default settings: if a timeout, a memory size, a lifetime or a part size changes so
that the largest file (5 TiB, 10,000 parts) no longer fits, a test here fails.

The network rate every lifetime is judged against is 10 MB/s (a researcher's uplink), as the
issue that asked for these budgets says.
"""

from __future__ import annotations

from typing import Any

import pytest

from connector.download.batch import staging_patience
from functions.dcs.config import DcsConfig
from functions.dcs.core import DownloadPolicy
from functions.ifrs.config import IfrsConfig
from functions.ifrs.copier import copy_part_size
from functions.ifrs.model import LEASE_S as IFRS_LEASE_S
from functions.ifrs.model import PARTS_IN_FLIGHT
from functions.irs.model import LEASE_S as IRS_LEASE_S
from functions.irs.model import Settings as IrsSettings
from functions.irs.sizing import FULL_OVERLAP, RUNTIME_RESERVE_MB, staging_part_size
from functions.ucs.config import UcsConfig
from functions.ucs.core import UploadPolicy
from functions.wps.config import WpsConfig
from shared.crypt.c4gh import encrypted_size
from shared.invocation import INVOCATION_BUDGET_S, LEASE_SLACK_S, SAFETY_MARGIN_S
from shared.limits import (
    API_GATEWAY_TIMEOUT_S,
    LAMBDA_MAX_MEMORY_MB,
    LAMBDA_MAX_TIMEOUT_S,
    SQS_MAX_VISIBILITY_TIMEOUT_S,
)
from shared.multipart import MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, MIB, part_count
from shared.resources import DECLARATION

UPLINK_BYTES_PER_S = 10_000_000  # 10 MB/s
LARGEST_PLAIN = 5_495_210_331_588  # the largest plaintext whose Crypt4GH file is 5 TiB
LARGEST_PART = -(-MAX_OBJECT_SIZE // MAX_PARTS)  # a part of the largest file in 10,000 parts


def default(config: Any, name: str) -> Any:
    return config.model_fields[name].default


def test_the_largest_plaintext_is_the_one_that_fits_5_tib() -> None:
    assert encrypted_size(LARGEST_PLAIN) <= MAX_OBJECT_SIZE < encrypted_size(LARGEST_PLAIN + 1)


@pytest.mark.parametrize("function", DECLARATION.functions, ids=lambda f: f.name)
def test_every_function_is_within_lambdas_limits(function: Any) -> None:
    assert function.timeout_s <= LAMBDA_MAX_TIMEOUT_S
    assert function.memory_mb <= LAMBDA_MAX_MEMORY_MB
    if function.http:  # API Gateway answers 504 after 29 s whatever the Lambda does
        assert function.timeout_s <= API_GATEWAY_TIMEOUT_S


@pytest.mark.parametrize("queue", DECLARATION.queues, ids=lambda q: q.key)
def test_a_message_comes_back_only_after_its_handler_is_gone(queue: Any) -> None:
    timeout = DECLARATION.function(queue.consumer).timeout_s
    assert timeout < queue.visibility_timeout_s <= SQS_MAX_VISIBILITY_TIMEOUT_S


@pytest.mark.parametrize(
    ("function", "lease_s"), [("irs", IRS_LEASE_S), ("ifrs", IFRS_LEASE_S)], ids=["irs", "ifrs"]
)
def test_long_steps_hand_on_before_the_lambda_dies_and_leases_end_before_redelivery(
    function: str, lease_s: float
) -> None:
    timeout = DECLARATION.function(function).timeout_s
    queue = next(q for q in DECLARATION.queues if q.consumer == function)
    # the last piece begins with SAFETY_MARGIN_S left at the least
    assert timeout >= INVOCATION_BUDGET_S + SAFETY_MARGIN_S
    # on Lambda a lease is at most the remaining time (<= timeout) plus the slack
    assert min(lease_s, timeout) + LEASE_SLACK_S <= queue.visibility_timeout_s
    assert function in queue.senders  # it hands on to its own queue


def test_irs_memory_holds_the_largest_files_parts_with_full_overlap() -> None:
    irs = DECLARATION.function("irs")
    settings = IrsSettings(inbox_bucket="i", staging_bucket="s", memory_mb=irs.memory_mb)
    body = MAX_OBJECT_SIZE - 124  # the header of one recipient
    part = staging_part_size(64 * MIB, body, settings)
    assert part is not None
    assert part_count(body, part) <= MAX_PARTS
    assert part * FULL_OVERLAP + RUNTIME_RESERVE_MB * MIB <= irs.memory_mb * MIB


def test_ifrs_copies_the_largest_object_in_at_most_10000_parts() -> None:
    floor = default(IfrsConfig, "copy_part_floor")
    part = copy_part_size(MAX_OBJECT_SIZE, floor)
    assert part <= MAX_PART_SIZE
    assert part_count(MAX_OBJECT_SIZE, part) <= MAX_PARTS


def _ucs_policy() -> UploadPolicy:
    return UploadPolicy(
        inbox_bucket="inbox",
        storage_alias="test",
        max_open_uploads_per_box=1,
        retry_after_s=1,
        part_url_min_lifetime_s=default(UcsConfig, "part_url_min_lifetime_s"),
        part_url_bytes_per_s=default(UcsConfig, "part_url_bytes_per_s"),
        part_url_max_lifetime_s=default(UcsConfig, "part_url_max_lifetime_s"),
    )


@pytest.mark.parametrize("part", [64 * MIB, LARGEST_PART, MAX_PART_SIZE], ids=str)
def test_a_part_url_outlives_its_part_at_10_mb_per_s(part: int) -> None:
    # S3 checks a presigned URL's expiry when the request starts; a URL that lasts the
    # part's whole transfer also serves the client's retry after a transfer failed at the end
    lifetime = _ucs_policy().part_url_lifetime_s(part)
    assert lifetime >= part / UPLINK_BYTES_PER_S + default(UcsConfig, "part_url_min_lifetime_s")


def test_a_box_and_an_idle_limit_that_let_the_largest_file_arrive() -> None:
    assert default(UcsConfig, "default_box_max_size") >= MAX_OBJECT_SIZE
    # an upload is abandoned when no part arrived for this long: far above one part's time
    assert default(UcsConfig, "abandoned_upload_age_s") > 100 * LARGEST_PART / UPLINK_BYTES_PER_S


def test_a_work_package_outlives_the_largest_file_at_10_mb_per_s() -> None:
    days = default(WpsConfig, "package_lifetime_days")
    assert days * 24 * 3600 > MAX_OBJECT_SIZE / UPLINK_BYTES_PER_S


def _dcs_policy() -> DownloadPolicy:
    names = DownloadPolicy.__dataclass_fields__
    values = {n: default(DcsConfig, n) for n in names if n in DcsConfig.model_fields}
    return DownloadPolicy(outbox_bucket="outbox", drs_host="h", **values)


def test_a_download_url_outlives_one_range_at_10_mb_per_s() -> None:
    policy = _dcs_policy()
    assert policy.presigned_url_lifetime_s > policy.max_range_bytes / UPLINK_BYTES_PER_S
    # the outbox copy is kept at least as long as URLs to it are handed out
    assert policy.outbox_max_age_s >= policy.presigned_url_lifetime_s


def test_dcs_waits_for_a_staging_copy_of_the_largest_file_before_asking_again() -> None:
    # IFRS copies with PARTS_IN_FLIGHT parts at once, each UploadPartCopy stream at about
    # 60 MiB/s (published figures); DCS asks again only after a copy at a quarter of that
    planned = PARTS_IN_FLIGHT * 60 * MIB
    copy_s = MAX_OBJECT_SIZE / planned
    timeout_s = _dcs_policy().staging_timeout(MAX_OBJECT_SIZE).total_seconds()
    assert 4 * copy_s <= timeout_s <= 24 * 3600  # and a lost request is made again the same day


def test_the_connector_waits_for_staging_longer_than_dcs_takes_to_ask_again() -> None:
    dcs_s = _dcs_policy().staging_timeout(MAX_OBJECT_SIZE).total_seconds()
    assert staging_patience(MAX_OBJECT_SIZE, None) >= 2 * dcs_s
