"""What DCS puts on the wire: GHGA's DRS object JSON, the envelope text, the Accept check.

The shapes are GHGA's (docs/ghga-wire-format.md §5): the envelope is plain standard base64,
not JSON, because GHGA's client base64-decodes the raw body.
"""

from __future__ import annotations

import base64
from typing import Any

from functions.dcs.core import Served

BINARY = "application/octet-stream"


def drs_object(served: Served) -> dict[str, Any]:
    """The DRS object of a file in the outbox, its content behind a presigned S3 URL."""
    item = served.item
    return {
        "id": item.file_id,
        "self_uri": served.self_uri,
        "size": item.content_size,
        "created_time": item.created.isoformat(),
        "checksums": [{"type": "sha-256", "checksum": item.decrypted_sha256}],
        "access_methods": [{"type": "s3", "access_url": {"url": served.access_url}}],
    }


def envelope_text(envelope: bytes) -> str:
    """The Crypt4GH header as GHGA's client reads it: standard base64, nothing around it."""
    return base64.b64encode(envelope).decode("ascii")


def accepts_binary(accept: str) -> bool:
    """Whether an Accept header takes binary bodies (API Gateway and Chalice insist on it)."""
    accept = accept.lower()
    return "*/*" in accept or BINARY in [p.strip() for p in accept.replace(";", ",").split(",")]
