"""Talking to UCS as GHGA's connector does, plus looks into the stack's S3 and tables."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from functions.ucs.cleanup import AbandonedUploadCleaner
from functions.ucs.core import UploadController, UploadPolicy
from functions.ucs.deletion import DeletionCoordinator
from functions.ucs.store import BoxRecord, DynamoUcsRepository, UploadAliasRecord, UploadRecord
from shared.adapters.aws import client
from shared.adapters.dynamo import bind
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.crypt.c4gh import encrypted_size
from shared.events import ManifestRef
from shared.manifest import PartsManifest, read_manifest
from shared.ports import EventPublisher, ObjectStorage
from shared.resources import bucket_name, deletion_holders, table_name, topic_arn
from tests.support import (
    EventStream,
    Operator,
    User,
    consumers_paused,
    publish_event,
    upload_wot,
)

UCS_EVENTS = ("FileUploadReceived", "FileDeletionRequested", "FileDeleted")
PART_SIZE = 5_245_120  # GHGA's smallest part size: 80 cipher segments, above 5 MiB
TWO_PARTS = 5_300_000  # plaintext bytes that make two parts of PART_SIZE (the last short)


@dataclass
class Payload:
    """Random bytes standing in for a Crypt4GH file: UCS checks sizes and checksums only."""

    decrypted_size: int
    part_size: int
    parts: list[bytes]

    @classmethod
    def random(cls, decrypted_size: int, part_size: int = PART_SIZE) -> Payload:
        size = encrypted_size(decrypted_size)
        data = os.urandom(size)
        parts = [data[i : i + part_size] for i in range(0, size, part_size)] or [b""]
        return cls(decrypted_size, part_size, parts)

    @property
    def encrypted_size(self) -> int:
        return sum(len(p) for p in self.parts)

    def create_body(self, alias: str, overwrite: bool = False) -> dict[str, Any]:
        return {
            "alias": alias,
            "decrypted_size": self.decrypted_size,
            "encrypted_size": self.encrypted_size,
            "part_size": self.part_size,
            "overwrite": overwrite,
        }

    def close_body(self, decrypted_sha256: str | None = None) -> dict[str, Any]:
        md5s = [hashlib.md5(p).hexdigest() for p in self.parts]  # noqa: S324
        joined = hashlib.md5(b"".join(bytes.fromhex(m) for m in md5s)).hexdigest()  # noqa: S324
        return {
            "decrypted_sha256": decrypted_sha256 or hashlib.sha256(b"plain").hexdigest(),
            "encrypted_md5": f"{joined}-{len(md5s)}",
            "encrypted_parts_md5": md5s,
            "encrypted_parts_sha256": [hashlib.sha256(p).hexdigest() for p in self.parts],
        }


class Submitter:
    """A user with an upload work package for one box, calling UCS like GHGA's client."""

    def __init__(self, endpoints: dict[str, Any], operator: Operator, box_id: str) -> None:
        self.endpoints = endpoints
        self.operator = operator
        self.box_id = box_id
        self.user = User.new()
        self.package_id, self.wpat = operator.upload_package(self.user, box_id)
        self.http = httpx.Client(timeout=60)
        self.base = f"{endpoints['ucs_url']}/boxes/{box_id}/uploads"

    def wot(self, work_type: str, alias: str | None = None, file_id: str | None = None) -> str:
        return upload_wot(
            self.endpoints,
            self.user,
            self.package_id,
            self.wpat,
            self.box_id,
            work_type,
            alias=alias,
            file_id=file_id,
        )

    @staticmethod
    def auth(token: str | None) -> dict[str, str]:
        # GHGA's client sends JSON content type on every call, GET and DELETE included
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    # ------------------------------------------------------------ calls

    def list(self, token: str | None = None, **params: Any) -> httpx.Response:
        token = token if token is not None else self.wot("view")
        return self.http.get(self.base, params=params, headers=self.auth(token))

    def create(
        self, alias: str, payload: Payload, overwrite: bool = False, token: str | None = None
    ) -> httpx.Response:
        token = token if token is not None else self.wot("create", alias=alias)
        body = json.dumps(payload.create_body(alias, overwrite))
        return self.http.post(self.base, content=body, headers=self.auth(token))

    def created(self, alias: str, payload: Payload, overwrite: bool = False) -> str:
        response = self.create(alias, payload, overwrite)
        assert response.status_code == 201, response.text
        return response.json()["file_id"]

    def part_url(self, file_id: str, part_no: Any, token: str | None = None) -> httpx.Response:
        token = token if token is not None else self.wot("upload", file_id=file_id)
        return self.http.get(f"{self.base}/{file_id}/parts/{part_no}", headers=self.auth(token))

    def stored_parts(self, file_id: str, token: str | None = None) -> httpx.Response:
        token = token if token is not None else self.wot("upload", file_id=file_id)
        return self.http.get(f"{self.base}/{file_id}/parts", headers=self.auth(token))

    def put_parts(self, file_id: str, payload: Payload, numbers: list[int] | None = None) -> None:
        token = self.wot("upload", file_id=file_id)
        for number in numbers or range(1, len(payload.parts) + 1):
            url = self.part_url(file_id, number, token)
            assert url.status_code == 200, url.text
            put = httpx.put(url.json(), content=payload.parts[number - 1], timeout=60)
            assert put.status_code == 200, put.text

    def close(self, file_id: str, body: dict[str, Any], token: str | None = None) -> httpx.Response:
        token = token if token is not None else self.wot("close", file_id=file_id)
        return self.http.patch(
            f"{self.base}/{file_id}", content=json.dumps(body), headers=self.auth(token)
        )

    def delete(self, file_id: str, token: str | None = None) -> httpx.Response:
        token = token if token is not None else self.wot("delete", file_id=file_id)
        return self.http.delete(f"{self.base}/{file_id}", headers=self.auth(token))

    def user_id(self) -> str:
        """The user id the work order tokens name (what a submitter's purge records)."""
        claims = self.wot("view").split(".")[1]
        return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["user_id"]

    def uploaded(self, alias: str, payload: Payload) -> str:
        """Create, upload every part and close: an upload in the inbox."""
        file_id = self.created(alias, payload)
        self.put_parts(file_id, payload)
        response = self.close(file_id, payload.close_body())
        assert response.status_code == 204, response.text
        return file_id

    # ------------------------------------------------------------ operator's view

    def status(self, file_id: str) -> dict[str, Any]:
        response = self.operator.http.get(f"{self.endpoints['ucs_url']}/uploads/{file_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def purge(self, file_id: str, reason: str | None = None) -> httpx.Response:
        """The operator's purge, as ``fs-admin delete-file`` calls it."""
        body = None if reason is None else json.dumps({"reason": reason})
        return self.operator.http.request(
            "DELETE", f"{self.endpoints['ucs_url']}/uploads/{file_id}", content=body
        )

    def box(self) -> dict[str, Any]:
        response = self.operator.http.get(f"{self.endpoints['ucs_url']}/boxes/{self.box_id}")
        assert response.status_code == 200, response.text
        return response.json()


# ------------------------------------------------------------ the stack's insides


def inbox(endpoints: dict[str, Any]) -> str:
    return bucket_name("inbox", endpoints["resource_prefix"])


def open_multipart_keys(endpoints: dict[str, Any]) -> set[str]:
    return {m.key for m in S3Storage(client("s3")).list_multipart_uploads(inbox(endpoints))}


def object_etag(endpoints: dict[str, Any], key: str) -> str | None:
    info = S3Storage(client("s3")).head(inbox(endpoints), key)
    return None if info is None else info.etag


def inbox_keys(endpoints: dict[str, Any], file_id: str) -> list[str]:
    """Every key in the inbox that belongs to the file: its object, its manifest."""
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=inbox(endpoints))
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return sorted(key for key in keys if file_id in key)


