"""The download controller (DCS): DRS objects (where a file's content is) and envelopes.

``GET /objects/{id}`` answers 200 with a DRS object (``size`` is the content size without
the envelope, ``access_methods[type=s3].access_url.url`` a presigned GET, ``checksums`` the
plaintext sha-256), or 202 + Retry-After while the archive stages the file (our DCS adds
X-Content-Size, the size being staged).
``GET /objects/{id}/envelopes`` answers the Crypt4GH header for the user's key as plain
standard base64. Each call carries a download work order token for that file.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httpx

from connector.api.common import check_status, error_details, json_body, unexpected
from connector.api.wps import WorkPackageClient
from connector.errors import ServiceError
from connector.http import Http, require_secure, retry_after_seconds
from shared.crypt.c4gh import HeaderError, header_length, plain_size_of_body

SERVICE = "The download controller (DCS)"
DEFAULT_RETRY_AFTER = 5.0  # seconds, if a 202 does not say


class FileNotFound(ServiceError):
    """The archive has no such file (404)."""


@dataclass(frozen=True)
class DrsObject:
    file_id: str
    size: int  # content bytes behind ``url`` (the envelope is not included)
    url: str = field(repr=False)  # presigned: a credential, never shown
    sha256: str | None  # of the plaintext, lowercase hex, if the archive gave one


# DCS's 202 names the content size of the file being staged (GHGA's DCS does not)
CONTENT_SIZE_HEADER = "x-content-size"


@dataclass(frozen=True)
class Staging:
    """Not in the download area yet: ask again after ``retry_after`` seconds. ``size``:
    the content size, if the archive said (the wait for staging scales with it)."""

    retry_after: float
    size: int | None = None


def _content_size(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() and len(text) <= 20 else None


def _sha256(checksums: Any) -> str | None:
    if not isinstance(checksums, list):
        return None
    for item in checksums:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type", "")).lower().replace("-", "")
        value = item.get("checksum")
        if kind == "sha256" and isinstance(value, str):
            value = value.strip().lower()
            if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
                return value
            raise unexpected(SERVICE, "the sha-256 checksum is not 64 hex digits")
    return None


def parse_drs_object(file_id: str, body: Any) -> DrsObject:
    """The fields the download needs, checked (ServiceError if something is missing)."""
    if not isinstance(body, dict):
        raise unexpected(SERVICE, "the DRS object is not a JSON object")
    if body.get("id") not in (None, file_id):
        raise unexpected(SERVICE, "the DRS object is of another file")
    size = body.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise unexpected(SERVICE, "the DRS object has no valid size")
    try:
        plain_size_of_body(size)
    except ValueError:
        raise unexpected(SERVICE, f"no Crypt4GH content has {size} bytes") from None
    url = None
    for method in body.get("access_methods") or []:
        if isinstance(method, dict) and method.get("type") == "s3":
            access = method.get("access_url")
            url = access.get("url") if isinstance(access, dict) else None
            break
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise unexpected(SERVICE, "the DRS object has no s3 access URL")
    require_secure(url, "the object storage the download service points to")
    return DrsObject(file_id, size, url, _sha256(body.get("checksums")))


class DownloadClient:
    """Calls DCS with a fresh-enough download WOT; a refused token is renewed once."""

    def __init__(self, http: Http, dcs_url: str, wps: WorkPackageClient) -> None:
        self._http = http
        self._url = f"{dcs_url.rstrip('/')}/objects"
        self._wps = wps

    async def _get(self, file_id: str, suffix: str, expected: tuple[int, ...]) -> httpx.Response:
        url = f"{self._url}/{urllib.parse.quote(file_id, safe='')}{suffix}"
        for attempt in range(2):
            token = await self._wps.download_token(file_id)
            response = await self._http.request(
                "GET",
                url,
                service=SERVICE,
                headers={"Accept": "application/json", "Authorization": f"Bearer {token}"},
            )
            if response.status_code in (401, 403) and attempt == 0:
                self._wps.forget_download_token(file_id)  # expired meanwhile: one more try
                continue
            break
        if response.status_code == 404:
            exception_id, description = error_details(response)
            raise FileNotFound(
                f"the archive has no such file ({description or 'HTTP 404'})", 404, exception_id
            )
        check_status(response, SERVICE, *expected)
        return response

    async def drs_object(self, file_id: str) -> DrsObject | Staging:
        """Where the content is now, or how long to wait while it is being staged."""
        response = await self._get(file_id, "", (200, 202))
        if response.status_code == 202:
            after = retry_after_seconds(response.headers.get("retry-after"))
            size = _content_size(response.headers.get(CONTENT_SIZE_HEADER))
            return Staging(DEFAULT_RETRY_AFTER if after is None else after, size)
        return parse_drs_object(file_id, json_body(response, SERVICE))

    async def envelope(self, file_id: str) -> bytes:
        """The file's Crypt4GH header for the user's key (raw bytes)."""
        response = await self._get(file_id, "/envelopes", (200,))
        text = response.content.strip().strip(b'"')  # plain base64; tolerate a JSON string
        try:
            envelope = base64.b64decode(text, validate=True)
            if header_length(envelope) != len(envelope):
                raise HeaderError("extra bytes after the header")
        except (binascii.Error, ValueError):
            raise unexpected(SERVICE, "the envelope is not a base64 Crypt4GH header") from None
        return envelope
