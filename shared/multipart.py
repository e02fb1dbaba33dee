"""S3 multipart arithmetic and the rules for aliases, in one place for services and client.

Standard library only: the connector imports it as it is (it installs without the services'
dependencies), so a part size or alias that passes here passes at the upload controller.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Final

MIB: Final = 1024**2
GIB: Final = 1024**3
TIB: Final = 1024**4

# a test stack that proves 10,000-part files without moving terabytes scales S3's minimum
# part size down (tests/scale, docs/limits.md); it must be set before anything imports this
# module, in every process of that stack (services and client alike), and never on AWS
SCALED_MIN_PART_SIZE_ENV: Final = "FS_TEST_MIN_PART_SIZE"


def _min_part_size() -> int:
    real = 5 * MIB
    scaled = os.environ.get(SCALED_MIN_PART_SIZE_ENV)
    if not scaled:
        return real
    value = int(scaled)
    if not 1 <= value <= real:
        raise ValueError(f"{SCALED_MIN_PART_SIZE_ENV} must be from 1 to {real}")
    return value


# S3's limits on a multipart upload (every part but the last at least MIN_PART_SIZE)
MIN_PART_SIZE: Final = _min_part_size()
MAX_PART_SIZE: Final = 5 * GIB
MAX_PARTS: Final = 10_000
MAX_OBJECT_SIZE: Final = 5 * TIB

MAX_ALIAS_LENGTH: Final = 255


def ceil_div(value: int, step: int) -> int:
    return -(-value // step)


def round_up(value: int, step: int) -> int:
    """``value`` rounded up to a whole multiple of ``step``."""
    return ceil_div(value, step) * step


def smallest_part_size(size: int, unit: int = 1) -> int:
    """The smallest part size, a whole multiple of ``unit`` (a cipher segment, a MiB), in
    which ``size`` bytes fit in MAX_PARTS parts: what every multipart writer of a large
    object grows its part size to (the connector, IRS's staging, IFRS's copies)."""
    return round_up(ceil_div(size, MAX_PARTS), unit)


def part_count(size: int, part_size: int) -> int:
    """Parts of a multipart object of ``size`` bytes; an empty body still has one part."""
    return max(1, ceil_div(size, part_size))


def part_sizes(size: int, part_size: int) -> list[int]:
    """The size of every part: all ``part_size`` but the last, which has the rest."""
    count = part_count(size, part_size)
    return [part_size] * (count - 1) + [size - (count - 1) * part_size]


def part_length(size: int, part_size: int, part_number: int) -> int:
    """Bytes of part ``part_number`` (1-based) of an object of ``size`` bytes."""
    count = part_count(size, part_size)
    if not 1 <= part_number <= count:
        raise ValueError(f"part {part_number} of {count}")
    return part_size if part_number < count else size - (count - 1) * part_size


_DOT_SEGMENT = re.compile(r"(^|/)\.\.?(/|$)")


def alias_problem(alias: str) -> str | None:
    """Why the archive refuses this alias, or None.

    Aliases are the submitter's names for files. They never become object keys, but they
    are shown in listings and used as file names by tools, so they must be printable.
    """
    if not 1 <= len(alias) <= MAX_ALIAS_LENGTH:
        return f"must have 1 to {MAX_ALIAS_LENGTH} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in alias):
        return "must not contain control or invisible formatting characters"
    if alias != alias.strip():
        return "must not start or end with white space"
    if alias.startswith(("/", "\\")):
        return "must not start with a slash"
    if _DOT_SEGMENT.search(alias.replace("\\", "/")):
        return "must not contain '.' or '..' path segments"
    return None
