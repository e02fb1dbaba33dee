"""What crosses EKSS's wire: the request body and path parts, and the answers' JSON."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Any
from urllib.parse import unquote

from pydantic import BaseModel, BeforeValidator, ConfigDict

from functions.ekss.errors import InvalidPublicKey
from functions.ekss.model import CreatedSecret
from shared.crypt.keys import KeyFormatError, decode_public_key
from shared.tokens import bearer

WORK_ORDER_HEADER = "x-work-order-token"  # the reader's download WOT, passed on by DCS
# the caller's own token when its request is SigV4-signed (AWS: Authorization is the signature)
SERVICE_TOKEN_HEADER = "x-service-token"  # noqa: S105 (a header name)


def caller_token(headers: dict[str, str]) -> str | None:
    """The caller's token (lower-case ``headers``): ``X-Service-Token`` when present (a
    signed request, on AWS), else ``Authorization: Bearer`` (the embedded stack)."""
    if SERVICE_TOKEN_HEADER in headers:
        return headers[SERVICE_TOKEN_HEADER].strip() or None
    return bearer(headers)


def _key(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("must be a base64 string")
    return decode_public_key(value)


class SecretRequest(BaseModel):
    """The file under interrogation and its submitter's key; EKSS reads the header itself
    from the inbox, so no header (``file_part``) is accepted."""

    model_config = ConfigDict(extra="forbid")

    file_id: uuid.UUID
    public_key: Annotated[bytes, BeforeValidator(_key)]


def reader_key(text: str) -> bytes:
    """The reader's public key from the path (url-safe or standard base64, maybe quoted)."""
    try:
        return decode_public_key(unquote(text))
    except KeyFormatError as error:
        raise InvalidPublicKey(error) from error


def secret_id(text: str) -> str:
    return unquote(text)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def created_json(created: CreatedSecret) -> dict[str, Any]:
    return {
        "submitter_secret": _b64(created.submitter_secret),
        "new_secret": _b64(created.new_secret),
        "secret_id": created.secret_id,
        "offset": created.offset,
    }


def envelope_json(envelope: bytes) -> dict[str, str]:
    return {"content": _b64(envelope)}
