"""The largest messages, items and responses of a 10,000-part file of the largest size,
against AWS's real limits (shared/limits.py). Fast: no stack.

The file is the largest S3 holds in 10,000 parts of whole cipher segments (about 5 TiB);
every field that could carry something per part carries all 10,000 parts' worth, and every
free-text field its longest value. Events are measured as published (the envelope's JSON
plus SNS's ``type`` attribute), items as DynamoDB stores them (written by each service's
own repository to moto's DynamoDB, read back raw), the answer of UCS's part listing as the
Lambda hands it to API Gateway.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.crypt.c4gh import CIPHER_SEGMENT_SIZE, SEGMENT_SIZE
from shared.events import (
    FileInternallyRegistered,
    FileInterrogationSuccess,
    FileUploadReceived,
    ManifestRef,
    envelope,
)
from shared.limits import (
    API_GATEWAY_MAX_BODY_BYTES,
    DYNAMODB_MAX_ITEM_BYTES,
    LAMBDA_MAX_PAYLOAD_BYTES,
    SNS_MAX_MESSAGE_BYTES,
    SQS_MAX_MESSAGE_BYTES,
)
from shared.manifest import PartsManifest, manifest_key, read_manifest, write_manifest
from shared.multipart import MAX_ALIAS_LENGTH, MAX_OBJECT_SIZE, MAX_PARTS, part_count
from shared.ports import PartInfo
from tests.fakes import InMemoryStorage
from tests.scale.sizes import dynamodb_item_bytes, lambda_proxy_response_bytes

PARTS = MAX_PARTS
# the largest part of whole cipher segments that keeps 10,000 parts within 5 TiB
PART_SIZE = MAX_OBJECT_SIZE // PARTS // CIPHER_SEGMENT_SIZE * CIPHER_SEGMENT_SIZE
ENCRYPTED_SIZE = PART_SIZE * PARTS  # every part full: 549,754,140 x 10,000 bytes
HEADER = 124  # a Crypt4GH header for one recipient
# the plaintext behind it: the header and whole segments, all but the header's bytes
DECRYPTED_SIZE = (ENCRYPTED_SIZE - HEADER) // CIPHER_SEGMENT_SIZE * SEGMENT_SIZE
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ALIAS = "🧬" * MAX_ALIAS_LENGTH  # the longest alias, 4 UTF-8 bytes a character
SHA256 = "f" * 64
MD5 = "e" * 32
ETAG = f"{MD5}-{PARTS}"
PUBLIC_KEY = "A" * 43 + "="  # a Crypt4GH public key, base64
PREFIX = "scale"  # of the tables on moto


def _id() -> str:
    return str(uuid.uuid4())


def published_bytes(event: Any) -> int:
    """What SNS counts for one of our publishes: the message and its ``type`` attribute
    (shared/adapters/sns.py), name, data type and value."""
    message = envelope(event).model_dump_json()
    event_type = type(event).__name__
    return len(message.encode()) + len("type") + len("String") + len(event_type)


def largest_manifest(part_size: int = PART_SIZE, size: int = ENCRYPTED_SIZE) -> PartsManifest:
    count = part_count(size, part_size)
    return PartsManifest(
        part_size=part_size,
        size=size,
        md5=[hashlib.md5(str(n).encode()).hexdigest() for n in range(count)],  # noqa: S324
        sha256=[hashlib.sha256(str(n).encode()).hexdigest() for n in range(count)],
    )


def manifest_ref(bucket: str, object_id: str) -> ManifestRef:
    data = largest_manifest().encode()
    return ManifestRef(
        bucket=bucket,
        key=manifest_key(object_id),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        parts=PARTS,
    )


def upload_received() -> FileUploadReceived:
    object_id = _id()
    return FileUploadReceived(
        file_id=_id(),
        box_id=_id(),
        object_id=object_id,
        bucket="fs-inbox-" + "x" * 40,
        decrypted_size=DECRYPTED_SIZE,
        encrypted_size=ENCRYPTED_SIZE,
        part_size=PART_SIZE,
        submitter_public_key=PUBLIC_KEY,
        decrypted_sha256=SHA256,
        alias=ALIAS,
        encrypted_md5=ETAG,
        parts_manifest=manifest_ref("fs-inbox-" + "x" * 40, object_id),
    )


def interrogation_success() -> FileInterrogationSuccess:
    staged = _id()
    return FileInterrogationSuccess(
        file_id=_id(),
        box_id=_id(),
        staged_object_id=staged,
        staging_bucket="fs-staging-" + "x" * 40,
        secret_id=_id() + _id(),
        offset=HEADER,
        encrypted_part_size=PART_SIZE,
        parts_manifest=manifest_ref("fs-staging-" + "x" * 40, staged),
        decrypted_sha256=SHA256,
        decrypted_size=DECRYPTED_SIZE,
        encrypted_size=ENCRYPTED_SIZE - HEADER,
    )


def internally_registered() -> FileInternallyRegistered:
    success = interrogation_success()
    permanent = _id()
    return FileInternallyRegistered(
        **success.model_dump(exclude={"parts_manifest"}),
        parts_manifest=manifest_ref("fs-permanent-" + "x" * 40, permanent),
        object_id=permanent,
        bucket="fs-permanent-" + "x" * 40,
    )


# ------------------------------------------------------------------ events


@pytest.mark.parametrize(
    "build",
    [upload_received, interrogation_success, internally_registered],
    ids=lambda b: b.__name__,
)
def test_the_largest_file_events_fit_sns_and_sqs(build: Any) -> None:
    event = build()
    size = published_bytes(event)
    assert size < SNS_MAX_MESSAGE_BYTES and size < SQS_MAX_MESSAGE_BYTES
    # and they do not grow with the part count: the same event of one part is as large
    one_part = event.model_copy(
        update={"parts_manifest": event.parts_manifest.model_copy(update={"parts": 1})}
    )
    assert published_bytes(event) - published_bytes(one_part) == len(str(PARTS)) - 1
    print(f"{type(event).__name__}: {size} bytes of {SNS_MAX_MESSAGE_BYTES}")


def test_no_file_event_carries_a_list() -> None:
    """Whatever is per part lives in the manifest: no field of these events is a list (or
    anything else that could grow with the part count)."""
    for schema in (FileUploadReceived, FileInterrogationSuccess, FileInternallyRegistered):
        for name, field in schema.model_fields.items():
            text = str(field.annotation)
            assert not any(kind in text for kind in ("list", "dict", "set", "tuple")), (
                schema.__name__,
                name,
            )


# ------------------------------------------------------------------ the manifest


def test_the_largest_manifest_is_written_and_read_back_whole() -> None:
    """10,000 parts' checksums: about a megabyte, more than any message or item takes,
    so an object of its own, checked by its digest on every read."""
    storage = InMemoryStorage()
    manifest = largest_manifest()
    ref = write_manifest(storage, "inbox", "object", manifest)
    assert ref.parts == PARTS and ref.size == len(manifest.encode())
    assert ref.size > SNS_MAX_MESSAGE_BYTES and ref.size > DYNAMODB_MAX_ITEM_BYTES
    assert ref.size < 2 * 1024**2
    assert read_manifest(storage, ref) == manifest
    print(f"manifest of {PARTS} parts: {ref.size} bytes")


# ------------------------------------------------------------------ DynamoDB items


@pytest.fixture(scope="module")
def tables() -> Iterator[Any]:
    """Every table of the declaration on moto's DynamoDB (in process), the services'
    models bound to them; the raw client to read the items back."""
    import boto3
    from moto import mock_aws

    from functions.ucs.store import UploadAliasRecord
    from infra.tables import RECORDS
    from shared.adapters.dynamo import bind
    from testbed.bootstrap import create_tables

    models = [*RECORDS.values(), UploadAliasRecord]
    meta = ("table_name", "region", "host")
    saved = [(model, {name: getattr(model.Meta, name, None) for name in meta}) for model in models]
    try:
        with pytest.MonkeyPatch.context() as env, mock_aws():
            for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
                env.delenv(name, raising=False)
            env.setenv("AWS_ACCESS_KEY_ID", "testing")
            env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
            env.setenv("AWS_DEFAULT_REGION", "eu-central-1")
            create_tables(PREFIX)
            bind(UploadAliasRecord, f"{PREFIX}-uploads")  # beside UploadRecord, as UCS does
            yield boto3.client("dynamodb", region_name="eu-central-1")
    finally:
        for model, values in saved:  # as the other tests of this process expect them
            for name, value in values.items():
                setattr(model.Meta, name, value)
            model._connection = None


def largest_items(dynamodb: Any) -> dict[str, int]:
    """The largest item of every table, in DynamoDB's bytes."""
    largest = {}
    for name in dynamodb.list_tables()["TableNames"]:
        items = [
            item
            for page in dynamodb.get_paginator("scan").paginate(TableName=name)
            for item in page["Items"]
        ]
        largest[name] = max((dynamodb_item_bytes(item) for item in items), default=0)
    return largest


