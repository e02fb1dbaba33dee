"""Continuation and crash recovery, driven in-process against the stack's S3, DynamoDB and EKSS.

The core runs here so that a test can stop it where a Lambda would die: a crash is a
BaseException raised inside a storage call or after a part, which no handler code catches,
exactly like a killed process (the lease stays taken). Inbox objects go to a bucket of the
test's own, which notifies nobody, so the stack's IRS never touches them. Published events
and continuation messages are recorded instead of sent, so the test decides when the next
invocation runs.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import hvac
import pytest

from functions.irs.core import Interrogator, Settings
from functions.irs.ekss_client import EkssClient
from functions.irs.keystore import FileSecrets, KeyStoreUnavailable
from functions.irs.messages import Continuation, parse
from functions.irs.model import Interrogation, Upload
from functions.irs.repository import DynamoInterrogationRepository
from shared.adapters.aws import client
from shared.adapters.s3 import S3Storage
from shared.crypt import c4gh
from shared.crypt.keys import generate_keypair
from shared.events import SCHEMAS, FileUploadReceived
from tests.irs.helpers import (
    PLAIN_PER_PART,
    declaration,
    put_multipart,
    random_bytes,
    secret_exists,
    unseal_key,
)
from tests.support import RunningStack


class Crash(BaseException):
    """A killed invocation: nothing in the handler may catch it."""


@dataclass
class RecordingPublisher:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def publish(self, event_type: str, payload: dict[str, Any], key: str) -> str:
        self.events.append((event_type, SCHEMAS[event_type].model_validate(payload).model_dump()))
        return str(uuid.uuid4())


@dataclass
class RecordingQueue:
    sent: list[str] = field(default_factory=list)

    def send(self, body: str, delay_s: int = 0) -> str:
        self.sent.append(body)
        return str(uuid.uuid4())


class FixedKeyStore:
    """Only for the byte-identity test: the same secrets for every run, as EKSS would give
    them for one file (the submitter's from its header, one new secret)."""

    def __init__(self, submitter_secret: bytes, new_secret: bytes) -> None:
        self._submitter, self._new = submitter_secret, new_secret
        self.deleted: list[str] = []

    def create_secret(self, submitter_public_key: str, file_part: bytes) -> FileSecrets:
        return FileSecrets(self._submitter, self._new, "fixed", c4gh.header_length(file_part))

    def new_secret(self, secret_id: str) -> bytes:
        return self._new

    def delete_secret(self, secret_id: str) -> None:
        self.deleted.append(secret_id)


class CrashingStorage(S3Storage):
    """The real S3 adapter that dies right after S3 took part ``part`` (the checkpoint of
    that part is never written, so the part is staged again on resume)."""

    def __init__(self, s3: Any, part: int) -> None:
        super().__init__(s3)
        self._part = part

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: Any) -> str:
        etag = super().upload_part(bucket, key, upload_id, number, data)
        if number == self._part:
            raise Crash(f"killed after uploading part {number}")
        return etag


