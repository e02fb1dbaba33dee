"""Fixtures for IRS and registration tests over the session stack."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import hvac
import pytest

from functions.irs.model import Interrogation
from functions.irs.store import DynamoInterrogationRepository, InterrogationRecord, PartRecord
from shared.adapters.aws import client
from shared.adapters.dynamo import bind
from shared.adapters.ekss import EkssClient
from shared.adapters.s3 import S3Storage
from shared.crypt.keys import decode_key, generate_keypair
from shared.resources import bucket_name, table_name
from tests.irs.helpers import Submission, declaration, encrypt_file, put_multipart
from tests.irs.inprocess import Harness, InProcessEkss
from tests.support import EventStream, aws, publish_event

OUTCOMES = ("FileInterrogationSuccess", "FileInterrogationFailure", "FileInternallyRegistered")


@pytest.fixture(scope="session")
def buckets(endpoints: dict[str, Any]) -> dict[str, str]:
    prefix = endpoints["resource_prefix"]
    return {key: bucket_name(key, prefix) for key in ("inbox", "staging", "permanent")}


@pytest.fixture(scope="session")
def s3(endpoints: dict[str, Any]) -> Any:
    return aws(endpoints, "s3")


@pytest.fixture(scope="session")
def vault(endpoints: dict[str, Any]) -> hvac.Client:
    return hvac.Client(url=endpoints["vault_addr"], token=endpoints["vault_token"])


@pytest.fixture(scope="session")
def archive_public(endpoints: dict[str, Any]) -> bytes:
    return decode_key(endpoints["archive_public_key"])


@pytest.fixture(scope="session")
def interrogations(endpoints: dict[str, Any]) -> Callable[[str], Interrogation | None]:
    """IRS's record of an inbox object, read from the stack's table (its part items too)."""
    bind(InterrogationRecord, table_name("interrogations", endpoints["resource_prefix"]))
    bind(PartRecord, table_name("interrogation_parts", endpoints["resource_prefix"]))
    return DynamoInterrogationRepository().get


@pytest.fixture
def submitter() -> tuple[bytes, bytes]:
    return generate_keypair()


@pytest.fixture
def events(endpoints: dict[str, Any]) -> Iterator[EventStream]:
    stream = EventStream(endpoints, OUTCOMES)
    try:
        yield stream
    finally:
        stream.close()


@pytest.fixture
def submit(
    endpoints: dict[str, Any],
    s3: Any,
    buckets: dict[str, str],
    archive_public: bytes,
    submitter: tuple[bytes, bytes],
) -> Callable[..., Submission]:
    """Upload a file to the inbox as the connector would and declare it as UCS would.

    ``tamper`` changes the uploaded bytes (not the declared plaintext: the part checksums
    are those of what was uploaded, as a client that damaged the file before sending it
    declares them); ``wrong_sha256`` declares another sha256 for those parts (1-based);
    ``event_first`` publishes FileUploadReceived before the object exists; ``events``
    publishes it that many times. The declared part checksums go into the inbox as UCS puts
    them there (a manifest, whose S3 notification reaches IRS too).
    """

    def run(
        plain: bytes,
        *,
        tamper: Callable[[bytes], bytes] | None = None,
        recipient: bytes | None = None,
        declared: dict[str, Any] | None = None,
        event_first: bool = False,
        times: int = 1,
        wrong_sha256: tuple[int, ...] = (),
    ) -> Submission:
        data = encrypt_file(plain, submitter[0], recipient or archive_public)
        submission = Submission.new(plain, data)
        if tamper is not None:
            submission.data = tamper(data)
        submission.declared = {
            **declaration(
                file_id=submission.file_id,
                box_id=submission.box_id,
                bucket=buckets["inbox"],
                plain=plain,
                data=submission.data,
                submitter_public=submitter[1],
                storage=S3Storage(s3),
                wrong_sha256=wrong_sha256,
            ),
            **(declared or {}),
        }

        def announce() -> None:
            for _ in range(times):
                publish_event(
                    endpoints, "FileUploadReceived", submission.declared, submission.file_id
                )

        if event_first:
            announce()
        put_multipart(s3, buckets["inbox"], submission.file_id, submission.data)
        if not event_first:
            announce()
        return submission

    return run


@pytest.fixture
def harness(
    endpoints: dict[str, Any],
    buckets: dict[str, str],
    archive_public: bytes,
    interrogations: Callable[[str], Interrogation | None],  # binds the table
) -> Iterator[Harness]:
    """An in-process IRS (tests/irs/inprocess.py) with an inbox bucket of its own."""
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
def ekss(endpoints: dict[str, Any], harness: Harness) -> InProcessEkss:
    """EKSS for the harness's IRS: its core on the stack's Vault, reading the harness's
    inbox (over HTTP EKSS reads only the stack's inbox: ekss_http)."""
    return InProcessEkss(endpoints, harness.s3, harness.inbox)


@pytest.fixture
def ekss_http(endpoints: dict[str, Any]) -> EkssClient:
    """IRS's own client of the stack's EKSS, with IRS's credential."""
    return EkssClient(endpoints["ekss_url"], endpoints["irs_ekss_token"])