def save_largest_upload() -> None:
    """UCS's upload of the largest file, closed with 10,000 parts' checksums, its purge
    confirmed by every holder."""
    from functions.ucs.model import INBOX, INIT, Box, Checksums, DeletionRequest, Upload
    from functions.ucs.store import DynamoUcsRepository
    from shared.resources import deletion_holders

    repository = DynamoUcsRepository()
    box = Box(
        id=_id(),
        max_size=2 * ENCRYPTED_SIZE,
        status="open",
        created=NOW,
        updated=NOW,
        description="d" * 1000,
    )
    repository.add_box(box)
    upload = Upload(
        id=_id(),
        box_id=box.id,
        alias=ALIAS,
        decrypted_size=DECRYPTED_SIZE,
        encrypted_size=ENCRYPTED_SIZE,
        part_size=PART_SIZE,
        state=INIT,
        created=NOW,
        updated=NOW,
        s3_upload_id="u" * 512,
        object_id=_id(),
        created_by=_id(),
        submitter_public_key=PUBLIC_KEY,
    )
    repository.create_upload(
        upload, box_max_size=box.max_size, max_open=10, replacing=None, claim_holder=None
    )
    checksums = Checksums(
        decrypted_sha256=SHA256,
        encrypted_md5=ETAG,
        encrypted_parts_md5=largest_manifest().md5,
        encrypted_parts_sha256=largest_manifest().sha256,
    )
    repository.transition(
        upload,
        INBOX,
        now=NOW,
        checksums=checksums,
        submitter_public_key=PUBLIC_KEY,
        deletion=DeletionRequest(requested=NOW, requested_by=_id(), reason="r" * 1000),
        parts_manifest=manifest_ref("inbox", upload.object_id),
    )
    for holder in deletion_holders():
        removed = [f"{holder} removed object {_id()} and its manifest" for _ in range(4)]
        repository.record_deletion_confirmation(upload.id, holder, removed)