@dataclass
class Harness:
    endpoints: dict[str, Any]
    s3: Any
    inbox: str
    staging: str
    archive_public: bytes
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    queue: RecordingQueue = field(default_factory=RecordingQueue)
    repository: DynamoInterrogationRepository = field(default_factory=DynamoInterrogationRepository)

    def irs(
        self,
        keys: Any,
        *,
        max_parts: int = 0,
        storage: S3Storage | None = None,
        clock: Callable[[], datetime] | None = None,
        after_part: Callable[[int], None] | None = None,
    ) -> Interrogator:
        return Interrogator(
            storage=storage or S3Storage(self.s3),
            keys=keys,
            publisher=self.publisher,
            repository=self.repository,
            continuations=self.queue,
            settings=Settings(
                inbox_bucket=self.inbox,
                staging_bucket=self.staging,
                max_parts_per_invocation=max_parts,
            ),
            clock=clock,
            after_part=after_part,
        )

    def upload(self, data: bytes, plain: bytes, submitter_public: bytes) -> Upload:
        key = str(uuid.uuid4())
        put_multipart(self.s3, self.inbox, key, data)
        declared = declaration(
            file_id=key,
            box_id=str(uuid.uuid4()),
            bucket=self.inbox,
            plain=plain,
            data=data,
            submitter_public=submitter_public,
        )
        return Upload.from_event(FileUploadReceived(**declared))

    def start(self, irs: Interrogator, upload: Upload, size: int) -> None:
        irs.object_created(upload.object_id, size)
        irs.upload_received(upload)

    def drain(self, irs: Interrogator) -> int:
        """Run queued continuations (as the queue would); returns how many ran."""
        runs = 0
        while self.queue.sent:
            message = parse(self.queue.sent.pop(0))
            assert isinstance(message, Continuation)
            irs.resume(message.object_key)
            runs += 1
        return runs

    def outcome(self, upload: Upload) -> tuple[str, dict[str, Any]]:
        found = [e for e in self.publisher.events if e[1]["file_id"] == upload.file_id]
        assert len(found) == 1, found
        return found[0]

    def record(self, upload: Upload) -> Interrogation:
        item = self.repository.get(upload.object_id)
        assert item is not None
        return item

    def staged(self, payload: dict[str, Any]) -> bytes:
        return self.s3.get_object(Bucket=self.staging, Key=payload["staged_object_id"])[
            "Body"
        ].read()


@pytest.fixture
def harness(
    endpoints: dict[str, Any],
    buckets: dict[str, str],
    archive_public: bytes,
    interrogations: Callable[[str], Interrogation | None],  # binds the table
) -> Iterator[Harness]:
    s3 = client("s3", endpoints["aws_endpoint_url"])
    inbox = f"{endpoints['resource_prefix']}-irs-test-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(
        Bucket=inbox, CreateBucketConfiguration={"LocationConstraint": endpoints["aws_region"]}
    )
    yield Harness(endpoints, s3, inbox, buckets["staging"], archive_public)
    for entry in s3.list_objects_v2(Bucket=inbox).get("Contents", []):
        s3.delete_object(Bucket=inbox, Key=entry["Key"])
    s3.delete_bucket(Bucket=inbox)


@pytest.fixture
def ekss(endpoints: dict[str, Any]) -> EkssClient:
    return EkssClient(endpoints["ekss_url"], endpoints["service_token"])


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)  # every lease taken now has expired


def test_one_pass_many_invocations_and_a_crash_stage_identical_bytes(
    harness: Harness,
) -> None:
    plain = random_bytes(3 * PLAIN_PER_PART + 4321, seed=11)  # four staged parts
    submitter_private, submitter_public = generate_keypair()
    session_key, new_secret = os.urandom(32), os.urandom(32)
    data = c4gh.make_header(
        session_key, submitter_private, harness.archive_public
    ) + c4gh.encrypt_body(plain, session_key)
    keys = FixedKeyStore(session_key, new_secret)

    one_pass = harness.upload(data, plain, submitter_public)
    harness.start(harness.irs(keys), one_pass, len(data))
    assert harness.queue.sent == []

    many = harness.upload(data, plain, submitter_public)
    stepwise = harness.irs(keys, max_parts=1)
    harness.start(stepwise, many, len(data))
    assert harness.drain(stepwise) == 3  # one part per invocation: 1 + 3 continuations

    crashed = harness.upload(data, plain, submitter_public)
    dying = harness.irs(keys, storage=CrashingStorage(harness.s3, part=3))
    with pytest.raises(Crash):
        harness.start(dying, crashed, len(data))
    item = harness.record(crashed)
    assert item.state == "running" and len(item.parts) == 2 and item.lease_owner is not None
    harness.irs(keys).resume(crashed.object_id)  # the lease is still taken: nothing happens
    assert len(harness.record(crashed).parts) == 2
    harness.irs(keys, clock=_later).resume(crashed.object_id)

    results = [harness.outcome(upload) for upload in (one_pass, many, crashed)]
    assert [kind for kind, _ in results] == ["FileInterrogationSuccess"] * 3
    staged = [harness.staged(payload) for _, payload in results]
    assert staged[0] == staged[1] == staged[2]
    facts = [
        {k: v for k, v in p.items() if k not in ("file_id", "box_id", "staged_object_id")}
        for _, p in results
    ]
    assert facts[0] == facts[1] == facts[2]
    assert len(facts[0]["encrypted_parts_md5"]) == 4
    assert facts[0]["decrypted_sha256"] == hashlib.sha256(plain).hexdigest()
    assert c4gh.decrypt_body(staged[0], [new_secret]) == plain
    assert keys.deleted == []


