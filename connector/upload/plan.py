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

S3_MIN_PART = 5 * 1024 * 1024
S3_MAX_PART = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000
MIN_PART_SIZE = -(-S3_MIN_PART // CIPHER_SEGMENT_SIZE) * CIPHER_SEGMENT_SIZE  # 5,245,120
MAX_PART_SIZE = (S3_MAX_PART // CIPHER_SEGMENT_SIZE) * CIPHER_SEGMENT_SIZE  # 5,368,708,140


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def aligned_part_size(requested: int, total_encrypted_size: int) -> int:
    """``requested`` rounded up to whole cipher segments, grown if the file would need more
    than 10,000 parts, and clamped to the S3 limits."""
    size = _round_up(max(requested, 1), CIPHER_SEGMENT_SIZE)
    if -(-total_encrypted_size // size) > MAX_PARTS:
        size = _round_up(-(-total_encrypted_size // MAX_PARTS), CIPHER_SEGMENT_SIZE)
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
        return max(1, -(-self.encrypted_size // self.part_size))

    def part_length(self, part_number: int) -> int:
        """Bytes of part ``part_number`` (1-based)."""
        if not 1 <= part_number <= self.part_count:
            raise ValueError(f"part {part_number} of {self.part_count}")
        if part_number < self.part_count:
            return self.part_size
        return self.encrypted_size - (self.part_count - 1) * self.part_size


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
