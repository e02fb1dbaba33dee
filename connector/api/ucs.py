"""The upload controller: the box's uploads, part URLs, completion and deletion.

Each call carries a work order token for exactly that operation. A 401/403 may only mean
the cached token just expired, so every call fetches a fresh token once and retries
before it reports "not authorized".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import httpx

from connector.api.common import check_status, json_body, unexpected
from connector.api.wps import WorkPackageClient
from connector.http import Http, MinInterval

SERVICE = "The upload controller (UCS)"
PAGE_SIZE = 100


@dataclass(frozen=True)
class UploadInfo:
    """One upload in the box, as the listing reports it."""

    id: str
    alias: str
    decrypted_size: int | None
    encrypted_size: int | None
    part_size: int | None
    part_count: int | None
    state: str
    state_reason: str | None


# the wire extension our UCS offers (docs/checksums.md): each part's SHA-256, signed into
# its URL and verified by S3, instead of GHGA's per-part MD5
PART_CHECKSUM_SHA256 = "sha256"


@dataclass(frozen=True)
class CreatedUpload:
    file_id: str
    alias: str
    storage_alias: str
    # PART_CHECKSUM_SHA256 if the UCS agreed to the wire extension (GHGA's never does)
    part_checksum: str | None = None


@dataclass(frozen=True)
class StoredPart:
    """A part the object store already holds; ``etag`` is lowercase hex without quotes."""

    part_number: int
    size: int
    etag: str
    checksum_sha256: str | None = None  # hex, as S3 verified it, where S3 reports it


@dataclass(frozen=True)
class Checksums:
    """What closing an upload declares (see docs/ghga-wire-format.md §4.6); no md5s on
    the wire extension's path."""

    decrypted_sha256: str
    encrypted_md5: str | None
    encrypted_parts_md5: list[str] | None
    encrypted_parts_sha256: list[str]

    def body(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _upload_info(item: Any) -> UploadInfo:
    if not isinstance(item, dict):
        raise unexpected(SERVICE, "a listing item is not an object")
    file_id = item.get("id") or item.get("file_id")
    alias = item.get("alias")
    if not isinstance(file_id, str) or not isinstance(alias, str):
        raise unexpected(SERVICE, "a listing item without id or alias")
    reason = item.get("state_reason")
    return UploadInfo(
        id=file_id,
        alias=alias,
        decrypted_size=_int_or_none(item.get("decrypted_size")),
        encrypted_size=_int_or_none(item.get("encrypted_size")),
        part_size=_int_or_none(item.get("part_size")),
        part_count=_int_or_none(item.get("part_count")),
        state=str(item.get("state") or "unknown"),
        state_reason=reason if isinstance(reason, str) else None,
    )


def normalize_etag(etag: str) -> str:
    return etag.strip().strip('"').lower()


class UploadClient:
    """Calls on one file upload box; the box comes from the work package."""

    def __init__(
        self,
        http: Http,
        ucs_url: str,
        wps: WorkPackageClient,
        part_url_interval: float = 0.02,
    ) -> None:
        self._http = http
        self._url = ucs_url.rstrip("/")
        self._wps = wps
        self._part_url_limit = MinInterval(part_url_interval)

    async def _call(
        self,
        method: str,
        path: str,
        work_type: str,
        expected: int,
        *,
        alias: str | None = None,
        file_id: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        _, box_id = await self._wps.upload_box_ids()
        url = f"{self._url}/boxes/{box_id}/uploads{path}"
        for attempt in range(2):
            token = await self._wps.upload_token(work_type, alias=alias, file_id=file_id)
            headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
            response = await self._http.request(
                method, url, service=SERVICE, headers=headers, **kwargs
            )
            if response.status_code in (401, 403) and attempt == 0:
                self._wps.forget_upload_token(work_type, alias=alias, file_id=file_id)
                continue
            break
        check_status(response, SERVICE, expected)
        return response

    async def list_uploads(self) -> list[UploadInfo]:
        """Every upload of the box, page by page."""
        items: list[UploadInfo] = []
        while True:
            response = await self._call(
                "GET", "", "view", 200, params={"skip": len(items), "limit": PAGE_SIZE}
            )
            body = json_body(response, SERVICE)
            page = body.get("items") if isinstance(body, dict) else None
            total = body.get("total_count") if isinstance(body, dict) else None
            if not isinstance(page, list) or not isinstance(total, int):
                raise unexpected(SERVICE, "the listing has no items or total_count")
            items.extend(_upload_info(item) for item in page)
            if not page or len(items) >= total:
                return items

    async def create(
        self,
        alias: str,
        decrypted_size: int,
        encrypted_size: int,
        part_size: int,
        part_checksum: str | None = None,
    ) -> CreatedUpload:
        """Start an upload; ``part_checksum`` asks for the wire extension, which the
        answer confirms (a UCS that ignores the field leaves the upload on MD5s)."""
        body: dict[str, Any] = {
            "alias": alias,
            "decrypted_size": decrypted_size,
            "encrypted_size": encrypted_size,
            "part_size": part_size,
            "overwrite": False,
        }
        if part_checksum is not None:
            body["part_checksum"] = part_checksum
        response = await self._call("POST", "", "create", 201, alias=alias, json=body)
        body = json_body(response, SERVICE)
        if not isinstance(body, dict):
            raise unexpected(SERVICE, "the created upload is not an object")
        file_id, storage_alias = body.get("file_id"), body.get("storage_alias")
        if not isinstance(file_id, str) or not isinstance(storage_alias, str):
            raise unexpected(SERVICE, "the created upload has no file_id or storage_alias")
        if body.get("alias") != alias:
            raise unexpected(SERVICE, "the created upload has another alias")
        agreed = body.get("part_checksum")
        if agreed is not None and agreed != part_checksum:
            raise unexpected(SERVICE, "the created upload has a part checksum not asked for")
        return CreatedUpload(file_id, alias, storage_alias, agreed)

    async def part_url(self, file_id: str, part_number: int, sha256: str | None = None) -> str:
        """A presigned URL to PUT one part (rate-limited: parts ask in bursts); with
        ``sha256`` (hex; the wire extension) the URL signs the part's SHA-256."""
        await self._part_url_limit.wait()
        params = {"sha256": sha256} if sha256 is not None else None
        response = await self._call(
            "GET",
            f"/{file_id}/parts/{part_number}",
            "upload",
            200,
            file_id=file_id,
            params=params,
        )
        url = json_body(response, SERVICE)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise unexpected(SERVICE, "the part URL is not a URL string")
        return url

    async def stored_parts(self, file_id: str) -> tuple[int, list[StoredPart]]:
        """(part size, the parts the object store already holds) of an open upload."""
        response = await self._call("GET", f"/{file_id}/parts", "upload", 200, file_id=file_id)
        body = json_body(response, SERVICE)
        parts = body.get("parts") if isinstance(body, dict) else None
        part_size = body.get("part_size") if isinstance(body, dict) else None
        if not isinstance(parts, list) or not isinstance(part_size, int):
            raise unexpected(SERVICE, "the part listing has no parts or part_size")
        stored = []
        for part in parts:
            try:
                checksum = part.get("checksum_sha256")
                stored.append(
                    StoredPart(
                        int(part["part_number"]),
                        int(part["size"]),
                        normalize_etag(part["etag"]),
                        str(checksum).lower() if checksum is not None else None,
                    )
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                raise unexpected(SERVICE, "a listed part lacks part_number, size or etag") from None
        return part_size, stored

    async def close(self, file_id: str, checksums: Checksums) -> None:
        await self._call(
            "PATCH", f"/{file_id}", "close", 204, file_id=file_id, json=checksums.body()
        )

    async def delete(self, file_id: str) -> None:
        await self._call("DELETE", f"/{file_id}", "delete", 204, file_id=file_id)
