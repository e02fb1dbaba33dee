"""Work packages: the access token the user pastes, and short-lived work order tokens.

The WPAT is ``<work package id>:<base64 SealedBox of the access token>``, sealed to the
user's public key. Work order tokens (WOTs) come sealed the same way; they are JWTs whose
signature only the services check. The connector reads just two claims without
verifying: ``user_public_crypt4gh_key`` (must be our key, as GHGA's client checks) and
``iat``/``exp`` (how long a token may be reused from the cache).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from connector.api.common import check_status, json_body, unexpected
from connector.errors import BadInput, NotAuthorized
from connector.http import Http
from connector.keys import KeyPair
from shared.crypt.sealedbox import SealedBoxError, unseal

SERVICE = "The work package service (WPS)"
DEFAULT_TOKEN_LIFETIME = 20.0  # seconds, when a WOT does not say
TOKEN_MARGIN = 5.0  # seconds before expiry at which a cached WOT is no longer used


@dataclass(frozen=True)
class AccessToken:
    package_id: str
    token: str = field(repr=False)


def parse_wpat(text: str, private_key: bytes) -> AccessToken:
    """Split and open the pasted token; raises BadInput / NotAuthorized with a hint."""
    parts = (text or "").strip().split(":")
    if len(parts) != 2 or not all(parts):
        raise BadInput(
            "The work package access token must look like <work package id>:<token>; "
            "copy it again completely."
        )
    try:
        package_id = str(uuid.UUID(parts[0]))
    except ValueError:
        raise BadInput(
            "The work package access token does not start with a work package id; "
            "copy it again completely."
        ) from None
    try:
        token = unseal(parts[1], private_key)
    except SealedBoxError:
        raise NotAuthorized(
            "The work package access token cannot be opened with your private key: it was "
            "issued for another key, or it is damaged."
        ) from None
    return AccessToken(package_id, token)


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified ({} if it is not one)."""
    pieces = token.split(".")
    if len(pieces) != 3:
        return {}
    payload = pieces[1] + "=" * (-len(pieces[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


@dataclass(frozen=True)
class WorkPackage:
    type: str
    files: dict[str, str]
    research_data_upload_box_id: str | None
    file_upload_box_id: str | None


class WorkPackageClient:
    """Reads the work package once and hands out (cached) work order tokens."""

    def __init__(
        self,
        http: Http,
        wps_url: str,
        access: AccessToken,
        keys: KeyPair,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = f"{wps_url.rstrip('/')}/work-packages/{access.package_id}"
        self._access = access
        self._keys = keys
        self._clock = clock
        self._package: WorkPackage | None = None
        self._package_lock = asyncio.Lock()
        self._tokens: dict[tuple, tuple[str, float]] = {}
        self._locks: dict[tuple, asyncio.Lock] = {}

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access.token}"}

    async def package(self) -> WorkPackage:
        """The work package, read once per run (every call needs its box ids)."""
        async with self._package_lock:
            if self._package is None:
                self._package = await self._fetch_package()
        return self._package

    async def _fetch_package(self) -> WorkPackage:
        response = await self._http.request("GET", self._url, service=SERVICE, headers=self._auth())
        _check(response)
        body = json_body(response, SERVICE)
        if not isinstance(body, dict) or body.get("type") not in ("upload", "download"):
            raise unexpected(SERVICE, "not a work package")
        files = body.get("files")
        return WorkPackage(
            type=body["type"],
            files=files if isinstance(files, dict) else {},
            research_data_upload_box_id=body.get("research_data_upload_box_id"),
            file_upload_box_id=body.get("file_upload_box_id"),
        )

    async def upload_box_ids(self) -> tuple[str, str]:
        """(research data upload box id for WPS, file upload box id for UCS)."""
        package = await self.package()
        if package.type != "upload":
            raise NotAuthorized(
                "This work package is for downloads, not uploads; use an upload token."
            )
        if not package.research_data_upload_box_id or not package.file_upload_box_id:
            raise unexpected(SERVICE, "an upload work package without its box")
        return package.research_data_upload_box_id, package.file_upload_box_id

    async def download_files(self) -> dict[str, str]:
        """{file id: file extension} of a download work package."""
        package = await self.package()
        if package.type != "download":
            raise NotAuthorized(
                "This work package is for uploads, not downloads; use a download token."
            )
        return {str(k): v if isinstance(v, str) else "" for k, v in package.files.items()}

    def forget_upload_token(
        self, work_type: str, *, alias: str | None = None, file_id: str | None = None
    ) -> None:
        """Drop a cached WOT (after a 403, so the next call fetches a fresh one)."""
        self._tokens.pop((work_type, alias, file_id), None)

    def forget_download_token(self, file_id: str) -> None:
        self._tokens.pop(("download", None, file_id), None)

    async def upload_token(
        self, work_type: str, *, alias: str | None = None, file_id: str | None = None
    ) -> str:
        """A plain WOT for one upload operation, from the cache while it is fresh."""

        async def fetch() -> str:
            rdub_id, _ = await self.upload_box_ids()
            return await self._work_order_token(
                f"{self._url}/boxes/{rdub_id}/work-order-tokens",
                {"work_type": work_type, "alias": alias, "file_id": file_id},
            )

        return await self._cached((work_type, alias, file_id), fetch)

    async def download_token(self, file_id: str) -> str:
        """A plain WOT to read one file from DCS, from the cache while it is fresh."""
        quoted = urllib.parse.quote(file_id, safe="")

        async def fetch() -> str:
            return await self._work_order_token(
                f"{self._url}/files/{quoted}/work-order-tokens", None
            )

        return await self._cached(("download", None, file_id), fetch)

    async def _cached(self, key: tuple, fetch: Callable[[], Awaitable[str]]) -> str:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # many requests ask at once: fetch one token, not one each
            cached = self._tokens.get(key)
            if cached and cached[1] > self._clock():
                return cached[0]
            token = await fetch()
            lifetime = _lifetime(token_claims(token)) - TOKEN_MARGIN
            if lifetime > 0:
                self._tokens[key] = (token, self._clock() + lifetime)
            return token

    async def _work_order_token(self, url: str, body: dict[str, Any] | None) -> str:
        response = await self._http.request(
            "POST",
            url,
            service=SERVICE,
            json=body,
            headers={**self._auth(), "Cache-Control": "min-fresh=3"},
        )
        _check(response, 201)
        sealed = json_body(response, SERVICE)
        if not isinstance(sealed, str) or not sealed:
            raise unexpected(SERVICE, "the work order token is not a JSON string")
        try:
            token = unseal(sealed, self._keys.private_key)
        except SealedBoxError:
            raise NotAuthorized(
                "The work order token cannot be opened with your private key."
            ) from None
        claimed = token_claims(token).get("user_public_crypt4gh_key")
        if claimed is not None and claimed != self._keys.public_b64:
            raise NotAuthorized(
                "The work order token was issued for another public key than yours "
                "(check --my-public-key-path)."
            )
        return token


def _check(response, *expected: int) -> None:
    if response.status_code == 404:
        raise NotAuthorized("There is no such work package; check the access token.")
    check_status(response, SERVICE, *(expected or (200,)))


def _lifetime(claims: dict[str, Any]) -> float:
    iat, exp = claims.get("iat"), claims.get("exp")
    if isinstance(iat, int | float) and isinstance(exp, int | float) and exp > iat:
        return float(exp - iat)
    return DEFAULT_TOKEN_LIFETIME