def save_largest_interrogation() -> None:
    """IRS's record of the largest file, with all 10,000 parts staged, and its last part."""
    from functions.irs import model as irs
    from functions.irs.store import DynamoInterrogationRepository

    received = upload_received()
    repository = DynamoInterrogationRepository()
    item = irs.Interrogation(
        object_key=received.object_id,
        state=irs.SUCCEEDED,
        object_size=ENCRYPTED_SIZE,
        upload=irs.Upload.model_validate(received.model_dump()),
        secret_id=_id() + _id(),
        offset=HEADER,
        staged_object_id=_id(),
        staging_upload_id="u" * 512,
        staging_part_size=PART_SIZE,
        plain_size=DECRYPTED_SIZE,
        hash_state=b"h" * 1024,
        parts_hash_state=b"h" * 1024,
        reason="r" * 1000,
        outcome=interrogation_success().model_dump(),
        lease_owner=_id(),
        lease_until=NOW,
    )
    item.parts_staged = PARTS
    repository.checkpoint(item, irs.StagedPart(PARTS, MD5, SHA256))


def save_largest_registration() -> None:
    """IFRS's record of the largest file, registered, its copy checkpoint at the end."""
    from functions.ifrs.model import REGISTERED, Registration
    from functions.ifrs.store import DynamoFileRepository

    registered = internally_registered()
    item = Registration(
        file_id=registered.file_id,
        state=REGISTERED,
        object_id=registered.object_id,
        bucket=registered.bucket,
        interrogation=interrogation_success().model_dump(),
        lease_owner=_id(),
        lease_until=NOW,
        registered=NOW,
        staged_object_id=registered.staged_object_id,
    )
    for name, value in {
        "copy_upload_id": "u" * 512,
        "copy_part_size": PART_SIZE,
        "copy_parts_done": PARTS,
    }.items():
        if hasattr(item, name):
            setattr(item, name, value)
    DynamoFileRepository().save(item)


