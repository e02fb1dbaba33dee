"""What crosses EKSS's wire: the request body and path parts, and the answers' JSON."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Any
from urllib.parse import unquote

from pydantic import BaseModel, BeforeValidator

from functions.ekss.errors import FilePartNotBase64, FilePartTooLarge, InvalidPublicKey
from functions.ekss.model import MAX_FILE_PART, CreatedSecret
from shared.crypt.keys import KeyFormatError, decode_key

_MAX_ENCODED = 4 * -(-MAX_FILE_PART // 3) + 4  # base64 of MAX_FILE_PART, some slack


def _key(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("must be a base64 string")
    return decode_key(value)


class SecretRequest(BaseModel):
    public_key: Annotated[bytes, BeforeValidator(_key)]
    file_part: str
    # the file's id: its one secret, however often asked (absent: a new secret every call)
    file_id: uuid.UUID | None = None

    def file_id_text(self) -> str | None:
        return None if self.file_id is None else str(self.file_id)


def file_part(text: str) -> bytes:
    """The decoded start of the upload; too long a text is refused before decoding it."""
    if len(text) > _MAX_ENCODED:
        raise FilePartTooLarge()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise FilePartNotBase64() from error


def reader_key(text: str) -> bytes:
    """The reader's public key from the path (url-safe or standard base64, maybe quoted)."""
    try:
        return decode_key(unquote(text))
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
