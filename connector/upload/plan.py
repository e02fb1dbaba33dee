"""How a file is cut into upload parts, and whether it fits in one object at all.

The uploaded object is a complete Crypt4GH file: a 124-byte header, then cipher segments
of 65,564 bytes. Parts are whole multiples of 65,564 bytes (as GHGA's connector makes
them), between S3's 5 MiB minimum and 5 GiB maximum, and at most 10,000 per upload; every
part but the last has exactly ``part_size`` bytes. The requested part size grows (as in
GHGA's connector) when the file would need more than 10,000 parts; a file whose encrypted
form is above S3's largest object (5 TiB) is refused before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.errors import BadInput
from connector.transfer import in_flight
from shared.crypt.c4gh import (
    CIPHER_DIFF,
    CIPHER_SEGMENT_SIZE,
    ENVELOPE_SIZE_ONE_RECIPIENT,
    SEGMENT_SIZE,
    encrypted_size,
)
from shared.crypt.c4gh import MAX_ALIGNED_PART_SIZE as MAX_PART_SIZE
from shared.crypt.c4gh import MIN_ALIGNED_PART_SIZE as MIN_PART_SIZE
from shared.multipart import (
    MAX_OBJECT_SIZE,
    MAX_PARTS,
    TIB,
    ceil_div,
    part_count,
    part_length,
    round_up,
    smallest_part_size,
)


def _largest_plain_size() -> int:
    """The largest plaintext whose Crypt4GH file (one recipient) fits in MAX_OBJECT_SIZE."""
    body = MAX_OBJECT_SIZE - ENVELOPE_SIZE_ONE_RECIPIENT
    full, rest = divmod(body, CIPHER_SEGMENT_SIZE)
    return full * SEGMENT_SIZE + max(0, rest - CIPHER_DIFF)


MAX_PLAIN_SIZE = _largest_plain_size()  # 5,497,558,138,880 bytes of object: ~4.998 TiB


def _tib(size: int) -> str:
    return f"{size:,} bytes ({size / TIB:.3f} TiB)"


def aligned_part_size(requested: int, total_encrypted_size: int) -> int:
    """``requested`` rounded up to whole cipher segments, grown if the file would need more
    than 10,000 parts, and clamped to the S3 limits."""
    size = round_up(max(requested, 1), CIPHER_SEGMENT_SIZE)
    if ceil_div(total_encrypted_size, size) > MAX_PARTS:
        size = smallest_part_size(total_encrypted_size, CIPHER_SEGMENT_SIZE)
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

    @property
    def buffer_size(self) -> int:
        """Bytes of one part buffer: a part, or the whole file if it is smaller."""
        return min(self.part_size, self.encrypted_size)

    def part_length(self, part_number: int) -> int:
        """Bytes of part ``part_number`` (1-based)."""
        return part_length(self.encrypted_size, self.part_size, part_number)

    def parts_in_flight(self, concurrency: int, max_memory: int) -> int:
        """Parts held at once (each one whole, in a buffer): memory is bounded in bytes,
        so large parts mean fewer of them, at least one."""
        return in_flight(concurrency, max_memory, self.buffer_size)


def size_problem(decrypted_size: int, part_size: int) -> str | None:
    """Why a file of ``decrypted_size`` bytes cannot be uploaded in parts of ``part_size``
    bytes (with the size that would work), or None if it can."""
    total = encrypted_size(decrypted_size)
    if total > MAX_OBJECT_SIZE:
        return (
            f"too large: encrypted it has {total:,} bytes, above the largest object the "
            f"archive's storage holds ({_tib(MAX_OBJECT_SIZE)}); the largest file that "
            f"can be uploaded has {_tib(MAX_PLAIN_SIZE)}"
        )
    count = part_count(total, part_size)
    if count > MAX_PARTS:
        needed = smallest_part_size(total, CIPHER_SEGMENT_SIZE)
        return (
            f"too many parts: at a part size of {part_size:,} bytes it needs {count:,} parts, "
            f"more than the {MAX_PARTS:,} an upload may have; a part size of at least "
            f"{needed:,} bytes ({ceil_div(needed, 1024**2)} MiB, --part-size) would work"
        )
    return None


def plan_upload(decrypted_size: int, requested_part_size: int) -> UploadPlan:
    """The parts of a file of ``decrypted_size`` plaintext bytes; BadInput if it does not
    fit in one upload (nothing is sent for such a file)."""
    total = encrypted_size(decrypted_size)
    part_size = aligned_part_size(requested_part_size, total)
    problem = size_problem(decrypted_size, part_size)
    if problem:
        raise BadInput(f"A file of {decrypted_size:,} bytes is {problem}.")
    return UploadPlan(decrypted_size, part_size)
