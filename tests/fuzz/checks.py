"""What every answer to a hostile request must be, and the log it may leave."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, settings

# seeded and bounded: the whole suite (tests/fuzz) stays within ~2 minutes on 2 cores;
# FS_FUZZ_EXAMPLES raises the count for a longer hunt (the draws stay reproducible)
EXAMPLES = int(os.environ.get("FS_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
        HealthCheck.large_base_example,
    ],
)
ERROR_KEYS = {"exception_id", "description", "data"}


class Collected(logging.Handler):
    """Keeps every record at ERROR or above: an unhandled error always logs one."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def errors_logged() -> Iterator[Collected]:
    handler = Collected()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def no_unhandled_error(handler: Collected, what: str) -> None:
    for record in handler.records:
        raise AssertionError(
            f"{what}: logged at {record.levelname}: {record.getMessage()}"
            + (
                f" ({record.exc_info[0].__name__})"
                if record.exc_info and record.exc_info[0]
                else ""
            )
        )


def check_answer(status: int, body: bytes, what: str, secrets: list[str]) -> dict[str, Any] | None:
    """A success, or a 4xx with the GHGA error body naming no secret; the error body."""
    assert status < 500, f"{what}: {status} {body[:300]!r}"
    if status < 400:
        return None
    text = body.decode("utf-8", "replace")
    try:
        error = json.loads(text)
    except ValueError as failure:
        raise AssertionError(f"{what}: {status} without a JSON body: {text[:300]!r}") from failure
    assert isinstance(error, dict) and set(error) == ERROR_KEYS, f"{what}: {status} {error}"
    assert isinstance(error["exception_id"], str) and error["exception_id"], f"{what}: {error}"
    assert isinstance(error["description"], str) and isinstance(error["data"], dict), what
    for secret in secrets:
        assert secret not in text, f"{what}: the answer repeats a credential"
    return error
