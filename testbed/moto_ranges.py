"""moto's server, serving ranged GETs and part copies without reading the whole object.

moto 5 answers a ranged GET by reading the whole object and slicing it, and copies a range
into a part (UploadPartCopy) the same way: for a 656 MB object read in 10,000 ranges that
is 6.5 TB of reading, and a 10 GB download takes hours. ``fs-stack up`` runs moto through
this module on every backend (the embedded one puts S3 on it; the scaled-down stack of
tests/scale needs S3 parts below 5 MiB, which only moto allows): the same server, with
those two reads taken from the object's buffer at the range's offset. What the answers
say (status, headers, bytes) is moto's own, only cheaper to produce.

Run as ``python -m testbed.moto_ranges -H HOST -p PORT`` (moto.server's arguments).
"""

from __future__ import annotations

import inspect
import logging
import re
import sys
import threading
from typing import Any

from moto.s3 import models, responses
from moto.server import main

_local = threading.local()
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def read_range(key: Any, start: int, length: int) -> bytes:
    """``length`` bytes of the object from ``start``, read under the key's lock."""
    with key.lock:
        key._value_buffer.seek(start)
        return key._value_buffer.read(length)


class _LazyValue:
    """Stands for an object's bytes in a GET that asks for one range: its length, and
    the bytes of a slice when asked."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def __len__(self) -> int:
        return int(self.key.size)

    def __getitem__(self, part: slice) -> bytes:
        start, stop, _ = part.indices(len(self))
        return read_range(self.key, start, max(0, stop - start))


_original_value = models.FakeKey.value
_original_get_object = responses.S3Response.get_object


def _value(key: Any) -> Any:
    if getattr(_local, "lazy", False):
        return _LazyValue(key)
    return _original_value.fget(key)


def _get_object(self: Any) -> Any:
    """GetObject; for one plain range of an object, the range alone is read."""
    found = _RANGE.match(self.headers.get("range") or "")
    if found is None or self._get_int_param("partNumber"):
        return _original_get_object(self)
    _local.lazy = True
    try:
        status, headers, body = _original_get_object(self)
    finally:
        _local.lazy = False
    if status != 200 or not isinstance(body, _LazyValue):
        return status, headers, body[:] if isinstance(body, _LazyValue) else body
    length = len(body)
    begin = int(found.group(1))
    end = min(int(found.group(2)), length - 1) if found.group(2) else length - 1
    if begin >= length or begin > end:
        return 200, headers, body[:]  # moto's answer to these (an error or all of it)
    content = body[begin : end + 1]
    if begin or end < length - 1:
        for name in [h for h in headers if h.startswith("x-amz-checksum-")]:
            del headers[name]  # as moto: a range has no checksum
    headers["content-range"] = f"bytes {begin}-{end}/{length}"
    headers["content-length"] = str(len(content))
    return 206, headers, content


def _upload_part_copy(
    self: Any,
    dest_bucket_name: str,
    multipart_id: str,
    part_id: int,
    src_bucket_name: str,
    src_key_name: str,
    src_version_id: str | None,
    start_byte: int,
    end_byte: int,
) -> Any:
    """moto's upload_part_copy, reading the source range alone."""
    multipart = self.get_bucket(dest_bucket_name).multiparts[multipart_id]
    source = self.get_object(src_bucket_name, src_key_name, version_id=src_version_id)
    if start_byte is None:
        value = source.value
    else:
        value = read_range(source, start_byte, end_byte + 1 - start_byte)
    return multipart.set_part(part_id, value)


# a request line's query: a presigned URL's signature and credential ride in it
_QUERY = re.compile(r"\?[^\s\"]*")
QUERY_REMOVED = "?[query removed]"


class QueryStripper(logging.Filter):
    """Takes the query string out of werkzeug's request lines (``"GET /b/k?X-Amz-...
    HTTP/1.1" 200 -``): moto's log must not hold a usable presigned URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = _QUERY.sub(QUERY_REMOVED, message), ()
        return True


def install() -> None:
    """Patch moto's S3 (this process only); refuses a moto whose code is not the one
    these patches were written against."""
    expected = inspect.signature(_upload_part_copy)
    found = inspect.signature(models.S3Backend.upload_part_copy)
    if list(found.parameters) != list(expected.parameters):
        raise RuntimeError(f"moto's upload_part_copy changed: {found}")
    models.FakeKey.value = property(_value, _original_value.fset)
    responses.S3Response.get_object = _get_object
    models.S3Backend.upload_part_copy = _upload_part_copy
    logging.getLogger("werkzeug").addFilter(QueryStripper())


if __name__ == "__main__":
    install()
    sys.exit(main())