def save_largest_outbox_copy() -> None:
    """IFRS's checkpoint of an outbox copy of the largest file, at its last part."""
    from functions.ifrs.model import OutboxCopy
    from functions.ifrs.store import DynamoCopyRepository

    DynamoCopyRepository().save(
        OutboxCopy(
            target_object_id=_id(),
            file_id=_id(),
            lease_owner=_id(),
            lease_until=NOW,
            copy_upload_id="u" * 512,
            copy_part_size=PART_SIZE,
            copy_parts_done=PARTS,
        )
    )


@pytest.mark.parametrize(
    ("table", "save"),
    [
        ("uploads", save_largest_upload),
        ("interrogations", save_largest_interrogation),
        ("files", save_largest_registration),
        ("copies", save_largest_outbox_copy),
    ],
)
def test_the_largest_items_fit_dynamodb(tables: Any, table: str, save: Any) -> None:
    save()
    largest = largest_items(tables)
    assert largest[f"{PREFIX}-{table}"] > 0, largest
    for name, size in largest.items():
        # a quarter of the limit: far from it, not just below
        assert size < DYNAMODB_MAX_ITEM_BYTES // 4, (name, size)
    print(f"largest items after the {table} save: {largest}")


def test_item_sizes_are_counted_as_dynamodb_counts_them() -> None:
    assert dynamodb_item_bytes({"id": {"S": "abc"}}) == 2 + 3
    assert dynamodb_item_bytes({"n": {"N": "12345"}}) == 1 + 4  # 3 digit pairs + 1
    assert dynamodb_item_bytes({"b": {"B": b"\0" * 48}}) == 1 + 48
    assert dynamodb_item_bytes({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1
    assert dynamodb_item_bytes({"é": {"BOOL": True}}) == 2 + 1


# ------------------------------------------------------------------ HTTP


def test_the_parts_listing_of_10000_parts_fits_a_lambda_response() -> None:
    """UCS's GET of an open upload's parts (a resume), 10,000 of the largest."""
    from functions.ucs.model import INIT, Upload
    from functions.ucs.wire import stored_parts_json

    upload = Upload(
        id=_id(),
        box_id=_id(),
        alias=ALIAS,
        decrypted_size=DECRYPTED_SIZE,
        encrypted_size=ENCRYPTED_SIZE,
        part_size=PART_SIZE,
        state=INIT,
        created=NOW,
        updated=NOW,
        s3_upload_id="u" * 512,
        object_id=_id(),
    )
    parts = [PartInfo(n, PART_SIZE, MD5, NOW) for n in range(1, PARTS + 1)]
    body = stored_parts_json(upload, parts)
    assert len(body["parts"]) == PARTS
    size = lambda_proxy_response_bytes(body)
    assert size < LAMBDA_MAX_PAYLOAD_BYTES // 2, size
    print(f"parts listing of {PARTS} parts: {size} bytes of {LAMBDA_MAX_PAYLOAD_BYTES}")


def test_the_close_of_10000_parts_fits_api_gateway_and_lambda() -> None:
    """GHGA's close body (unchanged: both part lists) for 10,000 parts, as API Gateway
    takes it and hands it to the Lambda."""
    from functions.ucs.wire import CloseUploadBody

    manifest = largest_manifest()
    body = CloseUploadBody(
        decrypted_sha256=SHA256,
        encrypted_md5=ETAG,
        encrypted_parts_md5=manifest.md5,
        encrypted_parts_sha256=manifest.sha256,
    ).model_dump_json()
    assert len(body.encode()) < API_GATEWAY_MAX_BODY_BYTES // 4
    # the proxy event: the body as a JSON string among headers and the request context
    event_bytes = lambda_proxy_response_bytes(body) + 4096
    assert event_bytes < LAMBDA_MAX_PAYLOAD_BYTES // 4, event_bytes
    print(f"close body of {PARTS} parts: {len(body)} bytes")
