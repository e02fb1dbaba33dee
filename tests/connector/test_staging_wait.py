"""The wait for staging scales with the file's size (unless --max-wait says otherwise).

The batch downloader runs on a fake clock against a download controller that keeps
answering 202: the test reads off when it gives up. Over the real stack, the 202s carry
the size (tests/dcs/test_objects.py) and a short --max-wait fails a file in time
(test_download_errors.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from connector.api.dcs import Staging, _content_size
from connector.download.batch import MIN_WAIT, STAGING_RATE, BatchDownloader, staging_patience
from connector.progress import Reporter

FILE_ID = "a3c1e6f2-5b7d-4e8a-9c0b-1d2e3f4a5b6c"
GIB = 1024**3
TIB = 1024**4


class StagingForever:
    """A DCS that never has the file ready; the sizes its 202s name, one per answer."""

    def __init__(self, sizes: list[int | None]) -> None:
        self.sizes = sizes
        self.polls = 0

    async def drs_object(self, file_id: str) -> Staging:
        size = self.sizes[min(self.polls, len(self.sizes) - 1)]
        self.polls += 1
        return Staging(retry_after=300, size=size)

    async def envelope(self, file_id: str) -> bytes:
        return b"never used: the file is never staged"


def _gives_up_after(
    tmp_path: Path, sizes: list[int | None], max_wait: float | None = None
) -> tuple[float, str]:
    """Seconds on the fake clock until the file fails, and why."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    batch = BatchDownloader(
        StagingForever(sizes),  # type: ignore[arg-type]
        files=None,  # type: ignore[arg-type]  # never reached: nothing is staged
        reporter=Reporter(quiet=True),
        output_dir=tmp_path,
        decrypt=False,
        overwrite=False,
        max_wait=max_wait,
        clock=lambda: now[0],
        sleep=sleep,
    )
    result = asyncio.run(batch.run({FILE_ID: ""}))
    (outcome,) = result.outcomes
    assert outcome.status == "failed"
    return now[0], outcome.detail


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (None, MIN_WAIT),  # a DCS that does not say (GHGA's): an hour
        (10 * GIB, MIN_WAIT + 102.4),  # small: the hour, and its copy at the assumed rate
        (100 * GIB, MIN_WAIT + 1024),
        (1 * TIB, MIN_WAIT + TIB / STAGING_RATE),  # 14,086 s
        (5 * TIB, MIN_WAIT + 5 * TIB / STAGING_RATE),  # 56,029 s: about 16 hours
    ],
)
def test_the_default_wait_grows_with_the_size(
    tmp_path: Path, size: int | None, expected: float
) -> None:
    waited, why = _gives_up_after(tmp_path, [size])
    assert waited == pytest.approx(expected)
    assert f"within {expected:.0f}s (--max-wait)" in why


def test_max_wait_given_is_kept_whatever_the_size(tmp_path: Path) -> None:
    waited, why = _gives_up_after(tmp_path, [5 * TIB], max_wait=600)
    assert waited == 600 and "within 600s (--max-wait)" in why


def test_a_size_learned_later_extends_the_wait_from_the_first_202(tmp_path: Path) -> None:
    waited, _ = _gives_up_after(tmp_path, [None, 2 * TIB])
    assert waited == pytest.approx(MIN_WAIT + 2 * TIB / STAGING_RATE)  # from the first 202


def test_patience_and_the_size_header() -> None:
    assert staging_patience(None, None) == MIN_WAIT == 3600
    assert staging_patience(TIB, None) == pytest.approx(14_085.76)  # 1 TiB: 3.9 hours
    assert staging_patience(TIB, 0) == 0
    assert STAGING_RATE == 100 * 1024**2
    assert _content_size("5497558138880") == 5 * TIB
    assert [_content_size(v) for v in (None, "", "-1", "12a", "9" * 30)] == [None] * 5
