"""The declared part checksums at close: a manifest beside the object, on the fakes.

The close writes them as one manifest (shared/manifest.py) before the state says the
object is in the inbox; FileUploadReceived names it by key and digest; nothing in the
event or the record grows with the part count; and whoever removes the inbox object
removes its manifest too. The same over the stack: test_upload_flow.py, test_cleanup.py.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest

from functions.ucs import core
from functions.ucs.model import CANCELLED, INBOX, INIT, NewUpload, Upload
from functions.ucs.store import UploadRecord, sort_key
from functions.ucs.wire import CloseUploadBody
from shared.adapters.dynamo import record_from
from shared.crypt.c4gh import encrypted_size
from shared.crypt.checksums import multipart_etag
from shared.errors import ServiceError
from shared.events import FileUploadReceived, ManifestRef, envelope
from shared.limits import (
    API_GATEWAY_MAX_BODY_BYTES,
    DYNAMODB_MAX_ITEM_BYTES,
    LAMBDA_MAX_PAYLOAD_BYTES,
    SNS_MAX_MESSAGE_BYTES,
    utf8_size,
)
from shared.manifest import manifest_key, read_manifest
from shared.multipart import MAX_PARTS, part_count
from tests.ucs.test_core_fakes import INBOX_BUCKET, Ucs, payload, refusal
from tests.ucs.test_core_fakes import ucs as ucs  # the fixture

KEY = "submitter-key"


def inbox_keys(ucs: Ucs, file_id: str) -> list[str]:
    """Every object of the inbox that belongs to the file (the object, its manifest)."""
    return sorted(k for b, k in ucs.storage.objects if b == INBOX_BUCKET and file_id in k)


def received(ucs: Ucs) -> list[FileUploadReceived]:
    return [FileUploadReceived(**p) for p in ucs.publisher.of("FileUploadReceived")]


def item_bytes(upload: Upload) -> int:
    """The upload's DynamoDB item as the store writes it, in bytes of JSON (above the
    size DynamoDB counts: names and values, without the type tags and quotes)."""
    record = record_from(
        upload,
        UploadRecord,
        sort_key=sort_key(upload.created, upload.id),
        deletion_confirmations=None,
    )
    return utf8_size(json.dumps(record.serialize()))


def test_close_writes_the_manifest_before_the_state_moves(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    checksums = ucs.put(file_id, payload())
    seen: list[list[str]] = []
    ucs.repository.before_write = lambda method: seen.append(inbox_keys(ucs, file_id))
    ucs.uploads.close(box_id, file_id, checksums, KEY)
    assert seen == [[file_id, manifest_key(file_id)]]  # both there when the state moved
    [event] = received(ucs)
    manifest = read_manifest(ucs.storage, event.parts_manifest)  # checks the digest
    upload = ucs.repository.uploads[file_id]
    assert (manifest.part_size, manifest.size) == (upload.part_size, upload.encrypted_size)
    assert (manifest.md5, manifest.sha256) == (
        checksums.encrypted_parts_md5,
        checksums.encrypted_parts_sha256,
    )
    # the record keeps digests only: no list, whatever the part count
    assert upload.parts_manifest_sha256 == event.parts_manifest.sha256
    assert upload.parts_manifest_size == event.parts_manifest.size
    assert upload.encrypted_parts_digest == checksums.parts_digest()
    assert not [name for name, value in vars(upload).items() if isinstance(value, list)]


def test_a_close_that_died_after_the_manifest_rewrites_the_same_bytes(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    checksums = ucs.put(file_id, payload())

    class Crash(Exception):
        pass

    def die(method: str) -> None:
        raise Crash  # the function dies: object completed, manifest written, state not moved

    ucs.repository.before_write = die
    with pytest.raises(Crash):
        ucs.uploads.close(box_id, file_id, checksums, KEY)
    assert ucs.state(file_id) == INIT
    first = ucs.storage.data(INBOX_BUCKET, manifest_key(file_id))
    assert first is not None
    ucs.storage.delete(INBOX_BUCKET, manifest_key(file_id))  # so that the retry must write it

    ucs.uploads.close(box_id, file_id, checksums, KEY)  # the client's retry
    assert ucs.state(file_id) == INBOX
    assert ucs.storage.data(INBOX_BUCKET, manifest_key(file_id)) == first
    [event] = received(ucs)
    assert event.parts_manifest.sha256 == hashlib.sha256(first).hexdigest()


def test_a_refused_close_writes_no_manifest(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    declared = ucs.put(file_id, payload())
    other = hashlib.md5(b"other").hexdigest()  # noqa: S324
    wrong = type(declared)(
        declared.decrypted_sha256, multipart_etag([other]), [other], declared.encrypted_parts_sha256
    )
    with pytest.raises(ServiceError) as error:
        ucs.uploads.close(box_id, file_id, wrong, KEY)
    assert refusal(error) == (400, "checksumMismatch")
    assert inbox_keys(ucs, file_id) == []


# ------------------------------------------------------------ the manifest goes with the object


def _delete(ucs: Ucs, box_id: str, file_id: str) -> None:
    ucs.uploads.delete(box_id, file_id)


def _reject(ucs: Ucs, box_id: str, file_id: str) -> None:
    ucs.outcomes.rejected(file_id, "not Crypt4GH")


def _register(ucs: Ucs, box_id: str, file_id: str) -> None:
    ucs.outcomes.accepted(file_id)
    ucs.outcomes.registered(file_id)


def _purge(ucs: Ucs, box_id: str, file_id: str) -> None:
    ucs.deletions.purge(file_id, "asked")


def _replace(ucs: Ucs, box_id: str, file_id: str) -> None:
    ucs.created(box_id, overwrite=True)


@pytest.mark.parametrize("remove", [_delete, _reject, _register, _purge, _replace])
def test_whoever_removes_the_inbox_object_removes_its_manifest(ucs: Ucs, remove: Any) -> None:
    box_id = ucs.new_box()
    file_id = ucs.in_inbox(box_id)
    assert inbox_keys(ucs, file_id) == [file_id, manifest_key(file_id)]
    remove(ucs, box_id, file_id)
    assert inbox_keys(ucs, file_id) == []


def test_a_close_lost_to_a_delete_removes_the_manifest_it_wrote(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    checksums = ucs.put(file_id, payload())
    stale = ucs.repository.get_upload(file_id)
    ucs.repository.before_write = lambda method: ucs.repository.transition(
        stale, CANCELLED, now=ucs.clock(), reason="deleted"
    )
    with pytest.raises(ServiceError) as error:
        ucs.uploads.close(box_id, file_id, checksums, KEY)
    assert refusal(error) == (409, "fileUploadStateError")
    assert inbox_keys(ucs, file_id) == []


def test_the_clean_up_removes_what_a_close_that_died_left(ucs: Ucs) -> None:
    """A close that completed the object and wrote the manifest, then died, and was never
    retried: the upload is still open, and once abandoned nothing of it is left."""
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    checksums = ucs.put(file_id, payload())

    def die(method: str) -> None:
        raise RuntimeError("killed")

    ucs.repository.before_write = die
    with pytest.raises(RuntimeError):
        ucs.uploads.close(box_id, file_id, checksums, KEY)
    assert inbox_keys(ucs, file_id) == [file_id, manifest_key(file_id)]
    ucs.clock.now += timedelta(days=8)
    assert ucs.cleaner.run(timedelta(days=7))["cancelled"] == 1
    assert ucs.state(file_id) == CANCELLED
    assert inbox_keys(ucs, file_id) == []


# ------------------------------------------------------------ 10,000 parts


def _largest_layout(part_size: int) -> int:
    """A plaintext size whose Crypt4GH file has exactly MAX_PARTS parts of ``part_size``."""
    decrypted = MAX_PARTS * part_size
    while part_count(encrypted_size(decrypted), part_size) > MAX_PARTS:
        decrypted -= 1
    return decrypted


def test_a_close_of_10000_parts_fits_every_limit(ucs: Ucs, monkeypatch: pytest.MonkeyPatch) -> None:
    """GHGA's wire body with 10,000 md5s and sha256s (about 1 MB) is taken; the manifest
    holds them; the event and the record stay as small as for one part."""
    part_size = 128  # S3's minimum part size scaled down, as on the test stack of tests/scale
    monkeypatch.setattr(core, "MIN_PART_SIZE", part_size)
    box_id = ucs.new_box()
    decrypted = _largest_layout(part_size)
    request = NewUpload("genome.cram", decrypted, encrypted_size(decrypted), part_size)
    upload = ucs.uploads.create_upload(box_id, request)
    assert upload.part_count == MAX_PARTS
    data = bytes(range(256)) * (request.encrypted_size // 256 + 1)
    parts = [data[i : i + part_size] for i in range(0, request.encrypted_size, part_size)]
    for number, part in enumerate(parts, start=1):
        ucs.storage.upload_part(INBOX_BUCKET, upload.id, upload.s3_upload_id, number, part)
    md5s = [hashlib.md5(p).hexdigest() for p in parts]  # noqa: S324
    body = json.dumps(
        {
            "decrypted_sha256": hashlib.sha256(b"plain").hexdigest(),
            "encrypted_md5": multipart_etag(md5s),
            "encrypted_parts_md5": md5s,
            "encrypted_parts_sha256": [hashlib.sha256(p).hexdigest() for p in parts],
        }
    )
    assert 1_000_000 < utf8_size(body) < min(API_GATEWAY_MAX_BODY_BYTES, LAMBDA_MAX_PAYLOAD_BYTES)

    ucs.uploads.close(box_id, upload.id, CloseUploadBody.model_validate_json(body).checksums(), KEY)

    [event] = received(ucs)
    ref = event.parts_manifest
    assert ref == ManifestRef(**ref.model_dump()) and ref.parts == MAX_PARTS
    manifest = read_manifest(ucs.storage, ref)
    assert manifest.md5 == md5s and len(manifest.sha256) == MAX_PARTS
    message = utf8_size(envelope(event).model_dump_json())
    assert message < SNS_MAX_MESSAGE_BYTES // 64  # a few hundred bytes, whatever the count
    closed = ucs.repository.uploads[upload.id]
    assert closed.state == INBOX
    assert item_bytes(closed) < DYNAMODB_MAX_ITEM_BYTES // 100

    # the same sizes as a one-part file's, give or take the digits of the numbers
    small_box = ucs.new_box()
    small = ucs.in_inbox(small_box)
    [_, small_event] = received(ucs)
    assert abs(message - utf8_size(envelope(small_event).model_dump_json())) < 32
    assert abs(item_bytes(closed) - item_bytes(ucs.repository.uploads[small])) < 32
