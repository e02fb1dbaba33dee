"""Pure parts of DCS: range arithmetic, the wait, and the configuration's checks."""

from __future__ import annotations

import json

import pytest

from functions.dcs.config import DcsConfig
from functions.dcs.errors import InvalidRange, RangeNotSatisfiable, RangeTooLarge
from functions.dcs.ranges import ByteRange, Pieces, check_size, parse_range, split
from shared.config import ConfigError, load_config
from shared.resources import function_environment
from tests.fakes.dcs import policy as default_policy


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-0", ByteRange(0, 0)),
        ("bytes=10-", ByteRange(10, 999)),
        ("bytes=-1", ByteRange(999, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("bytes=990-5000", ByteRange(990, 999)),
        ("BYTES = 1 - 2", ByteRange(1, 2)),
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-1001", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range(header, 1000)
    assert caught.value.status == 416
    assert caught.value.data == {"size": 1000}


@pytest.mark.parametrize("header", ["bytes=5-4", "bytes=-", "bytes=1-2,4-5", "lines=1-2", "1-2"])
def test_invalid_ranges(header: str) -> None:
    with pytest.raises(InvalidRange):
        parse_range(header, 1000)


@pytest.mark.parametrize(
    ("wanted", "pieces"),
    [
        (ByteRange(0, 9), Pieces((0, 10), None)),
        (ByteRange(0, 123), Pieces((0, 124), None)),
        (ByteRange(123, 124), Pieces((123, 124), (0, 0))),
        (ByteRange(124, 200), Pieces(None, (0, 76))),
        (ByteRange(100, 1123), Pieces((100, 124), (0, 999))),
    ],
)
def test_split_at_the_envelope_end(wanted: ByteRange, pieces: Pieces) -> None:
    assert split(wanted, 124) == pieces


def test_check_size_names_the_limit() -> None:
    check_size(ByteRange(0, 99), 100, 500)
    with pytest.raises(RangeTooLarge) as caught:
        check_size(ByteRange(0, 100), 100, 500)
    assert caught.value.status == 413
    assert "100 bytes" in caught.value.description


def test_retry_after_is_scaled_and_clamped() -> None:
    policy = default_policy("outbox", "host", retry_after_min_s=2, retry_after_max_s=30)
    assert [policy.retry_after(s) for s in (0, 1, 10**9, 10**9 + 1, 10**12)] == [2, 2, 10, 11, 30]


def _environ(**overrides: str) -> dict[str, str]:
    env = function_environment("dcs", region="eu-central-1", account="1", pfx="px")
    env.update(
        {
            "DCS_WOT_PUBLIC_KEY": "pem",
            "DCS_EKSS_URL": "http://ekss",
            "DCS_EKSS_TOKEN": "service-token-value",
            "DCS_API_URL": "https://data.example.org/dcs",
        }
    )
    env.update(overrides)
    return env


def test_config_from_the_declaration() -> None:
    cfg = load_config(DcsConfig, "DCS", _environ())
    policy = cfg.policy()
    assert policy.outbox_bucket == "px-outbox"
    assert policy.drs_host == "data.example.org"
    assert policy.max_range_bytes == 4 * 1024 * 1024
    assert json.loads(_environ()["DCS_TOPICS"]).keys() >= {
        "NonStagedFileRequested",
        "FileDownloadServed",
    }


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"DCS_RETRY_AFTER_MIN_S": "10", "DCS_RETRY_AFTER_MAX_S": "5"}, "retry_after_min_s"),
        (
            {"DCS_OUTBOX_MAX_AGE_S": "600", "DCS_PRESIGNED_URL_LIFETIME_S": "3600"},
            "outbox_max_age_s",
        ),
        ({"DCS_MAX_RANGE_BYTES": str(5 * 1024 * 1024)}, "DCS_MAX_RANGE_BYTES"),
        ({"DCS_PRESIGNED_URL_LIFETIME_S": "30"}, "DCS_PRESIGNED_URL_LIFETIME_S"),
        ({"DCS_API_URL": "dcs"}, "DCS_API_URL"),
        ({"DCS_BUCKETS": "{}"}, "buckets.outbox"),
    ],
)
def test_bad_config_is_refused_by_name(overrides: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(DcsConfig, "DCS", _environ(**overrides))
    assert problem in str(caught.value)
    assert "service-token-value" not in str(caught.value)
