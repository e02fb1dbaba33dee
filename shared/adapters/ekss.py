"""The key store port over EKSS's HTTP API (service token in the Authorization header).

The one client every service uses. Answers that carry secrets are never logged, and error
messages name statuses and exception ids only, never the token.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from typing import Any
from urllib.parse import quote

import httpx

from shared.crypt import c4gh
from shared.crypt.keys import generate_keypair
from shared.ports import (
    FileSecrets,
    KeyStoreRejected,
    KeyStoreUnavailable,
    SecretNotFound,
)

# refused credentials or throttling: the archive's problem, not the request's
_RETRYABLE = {401, 403, 408, 429}


class EkssClient:
    def __init__(
        self, base_url: str, token: str, timeout_s: float = 30, http: httpx.Client | None = None
    ) -> None:
        self._http = http or httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    def create_secret(
        self, submitter_public_key: str, file_part: bytes, file_id: str | None = None
    ) -> FileSecrets:
        body = {
            "public_key": submitter_public_key,
            "file_part": base64.b64encode(file_part).decode("ascii"),
        }
        if file_id is not None:
            body["file_id"] = file_id
        response = self._request("POST", "/secrets", json=body)
        if response.status_code != 200:
            raise _error(response)
        data = _json(response)
        try:
            return FileSecrets(
                submitter_secret=_secret(data["submitter_secret"]),
                new_secret=_secret(data["new_secret"]),
                secret_id=str(data["secret_id"]),
                offset=int(data["offset"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise KeyStoreUnavailable("EKSS answered POST /secrets with a bad body") from error

    def envelope(self, secret_id: str, reader_public_key: bytes) -> bytes:
        reader = base64.urlsafe_b64encode(reader_public_key).decode("ascii")
        response = self._request("GET", f"/secrets/{quote(secret_id, safe='')}/envelopes/{reader}")
        if response.status_code == 404:
            raise SecretNotFound(secret_id)
        if response.status_code != 200:
            raise _error(response)
        try:
            header = base64.b64decode(_json(response)["content"], validate=True)
            complete = c4gh.header_length(header) == len(header)
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            raise KeyStoreUnavailable("EKSS answered with an unusable envelope") from error
        if not complete:
            raise KeyStoreUnavailable("EKSS answered with more than a Crypt4GH header")
        return header

    def new_secret(self, secret_id: str) -> bytes:
        """The stored secret, from an envelope for a key pair that lives only in this call."""
        private, public = generate_keypair()
        header = self.envelope(secret_id, public)
        try:
            keys, _ = c4gh.parse_header(header, private)
        except c4gh.HeaderError as error:
            raise KeyStoreUnavailable("EKSS answered with an unusable envelope") from error
        if len(keys) != 1:
            raise KeyStoreUnavailable("EKSS answered with an envelope of several keys")
        return keys[0]

    def delete_secret(self, secret_id: str) -> None:
        response = self._request("DELETE", f"/secrets/{quote(secret_id, safe='')}")
        if response.status_code not in (204, 404):
            raise _error(response)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise KeyStoreUnavailable(f"EKSS is not reachable ({type(error).__name__})") from error


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as error:
        raise KeyStoreUnavailable(f"EKSS answered {response.status_code} without JSON") from error
    if not isinstance(data, dict):
        raise KeyStoreUnavailable(f"EKSS answered {response.status_code} with unexpected JSON")
    return data


def _secret(text: str) -> bytes:
    raw = base64.b64decode(text, validate=True)
    if len(raw) != c4gh.KEY_SIZE:
        raise ValueError("a secret has 32 bytes")
    return raw


def _error(response: httpx.Response) -> Exception:
    status = response.status_code
    if 400 <= status < 500 and status not in _RETRYABLE:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        return KeyStoreRejected(
            str(body.get("exception_id") or f"http{status}"),
            str(body.get("description") or f"EKSS refused the request ({status})."),
            body.get("data") if isinstance(body.get("data"), dict) else {},
        )
    exception_id = ""
    with contextlib.suppress(ValueError, AttributeError):
        exception_id = str(response.json().get("exception_id", ""))
    return KeyStoreUnavailable(f"EKSS answered {status} {exception_id}".strip())
