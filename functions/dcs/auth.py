"""Who may read a file: the holder of a download work order token (WOT) for that very file.

The token is checked for signature, expiry, issuer and audience (401 if it is missing,
forged or expired; 403 for another service), then for ``type=download`` and the file id of
the route (403 ``wrongToken``). Its ``user_public_crypt4gh_key`` is the key envelopes are
built for, so that only the token's user can open what they download.
"""

from __future__ import annotations

from functions.dcs.errors import NoReaderKey
from functions.dcs.model import Reader
from shared.crypt.keys import KeyFormatError, decode_key
from shared.tokens import AUDIENCE_DOWNLOAD, TokenVerifier, require


class DownloadAuthorizer:
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def reader(self, token: str | None, file_id: str) -> Reader:
        """The user a valid download WOT for ``file_id`` speaks for."""
        claims = self._verifier.verify(token, AUDIENCE_DOWNLOAD)
        require(claims, type="download", file_id=file_id)
        try:
            key = decode_key(str(claims.get("user_public_crypt4gh_key") or ""))
        except KeyFormatError as error:
            raise NoReaderKey(
                "The work order token names no valid Crypt4GH public key.",
                data={"claim": "user_public_crypt4gh_key"},
            ) from error
        return Reader(
            public_key=key,
            user_id=str(claims.get("user_id") or ""),
            work_package_id=str(claims.get("work_package_id") or ""),
            work_order_token=token or "",
        )