def manifest_of(event_payload: dict[str, Any]) -> PartsManifest:
    """The manifest a FileUploadReceived names, read from the stack's S3 and checked."""
    return read_manifest(S3Storage(client("s3")), ManifestRef(**event_payload["parts_manifest"]))


def bind_tables(endpoints: dict[str, Any]) -> None:
    """Point UCS's models, in this test process, at the stack's tables."""
    pfx = endpoints["resource_prefix"]
    bind(BoxRecord, table_name("boxes", pfx))
    bind(UploadRecord, table_name("uploads", pfx))
    bind(UploadAliasRecord, table_name("uploads", pfx))


def local_controller(
    endpoints: dict[str, Any],
    *,
    storage: ObjectStorage | None = None,
    repository: Any = None,
    publisher: EventPublisher | None = None,
) -> UploadController:
    """The real core on the stack's real S3, tables and topics, in this test process."""
    bind_tables(endpoints)
    pfx = endpoints["resource_prefix"]
    account = client("sts").get_caller_identity()["Account"]
    topics = {
        event: topic_arn(event, endpoints["aws_region"], account, pfx) for event in UCS_EVENTS
    }
    policy = UploadPolicy(
        inbox_bucket=inbox(endpoints),
        storage_alias=endpoints["storage_alias"],
        max_open_uploads_per_box=10,
        retry_after_s=30,
        part_url_min_lifetime_s=300,
        part_url_bytes_per_s=1024**2,
        part_url_max_lifetime_s=600,
    )
    return UploadController(
        repository or DynamoUcsRepository(),
        storage or S3Storage(client("s3")),
        publisher or SnsPublisher(topics, client("sns")),
        policy,
    )


