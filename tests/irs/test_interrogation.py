"""Interrogation over the embedded stack: from a closed upload to a file in permanent storage.

Each upload goes through the stack's real S3 notification, SNS topic, SQS queue, IRS, EKSS,
Vault and IFRS; each outcome is checked in the events published, the buckets and Vault.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest
from crypt4gh.keys import get_private_key, get_public_key

from functions.ekss.model import file_secret_id
from functions.irs.errors import part_mismatch, too_large
from functions.irs.model import Interrogation, Settings
from functions.irs.sizing import largest_body
from functions.irs.store import DynamoInterrogationRepository
from shared.adapters.s3 import S3Storage
from shared.crypt import c4gh
from shared.events import ManifestRef
from shared.manifest import manifest_key, read_manifest
from shared.resources import DECLARATION, dlq_name, queue_name
from tests.ekss.helpers import read_secret, wait_for_secret
from tests.irs.helpers import (
    PART_SIZE,
    PLAIN_PER_PART,
    Submission,
    list_secrets,
    random_bytes,
    secret_exists,
)
from tests.support import (
    EventStream,
    Operator,
    RunningStack,
    User,
    aws,
    download_wot,
    publish_event,
    queue_url,
    wait_until_drained,
)

SEG = c4gh.CIPHER_SEGMENT_SIZE
Records = Callable[[str], Interrogation | None]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _staged_object_absent(s3: Any, bucket: str, key: str) -> bool:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    return not any(entry["Key"] == key for entry in listed)


def _open_uploads(s3: Any, bucket: str, key: str) -> list[dict]:
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [upload for upload in uploads if upload["Key"] == key]


def _log_text(stack: RunningStack) -> str:
    paths = [stack.output, *sorted((stack.state_dir / "logs").glob("*"))]
    return "\n".join(p.read_text(errors="replace") for p in paths if p.is_file())


def _log_entries(stack: RunningStack) -> list[dict]:
    entries = []
    for line in stack.output.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return entries


def _assert_nothing_left(
    item: Interrogation, s3: Any, buckets: dict[str, str], vault: hvac.Client
) -> None:
    """A rejected upload leaves no staging object or upload and no secret behind (EKSS
    forgets the secret when it hears of the failure: a tombstone takes its place)."""
    assert item.state == "failed"
    assert item.hash_state is None
    if item.staged_object_id:
        assert _staged_object_absent(s3, buckets["staging"], item.staged_object_id)
        assert _open_uploads(s3, buckets["staging"], item.staged_object_id) == []
        manifest = manifest_key(item.staged_object_id)
        assert _staged_object_absent(s3, buckets["staging"], manifest)
    assert DynamoInterrogationRepository().parts(item.object_key) == []
    if item.secret_id:
        deadline = time.monotonic() + 30
        while "secret" in (read_secret(vault, item.secret_id) or {}):
            assert time.monotonic() < deadline, "EKSS kept the failed file's secret"
            time.sleep(0.2)


def _decrypt_with_crypt4gh_tool(
    tmp_path: Path, endpoints: dict[str, Any], file_id: str, secret_id: str, content: bytes
) -> tuple[bytes, bytes]:
    """Envelope for a test key from EKSS + content → `crypt4gh decrypt`; (plain, secret)."""
    bin_dir = Path(sys.executable).parent
    sk, pk = tmp_path / "reader.sec", tmp_path / "reader.pub"
    subprocess.run(
        [bin_dir / "crypt4gh-keygen", "--sk", sk, "--pk", pk, "--nocrypt", "-f"],
        check=True,
        capture_output=True,
    )
    public = get_public_key(str(pk))
    reader = User(bytes(get_private_key(str(sk), lambda: "")), public)
    # the file is registered at EKSS too (it consumes the event from its own queue), and
    # the envelope is for the key of the reader's download work order, as DCS asks for it
    wait_for_secret(endpoints, secret_id, lambda data: "registered" in (data or {}))
    package_id, wpat = Operator(endpoints).download_package(reader, [file_id])
    response = httpx.get(
        f"{endpoints['ekss_url']}/secrets/{secret_id}/envelopes/"
        + base64.urlsafe_b64encode(public).decode(),
        headers={
            "Authorization": f"Bearer {endpoints['dcs_ekss_token']}",
            "X-Work-Order-Token": download_wot(endpoints, reader, package_id, wpat, file_id),
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    envelope = base64.b64decode(response.json()["content"])
    encrypted, decrypted = tmp_path / "file.c4gh", tmp_path / "file"
    encrypted.write_bytes(envelope + content)
    with encrypted.open("rb") as source, decrypted.open("wb") as target:
        subprocess.run(
            [bin_dir / "crypt4gh", "decrypt", "--sk", sk], stdin=source, stdout=target, check=True
        )
    keys, _ = c4gh.parse_header(envelope, bytes(get_private_key(str(sk), lambda: "")))
    return decrypted.read_bytes(), keys[0]


def test_closed_upload_is_registered_and_decrypts_with_the_standard_tool(
    submit: Callable[..., Submission],
    events: EventStream,
    s3: Any,
    buckets: dict[str, str],
    vault: hvac.Client,
    interrogations: Records,
    endpoints: dict[str, Any],
    running_stack: RunningStack,
    tmp_path: Path,
) -> None:
    # five staged parts; the embedded stack hands on after two: three invocations
    plain = random_bytes(4 * PLAIN_PER_PART + 12345, seed=1)
    submission = submit(plain)
    success = events.wait_for("FileInterrogationSuccess", submission.file_id, timeout=120)
    registered = events.wait_for("FileInternallyRegistered", submission.file_id, timeout=60)

    facts = success.payload
    assert facts["file_id"] == submission.file_id and facts["box_id"] == submission.box_id
    assert facts["decrypted_sha256"] == sha256(plain)
    assert facts["decrypted_size"] == len(plain)
    assert facts["offset"] == c4gh.ENVELOPE_SIZE_ONE_RECIPIENT
    assert facts["encrypted_size"] == len(submission.data) - facts["offset"]
    assert facts["encrypted_part_size"] == PART_SIZE
    assert facts["staging_bucket"] == buckets["staging"]
    assert facts["parts_manifest"]["parts"] == 5
    assert facts["parts_manifest"]["key"] == manifest_key(facts["staged_object_id"])

    where = registered.payload
    assert where["bucket"] == buckets["permanent"]
    ref = "parts_manifest"  # the registered file's is the copy beside the permanent object
    assert {k: where[k] for k in facts if k != ref} == {k: facts[k] for k in facts if k != ref}
    assert where[ref]["sha256"] == facts[ref]["sha256"]  # a byte-identical copy
    content = s3.get_object(Bucket=where["bucket"], Key=where["object_id"])["Body"].read()
    assert len(content) == facts["encrypted_size"]
    parts = [content[i : i + PART_SIZE] for i in range(0, len(content), PART_SIZE)]
    manifest = read_manifest(S3Storage(s3), ManifestRef(**where[ref]))
    assert manifest.part_size == PART_SIZE and manifest.size == len(content)
    assert [md5(p) for p in parts] == manifest.md5
    assert [sha256(p) for p in parts] == manifest.sha256
    # re-encrypted: no cipher segment of the upload survives
    assert content[:SEG] != submission.data[124 : 124 + SEG]

    wait_until_drained(endpoints, queue_name("ifrs-events", endpoints["resource_prefix"]))
    assert _staged_object_absent(s3, buckets["staging"], facts["staged_object_id"])
    assert _open_uploads(s3, buckets["staging"], facts["staged_object_id"]) == []
    assert secret_exists(vault, facts["secret_id"])
    item = interrogations(submission.file_id)
    assert item is not None and item.state == "succeeded"
    assert item.hash_state is None and item.parts_staged == 5
    assert DynamoInterrogationRepository().parts(submission.file_id) == []  # in the manifest
    # the declared checksums, which UCS puts into the inbox, were no upload to IRS
    wait_until_drained(endpoints, queue_name("irs-inbox", endpoints["resource_prefix"]))
    assert interrogations(manifest_key(submission.file_id)) is None

    decrypted, secret = _decrypt_with_crypt4gh_tool(
        tmp_path, endpoints, facts["file_id"], facts["secret_id"], content
    )
    assert decrypted == plain

    handed_on = [
        e
        for e in _log_entries(running_stack)
        if e.get("message") == "handed on to a next invocation"
        and e.get("inbox_object_id") == submission.file_id
    ]
    assert [e["parts"] for e in handed_on] == [2, 4]
    logs = _log_text(running_stack)
    for shown in (
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode(),
        secret.hex(),
    ):
        assert shown not in logs


def test_duplicates_and_reordering_register_once(
    submit: Callable[..., Submission],
    events: EventStream,
    s3: Any,
    buckets: dict[str, str],
    endpoints: dict[str, Any],
) -> None:
    plain = random_bytes(PLAIN_PER_PART + 100, seed=2)
    # the declaration comes first, twice; S3 itself notifies (moto: twice per completion)
    submission = submit(plain, event_first=True, times=2)
    success = events.wait_for("FileInterrogationSuccess", submission.file_id, timeout=60)
    events.wait_for("FileInternallyRegistered", submission.file_id, timeout=60)

    # late duplicates of everything, after the work is done
    notification = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:CompleteMultipartUpload",
                "s3": {
                    "bucket": {"name": buckets["inbox"]},
                    "object": {"key": submission.file_id, "size": len(submission.data)},
                },
            }
        ]
    }
    prefix = endpoints["resource_prefix"]
    aws(endpoints, "sqs").send_message(
        QueueUrl=queue_url(endpoints, queue_name("irs-inbox", prefix)),
        MessageBody=json.dumps(notification),
    )
    publish_event(endpoints, "FileUploadReceived", submission.declared, submission.file_id)
    replayed = publish_event(
        endpoints, "FileInterrogationSuccess", success.payload, submission.file_id
    )
    for queue in ("irs-inbox", "ifrs-events"):
        wait_until_drained(endpoints, queue_name(queue, prefix))
    events.settle()

    published = events.events("FileInterrogationSuccess", submission.file_id)
    assert [e.event_id for e in published if e.event_id != replayed] == [success.event_id]
    assert len(events.events("FileInternallyRegistered", submission.file_id)) == 1
    assert events.events("FileInterrogationFailure", submission.file_id) == []
    sqs = aws(endpoints, "sqs")
    for queue in ("irs-inbox", "ifrs-events"):
        dead = sqs.receive_message(
            QueueUrl=queue_url(endpoints, dlq_name(queue, prefix)),
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
        ).get("Messages", [])
        assert not any(submission.file_id in m["Body"] for m in dead)
    assert _staged_object_absent(s3, buckets["staging"], success.payload["staged_object_id"])


def _rejected(
    submission: Submission,
    events: EventStream,
    interrogations: Records,
) -> tuple[str, Interrogation]:
    failure = events.wait_for("FileInterrogationFailure", submission.file_id, timeout=60)
    assert failure.payload["box_id"] == submission.box_id
    events.settle()
    assert events.events("FileInterrogationSuccess", submission.file_id) == []
    item = interrogations(submission.file_id)
    assert item is not None
    return failure.payload["reason"], item


def test_wrong_declared_checksum_is_rejected_and_cleaned_up(
    submit: Callable[..., Submission],
    events: EventStream,
    interrogations: Records,
    s3: Any,
    buckets: dict[str, str],
    vault: hvac.Client,
) -> None:
    plain = random_bytes(PLAIN_PER_PART + 10, seed=3)
    submission = submit(plain, declared={"decrypted_sha256": sha256(b"another file")})
    reason, item = _rejected(submission, events, interrogations)
    assert reason == "The declared SHA-256 checksum does not match the uploaded file's content."
    # the whole file was staged before the mismatch showed: all of it is gone again
    assert item.staged_object_id and item.secret_id and item.parts_staged == 2
    _assert_nothing_left(item, s3, buckets, vault)


def test_a_part_whose_declared_sha256_differs_is_rejected_and_cleaned_up(
    submit: Callable[..., Submission],
    events: EventStream,
    interrogations: Records,
    s3: Any,
    buckets: dict[str, str],
    vault: hvac.Client,
) -> None:
    plain = random_bytes(2 * PLAIN_PER_PART + 10, seed=13)  # three upload parts
    submission = submit(plain, wrong_sha256=(2,))
    reason, item = _rejected(submission, events, interrogations)
    assert reason == part_mismatch(2)
    # found while the bytes of part 2 were read: part 1 was staged, and is gone again
    assert item.parts_staged == 1 and item.staged_object_id
    _assert_nothing_left(item, s3, buckets, vault)


def test_one_flipped_byte_names_the_damaged_segment(
    submit: Callable[..., Submission],
    events: EventStream,
    interrogations: Records,
    s3: Any,
    buckets: dict[str, str],
    vault: hvac.Client,
) -> None:
    plain = random_bytes(2 * PLAIN_PER_PART + 999, seed=4)
    position = 124 + PART_SIZE + 3 * SEG + 100  # in segment 84 of the body (counted from 1)

    def flip(data: bytes) -> bytes:
        changed = bytearray(data)
        changed[position] ^= 0x40
        return bytes(changed)

    submission = submit(plain, tamper=flip)
    reason, item = _rejected(submission, events, interrogations)
    assert reason == "The encrypted file is damaged: segment 84 failed authentication."
    assert item.parts_staged == 1  # the first part was staged, then aborted with the upload
    _assert_nothing_left(item, s3, buckets, vault)


def test_truncated_file_is_rejected(
    submit: Callable[..., Submission],
    events: EventStream,
    interrogations: Records,
    s3: Any,
    buckets: dict[str, str],
    vault: hvac.Client,
) -> None:
    plain = random_bytes(PLAIN_PER_PART + 5000, seed=5)
    submission = submit(plain, tamper=lambda data: data[:-1000])
    reason, item = _rejected(submission, events, interrogations)
    full = len(submission.data) + 1000
    assert reason == (
        f"The encrypted file is truncated (expected {full} bytes, found {full - 1000})."
    )
    assert item.secret_id is not None  # made, then deleted again
    assert item.staging_upload_id is None
    _assert_nothing_left(item, s3, buckets, vault)


def test_a_file_too_large_to_stage_is_rejected_before_a_secret_is_made(
    submit: Callable[..., Submission],
    events: EventStream,
    interrogations: Records,
    s3: Any,
    buckets: dict[str, str],
    vault: hvac.Client,
) -> None:
    """Declared larger than MAX_PARTS staged parts of the largest size IRS's memory holds:
    refused from the declaration alone, before EKSS is asked for a secret."""
    settings = Settings("inbox", "staging", memory_mb=DECLARATION.function("irs").memory_mb)
    plain_size = largest_body(settings) // c4gh.CIPHER_SEGMENT_SIZE * c4gh.SEGMENT_SIZE + 1
    body = c4gh.encrypted_body_size(plain_size)
    secrets_before = list_secrets(vault)
    declared = {"decrypted_size": plain_size, "encrypted_size": 124 + body}
    submission = submit(b"small, but declared huge", declared=declared)
    reason, item = _rejected(submission, events, interrogations)
    assert reason == too_large(plain_size, body, largest_body(settings))
    assert item.secret_id is None and item.staged_object_id is None
    assert item.staging_part_size is None
    tombstone = file_secret_id(uuid.UUID(submission.file_id))  # EKSS's, for the failure
    assert list_secrets(vault) - secrets_before <= {tombstone}
    assert "secret" not in (read_secret(vault, tombstone) or {})
    _assert_nothing_left(item, s3, buckets, vault)


def test_file_for_another_key_is_rejected_without_a_secret(
    submit: Callable[..., Submission],
    events: EventStream,
    interrogations: Records,
    s3: Any,
    buckets: dict[str, str],
    vault: hvac.Client,
) -> None:
    secrets_before = list_secrets(vault)
    other_public = c4gh.new_session_key()  # any 32 bytes are a Curve25519 public key
    submission = submit(b"for someone else", recipient=other_public)
    reason, item = _rejected(submission, events, interrogations)
    assert reason == "The file is not encrypted for this archive's public key."
    assert item.secret_id is None and item.staging_upload_id is None
    # no secret; EKSS's tombstone for the failed file (FileInterrogationFailure) at most
    tombstone = file_secret_id(uuid.UUID(submission.file_id))
    assert list_secrets(vault) - secrets_before <= {tombstone}
    assert "secret" not in (read_secret(vault, tombstone) or {})
    _assert_nothing_left(item, s3, buckets, vault)


@pytest.mark.parametrize("size", [0, 1000])
def test_empty_and_small_files_pass(
    size: int,
    submit: Callable[..., Submission],
    events: EventStream,
    s3: Any,
    endpoints: dict[str, Any],
    tmp_path: Path,
) -> None:
    plain = random_bytes(size, seed=size)
    submission = submit(plain)
    facts = events.wait_for("FileInterrogationSuccess", submission.file_id, timeout=60).payload
    where = events.wait_for("FileInternallyRegistered", submission.file_id, timeout=60).payload
    assert facts["decrypted_size"] == size and facts["decrypted_sha256"] == sha256(plain)
    assert facts["encrypted_size"] == len(submission.data) - 124
    assert facts["parts_manifest"]["parts"] == 1
    content = s3.get_object(Bucket=where["bucket"], Key=where["object_id"])["Body"].read()
    manifest = read_manifest(S3Storage(s3), ManifestRef(**where["parts_manifest"]))
    assert manifest.md5 == [md5(content)]
    decrypted, _ = _decrypt_with_crypt4gh_tool(
        tmp_path, endpoints, facts["file_id"], facts["secret_id"], content
    )
    assert decrypted == plain
