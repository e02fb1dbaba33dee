"""The envelope source over EKSS's HTTP API (service token in the Authorization header).

Envelopes are not secret (only the reader's private key opens them), but the service token
is: it never reaches a log line or an error message, which name statuses only.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote

import httpx

from functions.dcs.model import KeyStoreUnavailable, SecretMissing
from shared.crypt import c4gh


class EkssEnvelopes:
    def __init__(
        self, base_url: str, token: str, timeout_s: float = 10, http: httpx.Client | None = None
    ) -> None:
        self._http = http or httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    def envelope(self, secret_id: str, reader_public_key: bytes) -> bytes:
        reader = base64.urlsafe_b64encode(reader_public_key).decode("ascii")
        path = f"/secrets/{quote(secret_id, safe='')}/envelopes/{reader}"
        try:
            response = self._http.get(path)
        except httpx.HTTPError as error:
            raise KeyStoreUnavailable(f"EKSS is not reachable ({type(error).__name__})") from error
        if response.status_code == 404:
            raise SecretMissing(secret_id)
        if response.status_code != 200:
            raise KeyStoreUnavailable(f"EKSS answered {response.status_code}")
        try:
            header = base64.b64decode(response.json()["content"], validate=True)
            complete = c4gh.header_length(header) == len(header)
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            raise KeyStoreUnavailable("EKSS answered with an unusable envelope") from error
        if not complete:
            raise KeyStoreUnavailable("EKSS answered with more than a Crypt4GH header")
        return header
