"""S3 multipart arithmetic and the rules for aliases, in one place for services and client.

Standard library only: the connector imports it as it is (it installs without the services'
dependencies), so a part size or alias that passes here passes at the upload controller.
"""

from __future__ import annotations

import os
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


# Aliases are relative paths ("reads/sample_1.fastq.gz"): a tool turns them back into file
# names on Windows or POSIX, so every segment must be a name both accept as it is, one that
# cannot reach outside the directory it is put in. Windows refuses these characters in
# names; ":" also makes drive letters ("C:x") and alternate data streams ("f:s").
WINDOWS_FORBIDDEN: Final = frozenset('<>:"|?*\\')
# device names Windows opens instead of a file, with any extension ("con.txt") and in any
# case; the superscript digits count as digits there
WINDOWS_RESERVED: Final = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{device}{digit}" for device in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"]
)
# a segment's UTF-8 bytes: 255 is NAME_MAX on POSIX file systems (and less than Windows'
# 255 UTF-16 units); the rest leaves room for the suffixes a download adds while it runs
# (".c4gh.part.json")
MAX_SEGMENT_BYTES: Final = 240
_INVISIBLE: Final = ("Cc", "Cf", "Cs", "Zl", "Zp")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be one file name on Windows and POSIX alike, or None.

    It must be a single segment: no separators, not "." or "..", no device name, no
    character Windows forbids, no trailing dot or space (Windows drops them, so two names
    would meet in one file), no control or invisible characters.
    """
    if not name:
        return "must not have empty path segments"
    if any(unicodedata.category(ch) in _INVISIBLE for ch in name):
        return "must not contain control or invisible formatting characters"
    if "/" in name:
        return "must be a single name, without '/'"
    forbidden = sorted(WINDOWS_FORBIDDEN.intersection(name))
    if forbidden:
        return f"must not contain {' '.join(repr(ch) for ch in forbidden)} (Windows forbids them)"
    if name in (".", ".."):
        return "must not contain '.' or '..' path segments"
    if name != name.strip() or name.endswith("."):
        return f"must not start or end a segment with a space, nor end it with a dot ({name!r})"
    if name.split(".", 1)[0].rstrip(" ").upper() in WINDOWS_RESERVED:
        return f"must not use the device name {name!r} (reserved on Windows)"
    if len(name.encode("utf-8")) > MAX_SEGMENT_BYTES:
        return f"must not have a segment longer than {MAX_SEGMENT_BYTES} bytes in UTF-8"
    return None


def alias_problem(alias: str) -> str | None:
    """Why the archive refuses this alias, or None; the same rules in UCS and connector.

    Aliases are the submitter's names for files, relative paths with "/" between
    segments. They never become object keys, but they are shown in listings and tools
    turn them into file names, so each segment must pass ``name_problem``: then no alias
    is absolute, names a drive, climbs out with "..", or is a device on any system.
    """
    if not 1 <= len(alias) <= MAX_ALIAS_LENGTH:
        return f"must have 1 to {MAX_ALIAS_LENGTH} characters"
    if alias.startswith(("/", "\\")):
        return "must be a relative path (it starts with a slash)"
    if "\\" in alias:
        return "must separate its segments with '/', not '\\'"
    for segment in alias.split("/"):
        problem = name_problem(segment)
        if problem:
            return problem
    return None
