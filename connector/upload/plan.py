"""How a file is cut into upload parts.

The uploaded object is a complete Crypt4GH file: a 124-byte header, then cipher segments
of 65,564 bytes. Parts are whole multiples of 65,564 bytes (as GHGA's connector makes
them), between S3's 5 MiB minimum and 5 GiB maximum, and at most 10,000 per upload; every
part but the last has exactly ``part_size`` bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.errors import BadInput
from shared.crypt.c4gh import CIPHER_SEGMENT_SIZE, encrypted_size
from shared.crypt.c4gh import MAX_ALIGNED_PART_SIZE as MAX_PART_SIZE
from shared.crypt.c4gh import MIN_ALIGNED_PART_SIZE as MIN_PART_SIZE
from shared.multipart import MAX_PARTS, ceil_div, part_count, part_length, round_up


def aligned_part_size(requested: int, total_encrypted_size: int) -> int:
    """``requested`` rounded up to whole cipher segments, grown if the file would need more
    than 10,000 parts, and clamped to the S3 limits."""
    size = round_up(max(requested, 1), CIPHER_SEGMENT_SIZE)
    if ceil_div(total_encrypted_size, size) > MAX_PARTS:
        size = round_up(ceil_div(total_encrypted_size, MAX_PARTS), CIPHER_SEGMENT_SIZE)
    return min(max(size, MIN_PART_SIZE), MAX_PART_SIZE)


@dataclass(frozen=True)
class UploadPlan:
    decrypted_size: int
    part_size: int

    @property
    def encrypted_size(self) -> int:
        return encrypted_size(self.decrypted_size)

    @property
    def part_count(self) -> int:
        return part_count(self.encrypted_size, self.part_size)

    def part_length(self, part_number: int) -> int:
        """Bytes of part ``part_number`` (1-based)."""
        return part_length(self.encrypted_size, self.part_size, part_number)


def plan_upload(decrypted_size: int, requested_part_size: int) -> UploadPlan:
    """The parts of a file of ``decrypted_size`` plaintext bytes."""
    total = encrypted_size(decrypted_size)
    part_size = aligned_part_size(requested_part_size, total)
    plan = UploadPlan(decrypted_size, part_size)
    if plan.part_count > MAX_PARTS:
        raise BadInput(
            f"A file of {decrypted_size} bytes is too large: it would need more than "
            f"{MAX_PARTS} parts of the largest size S3 allows."
        )
    return plan
