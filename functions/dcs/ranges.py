"""HTTP byte ranges over the assembled file (envelope + content).

A user's ``.c4gh`` file is the envelope (built for their key) followed by the content object
in the outbox. Range readers ask for bytes of that whole; each range is cut into the part
that lies in the envelope and the part that lies in the content object. Only one range per
request is served (RFC 9110 §14.2 ``bytes=a-b``, ``a-`` and ``-n``); a synchronous Lambda
answer is limited, so long ranges are refused with the maximum in the description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from functions.dcs.errors import InvalidRange, RangeNotSatisfiable, RangeTooLarge

_SPEC = re.compile(r"^\s*bytes\s*=\s*(\d{0,19})\s*-\s*(\d{0,19})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, like the header

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, total: int) -> str:
        return f"bytes {self.start}-{self.end}/{total}"


@dataclass(frozen=True)
class Pieces:
    """Where a range's bytes come from: envelope[a:b] then content bytes c..d (inclusive)."""

    envelope: tuple[int, int] | None  # slice bounds into the envelope
    content: tuple[int, int] | None  # inclusive offsets into the content object


def unsatisfiable(total: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"The range lies outside the file, which has {total} bytes "
        f"(the first byte is 0, the last {total - 1}).",
        data={"size": total},
    )


def parse_range(header: str | None, total: int) -> ByteRange | None:
    """The single range a ``Range`` header asks for, clipped to ``total``; None without one."""
    if header is None or not header.strip():
        return None
    if "," in header:
        raise InvalidRange(
            "Only one range per request is served; ask for the ranges one by one.",
            data={"range": header[:100]},
        )
    match = _SPEC.match(header)
    if match is None or not (match.group(1) or match.group(2)):
        raise InvalidRange(
            "The Range header must look like 'bytes=first-last', 'bytes=first-' or "
            "'bytes=-suffix_length' (offsets in bytes, first byte 0).",
            data={"range": header[:100]},
        )
    first, last = match.group(1), match.group(2)
    if not first:  # suffix: the last n bytes
        suffix = int(last)
        if suffix == 0:
            raise unsatisfiable(total)
        return ByteRange(max(0, total - suffix), total - 1)
    start = int(first)
    if last and int(last) < start:
        raise InvalidRange("The range ends before it starts.", data={"range": header[:100]})
    if start >= total:
        raise unsatisfiable(total)
    end = min(int(last), total - 1) if last else total - 1
    return ByteRange(start, end)


def check_size(wanted: ByteRange, limit: int, total: int) -> None:
    """Refuse a range longer than one response may carry (413, with how to ask instead)."""
    if wanted.length > limit:
        raise RangeTooLarge(
            f"At most {limit} bytes are served per request, and {wanted.length} were asked "
            f"for. Ask for ranges of at most {limit} bytes (Range: bytes=first-last), or "
            "download the content in bulk from the access_url of GET /objects/{file_id} "
            "and the envelope from GET /objects/{file_id}/envelopes.",
            data={"max_range_bytes": limit, "requested_bytes": wanted.length, "size": total},
        )


def split(wanted: ByteRange, envelope_size: int) -> Pieces:
    """Cut a range of the assembled file at the end of the envelope."""
    envelope = None
    content = None
    if wanted.start < envelope_size:
        envelope = (wanted.start, min(wanted.end + 1, envelope_size))
    if wanted.end >= envelope_size:
        content = (max(wanted.start, envelope_size) - envelope_size, wanted.end - envelope_size)
    return Pieces(envelope, content)
