"""Checksums of S3 multipart objects: what an upload declares and the archive checks.

One definition for everyone who takes or checks them: UCS compares a declaration with
S3, IRS takes them of the parts it stages, and the upload client declares them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib


def part_digests(data: bytes | bytearray | memoryview) -> tuple[str, str]:
    """(md5, sha256) hex of one part.

    hashlib releases the GIL on large buffers, so in a thread of its own this runs beside
    the part's upload and other CPU work.
    """
    return hashlib.md5(data, usedforsecurity=False).hexdigest(), hashlib.sha256(data).hexdigest()


def multipart_etag(part_md5s: list[str]) -> str:
    """S3's ETag of a completed multipart object: md5 over the parts' binary md5s, "-N"."""
    joined = b"".join(bytes.fromhex(md5) for md5 in part_md5s)
    return f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(part_md5s)}"


def part_sha256(data: bytes | bytearray | memoryview) -> str:
    """sha256 hex of one part (the wire extension's part checksum, docs/checksums.md)."""
    return hashlib.sha256(data).hexdigest()


def sha256_header(hex_digest: str) -> str:
    """S3's form of a SHA-256 (``x-amz-checksum-sha256``, ChecksumSHA256): base64."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def sha256_from_header(value: str) -> str | None:
    """The hex SHA-256 of S3's base64 ChecksumSHA256 (None unless it is one)."""
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest.hex() if len(digest) == 32 else None
