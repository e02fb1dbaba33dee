"""EKSS over HTTP (service to service only): translate requests into KeyStore calls."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import unquote

from pydantic import BaseModel, BeforeValidator

from functions.ekss.config import wiring
from functions.ekss.core import MAX_FILE_PART, FilePartTooLarge
from shared.crypt.keys import KeyFormatError, decode_key
from shared.errors import Unauthorized, Unprocessable
from shared.http import ServiceApp, empty_response, json_response
from shared.tokens import matches_hash

service = ServiceApp("ekss")
app = service.chalice

_NO_STORE = {"Cache-Control": "no-store"}
_MAX_ENCODED = 4 * -(-MAX_FILE_PART // 3) + 4  # base64 of MAX_FILE_PART, some slack


def _key(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("must be a base64 string")
    return decode_key(value)


class SecretRequest(BaseModel):
    public_key: Annotated[bytes, BeforeValidator(_key)]
    file_part: str


def _authorize() -> None:
    cfg, _ = wiring()
    if not matches_hash(service.bearer_token(), cfg.service_token_sha256):
        raise Unauthorized(
            "Only the archive's services may call the key store, with a valid service token.",
            exception_id="notAuthorized",
        )


def _file_part(text: str) -> bytes:
    if len(text) > _MAX_ENCODED:
        raise FilePartTooLarge(
            f"file_part may have at most {MAX_FILE_PART} bytes; send only the start of the "
            "file, header included.",
            data={"max_bytes": MAX_FILE_PART},
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise Unprocessable(
            "The request is invalid: file_part: not valid base64",
            exception_id="validationError",
            data={"errors": [{"field": "file_part", "problem": "not valid base64"}]},
        ) from error


def _reader_key(text: str) -> bytes:
    try:
        return decode_key(unquote(text))
    except KeyFormatError as error:
        raise Unprocessable(
            f"The public key in the path is not a Crypt4GH public key: {error}.",
            exception_id="invalidPublicKey",
        ) from error


@service.route("/secrets", methods=["POST"])
def create_secret():
    """Open an upload's header, store a new secret; both secrets go back, base64."""
    _authorize()
    request = service.body(SecretRequest)
    created = wiring()[1].create_secret(request.public_key, _file_part(request.file_part))
    return json_response(
        {
            "submitter_secret": base64.b64encode(created.submitter_secret).decode("ascii"),
            "new_secret": base64.b64encode(created.new_secret).decode("ascii"),
            "secret_id": created.secret_id,
            "offset": created.offset,
        },
        headers=_NO_STORE,
    )


@service.route("/secrets/{secret_id}/envelopes/{client_pk}", methods=["GET"])
def get_envelope(secret_id: str, client_pk: str):
    """The secret in a Crypt4GH header for the client key (url-safe or standard base64)."""
    _authorize()
    reader = _reader_key(client_pk)
    envelope = wiring()[1].envelope(unquote(secret_id), reader)
    return json_response({"content": base64.b64encode(envelope).decode("ascii")}, headers=_NO_STORE)


@service.route("/secrets/{secret_id}", methods=["DELETE"])
def delete_secret(secret_id: str):
    """Remove a secret for good; deleting an unknown id succeeds too."""
    _authorize()
    wiring()[1].delete(unquote(secret_id))
    return empty_response(204)
