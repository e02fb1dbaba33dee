"""Fixtures for the registration tests: the stack's buckets, the files table, event streams."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from functions.ifrs.model import Registration
from functions.ifrs.store import (
    DynamoCopyRepository,
    DynamoFileRepository,
    FileRecord,
    OutboxCopyRecord,
)
from shared.adapters.aws import client
from shared.adapters.dynamo import bind
from shared.adapters.s3 import S3Storage
from shared.resources import bucket_name, table_name
from tests.ifrs.helpers import stage_like_irs
from tests.support import EventStream


@pytest.fixture(scope="session")
def buckets(endpoints: dict[str, Any]) -> dict[str, str]:
    prefix = endpoints["resource_prefix"]
    return {key: bucket_name(key, prefix) for key in ("staging", "permanent", "outbox")}


@pytest.fixture(scope="session")
def s3(endpoints: dict[str, Any]) -> Any:
    return client("s3", endpoints["aws_endpoint_url"])


@pytest.fixture(scope="session")
def files(endpoints: dict[str, Any]) -> DynamoFileRepository:
    bind(FileRecord, table_name("files", endpoints["resource_prefix"]))
    return DynamoFileRepository()


@pytest.fixture(scope="session")
def copies(endpoints: dict[str, Any]) -> DynamoCopyRepository:
    bind(OutboxCopyRecord, table_name("copies", endpoints["resource_prefix"]))
    return DynamoCopyRepository()


@pytest.fixture(scope="session")
def registration(files: DynamoFileRepository) -> Callable[[str], Registration | None]:
    return files.get


@pytest.fixture
def events(endpoints: dict[str, Any]) -> Iterator[EventStream]:
    stream = EventStream(endpoints, ("FileInternallyRegistered",))
    try:
        yield stream
    finally:
        stream.close()


@pytest.fixture
def staged(s3: Any, buckets: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Put an object and its part manifest into staging as IRS would; returns its
    FileInterrogationSuccess payload (and the object's bytes under ``_content``)."""

    def put(size: int = 3 * 65564 + 100, **overrides: Any) -> dict[str, Any]:
        content = uuid.uuid4().bytes * (size // 16) + b"x" * (size % 16)
        staged_id = str(uuid.uuid4())
        part_size = int(overrides.get("encrypted_part_size", 5245120))
        manifest = stage_like_irs(S3Storage(s3), buckets["staging"], staged_id, content, part_size)
        payload = {
            "file_id": str(uuid.uuid4()),
            "box_id": str(uuid.uuid4()),
            "staged_object_id": staged_id,
            "staging_bucket": buckets["staging"],
            "secret_id": str(uuid.uuid4()),
            "offset": 124,
            "encrypted_part_size": part_size,
            "parts_manifest": manifest,
            "decrypted_sha256": hashlib.sha256(b"plain").hexdigest(),
            "decrypted_size": size - 28 * (-(-size // 65564)),
            "encrypted_size": size,
            "_content": content,
        }
        payload.update(overrides)
        return payload

    return put
