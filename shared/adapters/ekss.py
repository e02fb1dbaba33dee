"""The key store port over EKSS's HTTP API (the caller's own token: IRS's for secrets,
DCS's for envelopes; EKSS refuses one on the other's route).

Unsigned (the embedded stack), the token is an ``Authorization: Bearer`` header. Signed
(``sign``: on AWS, where EKSS's API takes AWS_IAM authorization only), each request is
SigV4-signed for ``execute-api`` with the function's role credentials (botocore's default
chain) and region, ``Authorization`` carries the signature and the token moves to
``X-Service-Token`` (signed as well).

The one client every service uses. Answers that carry secrets are never logged, and error
messages name statuses and exception ids only, never the token.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from typing import Any
from urllib.parse import quote

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shared.crypt import c4gh
from shared.ports import (
    FileSecrets,
    KeyStoreRejected,
    KeyStoreUnavailable,
    SecretNotFound,
)

# refused credentials or throttling: the archive's problem, not the request's
_RETRYABLE = {401, 403, 408, 429}
WORK_ORDER_HEADER = "X-Work-Order-Token"  # EKSS checks the reader's download WOT itself
# the caller's token when Authorization is the SigV4 signature
SERVICE_TOKEN_HEADER = "X-Service-Token"  # noqa: S105 (a header name)
SIGNING_SERVICE = "execute-api"
# what is signed besides what SigV4 adds (X-Amz-Date, X-Amz-Security-Token): headers a
# proxy on the way (CloudFront for an edge API) leaves alone
_SIGNED = ("host", "content-type", SERVICE_TOKEN_HEADER.lower(), WORK_ORDER_HEADER.lower())


class SigV4(httpx.Auth):
    """SigV4 signing of each request for API Gateway (``execute-api``)."""

    requires_request_body = True

    def __init__(self, region: str | None = None, credentials: Any = None) -> None:
        if credentials is None or region is None:
            import botocore.session  # the Lambda's role: botocore's default chain

            session = botocore.session.get_session()
            credentials = credentials or session.get_credentials()
            region = region or os.environ.get("AWS_REGION") or session.get_config_variable("region")
        if credentials is None or not region:
            raise KeyStoreUnavailable("no AWS credentials or region to sign EKSS requests")
        self._credentials, self._region = credentials, region

    def auth_flow(self, request: httpx.Request) -> Any:
        frozen = self._credentials
        if hasattr(frozen, "get_frozen_credentials"):  # refreshable role credentials
            frozen = frozen.get_frozen_credentials()
        signed = AWSRequest(
            method=request.method,
            url=str(request.url),
            data=request.content,
            headers={k: v for k, v in request.headers.items() if k.lower() in _SIGNED},
        )
        SigV4Auth(
            Credentials(frozen.access_key, frozen.secret_key, frozen.token),
            SIGNING_SERVICE,
            self._region,
        ).add_auth(signed)
        for name, value in signed.headers.items():
            request.headers[name] = value
        yield request


class EkssClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        timeout_s: float = 30,
        http: httpx.Client | None = None,
        *,
        sign: bool = False,
        region: str | None = None,
        credentials: Any = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``sign``: SigV4 with ``credentials`` and ``region`` (default: botocore's chain)."""
        if sign:
            headers = {SERVICE_TOKEN_HEADER: token}
            auth: httpx.Auth | None = SigV4(region, credentials)
        else:
            headers, auth = {"Authorization": f"Bearer {token}"}, None
        self._http = http or httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            auth=auth,
            timeout=timeout_s,
            transport=transport,
        )

    def create_secret(self, file_id: str, submitter_public_key: str) -> FileSecrets:
        body = {"file_id": file_id, "public_key": submitter_public_key}
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

    def envelope(self, secret_id: str, reader_public_key: bytes, work_order_token: str) -> bytes:
        reader = base64.urlsafe_b64encode(reader_public_key).decode("ascii")
        response = self._request(
            "GET",
            f"/secrets/{quote(secret_id, safe='')}/envelopes/{reader}",
            headers={WORK_ORDER_HEADER: work_order_token},
        )
        if response.status_code == 404 and _exception_id(response) == "secretNotFound":
            raise SecretNotFound(secret_id)
        if response.status_code == 403 and _exception_id(response) == "workOrderRefused":
            raise _rejected(response)  # the reader's order, not the archive, is at fault
        if response.status_code == 404:  # not registered yet: EKSS has not seen the event
            raise KeyStoreUnavailable(f"EKSS answered 404 {_exception_id(response)}".strip())
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


def _exception_id(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(response.json().get("exception_id", ""))
    return ""


def _rejected(response: httpx.Response) -> KeyStoreRejected:
    status = response.status_code
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


def _error(response: httpx.Response) -> Exception:
    status = response.status_code
    if 400 <= status < 500 and status not in _RETRYABLE:
        return _rejected(response)
    return KeyStoreUnavailable(f"EKSS answered {status} {_exception_id(response)}".strip())
