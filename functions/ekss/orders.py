"""Who may have an envelope: a reader with a download work order for that very file.

DCS passes on the work order token (WOT) the reader presented to it; EKSS checks it again
itself with WPS's public key, so that DCS's credential alone makes no envelope: the token
must be a valid download WOT whose file derives the secret id and whose Crypt4GH key is
the key the envelope is for. Every failure is the same 403 ``workOrderRefused``.
"""

from __future__ import annotations

import logging
import uuid

from functions.ekss.errors import InvalidSecretId, WorkOrderRefused
from functions.ekss.model import file_secret_id
from shared.crypt.keys import KeyFormatError, decode_key
from shared.errors import ServiceError
from shared.tokens import AUDIENCE_DOWNLOAD, TokenVerifier

log = logging.getLogger("fs.ekss")


class EnvelopeOrders:
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def check(self, token: str | None, secret_id: str, reader_public_key: bytes) -> None:
        """Pass, or WorkOrderRefused; the cause is logged (never the token), not told.
        A malformed secret id is refused as such first (422): it names no secret at all."""
        try:
            wanted = str(uuid.UUID(secret_id))
        except (ValueError, TypeError, AttributeError) as error:
            raise InvalidSecretId() from error
        try:
            claims = self._verifier.verify(token, AUDIENCE_DOWNLOAD)
        except ServiceError as error:
            log.warning("envelope refused", extra={"cause": error.exception_id})
            raise WorkOrderRefused() from error
        cause = _mismatch(claims, wanted, reader_public_key)
        if cause:
            log.warning("envelope refused", extra={"cause": cause})
            raise WorkOrderRefused()


def _mismatch(claims: dict[str, object], secret_id: str, reader_public_key: bytes) -> str:
    """What in the claims does not grant this envelope ("" if all does)."""
    if claims.get("type") != "download":
        return "type"
    try:
        derived = file_secret_id(uuid.UUID(str(claims.get("file_id"))))
    except (ValueError, TypeError, AttributeError):
        return "file_id"
    if derived != secret_id:
        return "file_id"
    try:
        key = decode_key(str(claims.get("user_public_crypt4gh_key") or ""))
    except KeyFormatError:
        return "user_public_crypt4gh_key"
    if key != reader_public_key:
        return "user_public_crypt4gh_key"
    return ""