def local_coordinator(endpoints: dict[str, Any]) -> DeletionCoordinator:
    """The purge's core on the stack's real S3, tables and topics, in this process."""
    controller = local_controller(endpoints)
    return DeletionCoordinator(
        DynamoUcsRepository(), controller, controller._publisher, lambda: datetime.now(UTC)
    )


def confirm_deletion(
    endpoints: dict[str, Any], file_id: str, service: str, removed: list[str] | None = None
) -> None:
    """Publish a holder's FileDeletionConfirmed on the stack, as that holder would."""
    payload = {
        "file_id": file_id,
        "service": service,
        "requested_by": "operator",
        "removed": removed or [],
    }
    publish_event(endpoints, "FileDeletionConfirmed", payload, file_id)


@contextmanager
def holders_paused(endpoints: dict[str, Any]) -> Iterator[None]:
    """The holders' consumers paused (the test confirms in their place); at the end their
    waiting messages are dropped and they run again."""
    with consumers_paused(endpoints, *deletion_holders(), drop=True):
        yield


def local_cleaner(
    endpoints: dict[str, Any],
    announce_grace: timedelta = timedelta(minutes=5),
    publisher: EventPublisher | None = None,
) -> AbandonedUploadCleaner:
    """The scheduled handler's core on the stack's real S3, tables and topics, in this
    process (``announce_grace``: how old an unannounced close must be to be announced)."""
    controller = local_controller(endpoints, publisher=publisher)
    repository = DynamoUcsRepository()
    return AbandonedUploadCleaner(
        controller,
        repository,
        S3Storage(client("s3")),
        inbox(endpoints),
        announce_grace=announce_grace,
    )


class EventTap(EventStream):
    """What UCS really published (UCS_EVENTS), as plain dicts."""

    def __init__(self, endpoints: dict[str, Any]) -> None:
        super().__init__(endpoints, UCS_EVENTS)

    def of(self, event_type: str, file_id: str) -> list[dict[str, Any]]:
        self.drain()  # SNS to SQS is synchronous in moto
        return [event.model_dump() for event in self.events(event_type, file_id)]
