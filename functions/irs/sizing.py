"""How large a staged part is, and how many of them an invocation holds in memory at once.

S3 takes at most MAX_PARTS parts, so the staged part size grows with the file: it is the
upload's part size on cipher segment boundaries, or the configured floor if that is larger
(64 MiB by default: every staged part costs a PUT, two DynamoDB writes and hand-offs
between threads, about 7 ms of CPU, so 8 MiB parts spent 0.6 CPU-s per GiB more than large
ones), but at least what the file needs to fit in MAX_PARTS parts. Memory bounds it from
above. The streaming pipeline (stream.py) holds FULL_OVERLAP parts at once when reading,
re-encrypting and uploading overlap, and LEAST_OVERLAP when it runs one step at a time; the
part size a file needs may use the memory of the least overlap, while the preferred size is
held to the memory of the full one. A file that needs larger parts than the least overlap
fits is refused before any work starts.
"""

from __future__ import annotations

from typing import Final

from functions.irs.model import Settings
from shared.crypt.c4gh import CIPHER_SEGMENT_SIZE
from shared.crypt.c4gh import MIN_ALIGNED_PART_SIZE as MIN_PART_SIZE
from shared.multipart import MAX_PART_SIZE, MAX_PARTS, MIB, smallest_part_size

__all__ = [
    "FULL_OVERLAP",
    "LEAST_OVERLAP",
    "MIN_PART_SIZE",
    "RUNTIME_RESERVE_MB",
    "largest_body",
    "largest_part_size",
    "parts_in_memory",
    "staging_part_size",
]

# the Python runtime, the libraries, the HTTP buffers: what is not a staged part
RUNTIME_RESERVE_MB: Final = 256
# parts in memory: one uploading, the cipher and the result of the one being built, the
# one read ahead; without read-ahead one fewer; one step at a time, the cipher and result
FULL_OVERLAP: Final = 4
LEAST_OVERLAP: Final = 2
_MAX_ALIGNED = MAX_PART_SIZE // CIPHER_SEGMENT_SIZE * CIPHER_SEGMENT_SIZE


def _parts_budget(settings: Settings) -> int:
    """Bytes of memory for staged parts."""
    return max(0, settings.memory_mb - RUNTIME_RESERVE_MB) * MIB


def _aligned_cap(limit: int, settings: Settings) -> int:
    if settings.max_staging_part_size is not None:
        limit = min(limit, settings.max_staging_part_size)
    limit = min(limit, _MAX_ALIGNED) // CIPHER_SEGMENT_SIZE * CIPHER_SEGMENT_SIZE
    return max(MIN_PART_SIZE, limit)


def largest_part_size(settings: Settings) -> int:
    """The largest staged part the memory holds (with the least overlap)."""
    return _aligned_cap(_parts_budget(settings) // LEAST_OVERLAP, settings)


def _comfortable_part_size(settings: Settings) -> int:
    """The largest staged part the memory holds with every overlap."""
    return _aligned_cap(_parts_budget(settings) // FULL_OVERLAP, settings)


def largest_body(settings: Settings) -> int:
    """The largest encrypted body (the inbox object without its header) IRS can stage."""
    return largest_part_size(settings) * MAX_PARTS


def staging_part_size(upload_part_size: int, body_size: int, settings: Settings) -> int | None:
    """The staged part size for a body of ``body_size`` encrypted bytes uploaded in parts of
    ``upload_part_size``; None if the body would need more than MAX_PARTS parts even at
    the largest part size the memory allows."""
    preferred = max(upload_part_size, settings.min_staging_part_size)
    preferred = preferred // CIPHER_SEGMENT_SIZE * CIPHER_SEGMENT_SIZE
    preferred = min(max(preferred, MIN_PART_SIZE), _comfortable_part_size(settings))
    needed = smallest_part_size(body_size, CIPHER_SEGMENT_SIZE)
    size = max(preferred, needed)
    return size if size <= largest_part_size(settings) else None


def parts_in_memory(settings: Settings, part_size: int) -> int:
    """How many parts of ``part_size`` the pipeline may hold at once (LEAST_OVERLAP to
    FULL_OVERLAP): less overlap rather than more memory than the function has."""
    fits = _parts_budget(settings) // part_size if part_size else FULL_OVERLAP
    return max(LEAST_OVERLAP, min(FULL_OVERLAP, fits))
