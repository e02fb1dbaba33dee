"""A scaled-down stack for the scale tests: S3's minimum part size cut to one Crypt4GH cipher
segment, and budgets per invocation so small that every long step of a 10,000-part file
spans several invocations.

What is scaled, and how (docs/limits.md):

- FS_TEST_MIN_PART_SIZE (shared/multipart.py) in the environment of the stack's process
  (every function runs there) and of every client run: S3's 5 MiB minimum part size
  becomes SCALED_MIN_PART_SIZE, so 10,000 parts make about 656 MB instead of 50 GB. The
  stack hands moto's S3 the same minimum (S3_UPLOAD_PART_MIN_SIZE).
- the functions' settings (``fs-stack up --setting NAME=VALUE``): IRS stages in parts of
  the upload's size (10,000 of them) and hands on after SCALE_IRS_PARTS_PER_INVOCATION;
  IFRS copies in parts of its floor (64 MiB: about ten), SCALE_IFRS_PARTS_IN_FLIGHT at
  once, and hands on after SCALE_IFRS_PARTS_PER_INVOCATION.

The backend is the embedded one (moto), not SeaweedFS: SeaweedFS refuses to complete a
multipart upload with a part below 5 MiB (a constant of its own, filer_multipart.go), and
so does LocalStack (localstack/services/s3/constants.py). moto reads a whole object for
every ranged GET and part copy; on a scaled stack it runs through testbed/moto_ranges.py,
which reads the range alone.

The payload limits are not scaled: tests/scale/test_payload_limits.py checks the real ones
for a 10,000-part file of the largest size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from shared.crypt.c4gh import CIPHER_SEGMENT_SIZE
from shared.multipart import MAX_PARTS, SCALED_MIN_PART_SIZE_ENV
from testbed.process import StackProcess, start_stack_process

SCALED_MIN_PART_SIZE = CIPHER_SEGMENT_SIZE  # 65,564 bytes: one cipher segment a part
# the file's parts; FS_SCALE_PARTS makes it smaller for a quick look at the harness
SCALE_PARTS = int(os.environ.get("FS_SCALE_PARTS", MAX_PARTS))
SCALE_IRS_PARTS_PER_INVOCATION = -(-SCALE_PARTS // 4)  # 2,500 of 10,000: four invocations
SCALE_IFRS_PARTS_IN_FLIGHT = 2  # a checkpoint every two parts
SCALE_IFRS_PARTS_PER_INVOCATION = 4  # of about ten copy parts: three invocations

SCALED_ENVIRONMENT = {SCALED_MIN_PART_SIZE_ENV: str(SCALED_MIN_PART_SIZE)}
SCALED_SETTINGS = {
    "IRS_MAX_PARTS_PER_INVOCATION": str(SCALE_IRS_PARTS_PER_INVOCATION),
    "IFRS_PARTS_IN_FLIGHT": str(SCALE_IFRS_PARTS_IN_FLIGHT),
    "IFRS_MAX_PARTS_PER_INVOCATION": str(SCALE_IFRS_PARTS_PER_INVOCATION),
    # DCS must not ask for staging again while a copy of minutes runs
    "DCS_STAGING_TIMEOUT_S": "1800",
}


@pytest.fixture(scope="package")
def scale_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """``fs-stack up`` with the scaled part size and budgets."""
    settings = [f"--setting={name}={value}" for name, value in SCALED_SETTINGS.items()]
    stack = start_stack_process(
        tmp_path_factory.mktemp("scale-stack") / "state",
        "--backend",
        "embedded",  # the one backend that takes parts below 5 MiB
        *settings,
        # INFO: the journey counts the hand-ons to next invocations in the stack's log
        env={**SCALED_ENVIRONMENT, "FS_LOG_LEVEL": "INFO"},
    )
    try:
        yield stack
    finally:
        stack.stop(timeout=60)


@pytest.fixture(scope="package")
def scale_endpoints(scale_stack: StackProcess) -> dict[str, Any]:
    assert scale_stack.endpoints["min_part_size"] == SCALED_MIN_PART_SIZE
    return scale_stack.endpoints