def test_killed_invocation_resumes_with_the_real_key_store(
    harness: Harness, ekss: EkssClient, vault: hvac.Client, endpoints: dict[str, Any]
) -> None:
    plain = random_bytes(3 * PLAIN_PER_PART + 99, seed=12)
    submitter_private, submitter_public = generate_keypair()
    data = c4gh.make_header(
        session := os.urandom(32), submitter_private, harness.archive_public
    ) + c4gh.encrypt_body(plain, session)
    upload = harness.upload(data, plain, submitter_public)

    def die_after_second(part: int) -> None:
        if part == 2:
            raise Crash("killed after the checkpoint of part 2")

    first = harness.irs(ekss, max_parts=1, after_part=die_after_second)
    harness.start(first, upload, len(data))  # part 1, then hands on
    with pytest.raises(Crash):
        harness.drain(first)  # the continuation stages part 2 and dies
    item = harness.record(upload)
    assert len(item.parts) == 2 and item.lease_owner is not None and item.secret_id
    assert harness.publisher.events == []

    # the redelivered message, after the lease ran out; the secrets come back from EKSS
    harness.irs(ekss, clock=_later).resume(upload.object_id)
    kind, payload = harness.outcome(upload)
    assert kind == "FileInterrogationSuccess"
    assert payload["secret_id"] == item.secret_id and secret_exists(vault, item.secret_id)
    stored_secret = ekss.new_secret(item.secret_id)  # via an envelope, as IRS itself does
    assert c4gh.decrypt_body(harness.staged(payload), [stored_secret]) == plain
    assert harness.record(upload).state == "succeeded"


def test_key_store_outage_mid_file_is_retried_not_blamed_on_the_file(
    harness: Harness,
    ekss: EkssClient,
    vault: hvac.Client,
    running_stack: RunningStack,
) -> None:
    plain = random_bytes(PLAIN_PER_PART + 5, seed=13)
    submitter_private, submitter_public = generate_keypair()
    data = c4gh.make_header(
        session := os.urandom(32), submitter_private, harness.archive_public
    ) + c4gh.encrypt_body(plain, session)
    upload = harness.upload(data, plain, submitter_public)
    irs = harness.irs(ekss, max_parts=1)
    harness.start(irs, upload, len(data))
    assert len(harness.queue.sent) == 1
    key = unseal_key(running_stack.state_dir)
    vault.sys.seal()
    try:
        with pytest.raises(KeyStoreUnavailable):
            harness.drain(irs)
        item = harness.record(upload)
        # the checkpoint stands, the lease is free for the retry, nothing was published
        assert item.state == "running" and len(item.parts) == 1 and item.lease_owner is None
        parts = harness.s3.list_parts(
            Bucket=harness.staging, Key=item.staged_object_id, UploadId=item.staging_upload_id
        )["Parts"]
        assert [p["PartNumber"] for p in parts] == [1]
        assert harness.publisher.events == []
    finally:
        vault.sys.submit_unseal_key(key)
    assert secret_exists(vault, item.secret_id)
    irs.resume(upload.object_id)  # the queue's retry
    kind, payload = harness.outcome(upload)
    assert kind == "FileInterrogationSuccess"
    assert payload["decrypted_size"] == len(plain) and len(payload["encrypted_parts_md5"]) == 2
