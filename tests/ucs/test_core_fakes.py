"""The UCS core with its repository, storage and topics in memory: fast, no stack.

The same behaviours are proven over the real stack by the other tests here; these pin the
core's own decisions (states, refusals, idempotency, what is stored and published).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from functions.ucs.boxes import BoxAdmin
from functions.ucs.cleanup import AbandonedUploadCleaner
from functions.ucs.core import UploadController, UploadPolicy
from functions.ucs.deletion import DeletionCoordinator
from functions.ucs.model import (
    CANCELLED,
    FAILED,
    INBOX,
    INIT,
    INTERROGATED,
    REGISTERED,
    Checksums,
    NewUpload,
)
from functions.ucs.outcomes import OutcomeRecorder
from shared.crypt.c4gh import encrypted_size
from shared.crypt.checksums import multipart_etag
from shared.errors import ServiceError
from shared.events import ManifestRef
from shared.manifest import read_manifest
from shared.multipart import MIB, MIN_PART_SIZE, part_sizes
from tests.fakes import InMemoryStorage, RecordingPublisher
from tests.fakes.ucs import InMemoryUcsRepository

INBOX_BUCKET = "inbox"
DECRYPTED = 1000  # one part: the core's rules, not S3's, are under test here
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
MIN_LIFETIME_S, MAX_LIFETIME_S = 300, 3600  # part URLs: floor, then 1 s per MiB, capped
ANNOUNCE_GRACE = timedelta(minutes=5)  # the clean-up announces closes older than this


class Clock:
    def __init__(self) -> None:
        self.now = EPOCH

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)  # every reading later than the one before
        return self.now


@dataclass
class Ucs:
    repository: InMemoryUcsRepository
    storage: InMemoryStorage
    publisher: RecordingPublisher
    uploads: UploadController
    boxes: BoxAdmin
    outcomes: OutcomeRecorder
    cleaner: AbandonedUploadCleaner
    clock: Clock
    deletions: DeletionCoordinator

    def new_box(self, max_size: int = 10**9) -> str:
        return self.boxes.create(max_size).id

    def created(self, box_id: str, alias: str = "a.txt", overwrite: bool = False) -> str:
        request = NewUpload(alias, DECRYPTED, encrypted_size(DECRYPTED), MIN_PART_SIZE, overwrite)
        return self.uploads.create_upload(box_id, request, created_by="user-1").id

    def put(self, file_id: str, data: bytes) -> Checksums:
        """Upload ``data`` as the one part; the checksums a close declares for it."""
        upload = self.repository.uploads[file_id]
        self.storage.upload_part(INBOX_BUCKET, file_id, upload.s3_upload_id, 1, data)
        md5 = hashlib.md5(data).hexdigest()  # noqa: S324
        return Checksums(
            decrypted_sha256=hashlib.sha256(b"plain").hexdigest(),
            encrypted_md5=multipart_etag([md5]),
            encrypted_parts_md5=[md5],
            encrypted_parts_sha256=[hashlib.sha256(data).hexdigest()],
        )

    def in_inbox(self, box_id: str, alias: str = "a.txt") -> str:
        file_id = self.created(box_id, alias)
        self.uploads.close(box_id, file_id, self.put(file_id, payload()), "submitter-key")
        return file_id

    def state(self, file_id: str) -> str:
        return self.repository.uploads[file_id].state


def payload() -> bytes:
    return os.urandom(encrypted_size(DECRYPTED))


@pytest.fixture
def ucs() -> Ucs:
    repository, storage, publisher, clock = (
        InMemoryUcsRepository(),
        InMemoryStorage(),
        RecordingPublisher(),
        Clock(),
    )
    policy = UploadPolicy(
        inbox_bucket=INBOX_BUCKET,
        storage_alias="test-storage",
        max_open_uploads_per_box=2,
        retry_after_s=30,
        part_url_min_lifetime_s=MIN_LIFETIME_S,
        part_url_bytes_per_s=MIB,
        part_url_max_lifetime_s=MAX_LIFETIME_S,
    )
    uploads = UploadController(repository, storage, publisher, policy, clock)
    return Ucs(
        repository,
        storage,
        publisher,
        uploads,
        BoxAdmin(repository, 10**9, clock),
        OutcomeRecorder(repository, storage, INBOX_BUCKET, clock),
        AbandonedUploadCleaner(
            uploads, repository, storage, INBOX_BUCKET, clock, announce_grace=ANNOUNCE_GRACE
        ),
        clock,
        DeletionCoordinator(repository, uploads, publisher, clock),
    )


def refusal(error: pytest.ExceptionInfo[ServiceError]) -> tuple[int, str]:
    return error.value.status, error.value.exception_id


def test_create_opens_a_multipart_upload_and_counts_it_in_the_box(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    upload = ucs.repository.uploads[file_id]
    assert (upload.state, upload.object_id, upload.created_by) == (INIT, file_id, "user-1")
    assert [m.key for m in ucs.storage.list_multipart_uploads(INBOX_BUCKET)] == [file_id]
    box = ucs.boxes.get(box_id)
    assert (box.open_uploads, box.used_size) == (1, encrypted_size(DECRYPTED))
    assert ucs.repository.alias_holder(box_id, "a.txt") == file_id


def test_refused_create_leaves_no_multipart_upload(ucs: Ucs) -> None:
    box_id = ucs.new_box(max_size=100)  # too small for the file
    with pytest.raises(ServiceError) as full:
        ucs.created(box_id)
    assert refusal(full) == (507, "boxMaxSizeExceeded")
    wrong = NewUpload("b.txt", DECRYPTED, encrypted_size(DECRYPTED) + 1, MIN_PART_SIZE)
    with pytest.raises(ServiceError) as mismatch:
        ucs.uploads.create_upload(box_id, wrong)
    assert refusal(mismatch) == (400, "uploadSizeMismatch")
    assert ucs.storage.list_multipart_uploads(INBOX_BUCKET) == []
    assert ucs.repository.uploads == {}


def test_an_open_alias_is_refused_unless_overwritten(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    first = ucs.created(box_id)
    with pytest.raises(ServiceError) as exists:
        ucs.created(box_id)
    assert refusal(exists) == (409, "fileUploadAlreadyExists")
    assert exists.value.data == {"file_id": first, "state": INIT}
    second = ucs.created(box_id, overwrite=True)
    assert (ucs.state(first), ucs.repository.uploads[first].cancelled_from) == (CANCELLED, INIT)
    assert [m.key for m in ucs.storage.list_multipart_uploads(INBOX_BUCKET)] == [second]
    box = ucs.boxes.get(box_id)
    assert (box.open_uploads, box.counts[CANCELLED]) == (1, 1)
    assert box.used_size == encrypted_size(DECRYPTED)  # the replaced one no longer counts


def test_too_many_open_uploads_asks_to_retry_later(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    ucs.created(box_id, "a")
    ucs.created(box_id, "b")
    with pytest.raises(ServiceError) as error:
        ucs.created(box_id, "c")
    assert refusal(error) == (429, "tooManyOpenUploads")
    assert error.value.data == {"limit": 2, "retry_after_s": 30}


def test_each_part_url_signs_that_parts_exact_length(ucs: Ucs) -> None:
    """The signed lengths are the declared sizes: what the box counted is all S3 takes."""
    box_id = ucs.new_box(max_size=10**10)
    part_size = 16 * MIB
    decrypted = 2 * part_size + 1000  # three parts, the last short
    request = NewUpload("big.bin", decrypted, encrypted_size(decrypted), part_size)
    upload = ucs.uploads.create_upload(box_id, request)
    for number in (3, 1, 2, 3):  # any order; a part asked for again gets a URL again
        url = ucs.uploads.part_url(box_id, upload.id, number)
        signed = ucs.storage.presigned_parts[-1]
        assert (signed.key, signed.upload_id, signed.part_number) == (
            upload.object_id,
            upload.s3_upload_id,
            number,
        )
        assert f"contentLength={signed.content_length}" in url
        assert signed.content_md5 is None  # no client declares a part's checksum yet
    lengths = [p.content_length for p in ucs.storage.presigned_parts]
    sizes = part_sizes(request.encrypted_size, part_size)
    assert lengths == [sizes[2], sizes[0], sizes[1], sizes[2]]
    assert sizes[:2] == [part_size, part_size] and 0 < sizes[2] < part_size
    assert sum(sizes) == ucs.boxes.get(box_id).used_size == request.encrypted_size


def test_a_part_url_lives_as_long_as_its_part_needs(ucs: Ucs) -> None:
    """Floor plus one second per MiB (rounded up), never beyond the maximum."""
    box_id = ucs.new_box(max_size=10**11)
    part_size = 5 * 1024**3  # S3's largest part: the maximum applies
    decrypted = part_size + 10 * MIB  # a 5 GiB part, then one of about 10 MiB
    request = NewUpload("huge.bin", decrypted, encrypted_size(decrypted), part_size)
    upload = ucs.uploads.create_upload(box_id, request)
    ucs.uploads.part_url(box_id, upload.id, 1)
    ucs.uploads.part_url(box_id, upload.id, 2)
    small_file = ucs.created(box_id)  # one part of about 1 KB
    ucs.uploads.part_url(box_id, small_file, 1)
    first, second, small = ucs.storage.presigned_parts
    assert first.expires_s == MAX_LIFETIME_S
    last = part_sizes(request.encrypted_size, part_size)[1]
    assert second.content_length == last and 12 * MIB < last < 13 * MIB  # 10 MiB + overhead
    assert second.expires_s == MIN_LIFETIME_S + 13
    assert small.content_length < MIB and small.expires_s == MIN_LIFETIME_S + 1
    policy = ucs.uploads._policy
    assert [policy.part_url_lifetime_s(n) for n in (0, 1, MIB, MIB + 1)] == [
        MIN_LIFETIME_S,
        MIN_LIFETIME_S + 1,
        MIN_LIFETIME_S + 1,
        MIN_LIFETIME_S + 2,
    ]
    at_cap = (MAX_LIFETIME_S - MIN_LIFETIME_S) * MIB
    assert policy.part_url_lifetime_s(at_cap) == MAX_LIFETIME_S
    assert policy.part_url_lifetime_s(at_cap - MIB) == MAX_LIFETIME_S - 1
    assert policy.part_url_lifetime_s(at_cap + 1) == MAX_LIFETIME_S


def test_close_moves_to_inbox_and_publishes_once_even_when_repeated(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    checksums = ucs.put(file_id, payload())
    ucs.uploads.close(box_id, file_id, checksums, "submitter-key")
    ucs.uploads.close(box_id, file_id, checksums, "submitter-key")  # GHGA's client retries
    assert ucs.state(file_id) == INBOX
    assert ucs.repository.uploads[file_id].received_published
    [event] = ucs.publisher.of("FileUploadReceived")
    assert event["file_id"] == file_id
    assert (event["bucket"], event["alias"], event["object_id"]) == (INBOX_BUCKET, "a.txt", file_id)
    assert event["submitter_public_key"] == "submitter-key"
    assert event["encrypted_md5"] == checksums.encrypted_md5
    # the part checksums are in the manifest beside the object, which the event names
    ref = ManifestRef(**event["parts_manifest"])
    assert (ref.bucket, ref.key, ref.parts) == (INBOX_BUCKET, f"manifests/{file_id}.json", 1)
    manifest = read_manifest(ucs.storage, ref)
    assert manifest.md5 == checksums.encrypted_parts_md5
    assert manifest.sha256 == checksums.encrypted_parts_sha256
    assert ucs.boxes.get(box_id).counts[INBOX] == 1


def test_a_close_that_died_before_publishing_publishes_when_repeated(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    checksums = ucs.put(file_id, payload())
    ucs.publisher.fail = RuntimeError("SNS down")
    ucs.uploads.close(box_id, file_id, checksums, "submitter-key")  # recorded: a success
    assert ucs.state(file_id) == INBOX
    assert not ucs.repository.uploads[file_id].received_published
    ucs.publisher.fail = None
    ucs.uploads.close(box_id, file_id, checksums, "submitter-key")
    assert len(ucs.publisher.of("FileUploadReceived")) == 1
    assert ucs.repository.uploads[file_id].received_published


def test_close_with_other_checksums_is_refused_and_changes_nothing(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    declared = ucs.put(file_id, payload())
    other_md5 = hashlib.md5(b"other").hexdigest()  # noqa: S324
    wrong = Checksums(
        declared.decrypted_sha256,
        multipart_etag([other_md5]),
        [other_md5],
        declared.encrypted_parts_sha256,
    )
    with pytest.raises(ServiceError) as error:
        ucs.uploads.close(box_id, file_id, wrong, "submitter-key")
    assert refusal(error) == (400, "checksumMismatch")
    assert ucs.state(file_id) == INIT
    assert ucs.publisher.events == []


def test_a_close_that_loses_to_a_delete_removes_the_completed_object(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    checksums = ucs.put(file_id, payload())
    stale = ucs.repository.get_upload(file_id)

    def delete_meanwhile(method: str) -> None:
        assert method == "transition"
        ucs.repository.transition(stale, CANCELLED, now=ucs.clock(), reason="deleted")

    ucs.repository.before_write = delete_meanwhile
    with pytest.raises(ServiceError) as error:
        ucs.uploads.close(box_id, file_id, checksums, "submitter-key")
    assert refusal(error) == (409, "fileUploadStateError")
    assert error.value.data == {"state": CANCELLED}
    assert ucs.storage.head(INBOX_BUCKET, file_id) is None
    assert ucs.publisher.events == []


def test_delete_frees_the_inbox_and_a_repeated_delete_is_harmless(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.in_inbox(box_id)
    ucs.uploads.delete(box_id, file_id)
    ucs.uploads.delete(box_id, file_id)
    upload = ucs.repository.uploads[file_id]
    assert (upload.state, upload.cancelled_from) == (CANCELLED, INBOX)
    assert upload.state_reason == "deleted by the submitter"
    assert ucs.storage.head(INBOX_BUCKET, file_id) is None
    # a closed upload may be interrogated meanwhile: both deletes ask for its purge
    requests = ucs.publisher.of("FileDeletionRequested")
    assert requests == 2 * [
        {"file_id": file_id, "requested_by": "submitter", "reason": "deleted by the submitter"}
    ]
    box = ucs.boxes.get(box_id)
    assert (box.counts[INBOX], box.counts[CANCELLED], box.used_size) == (0, 1, 0)
    assert ucs.repository.alias_holder(box_id, "a.txt") is None  # the alias is free again


def test_a_locked_box_refuses_changes_to_its_uploads(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    checksums = ucs.put(file_id, payload())
    assert ucs.boxes.set_locked(box_id, True).locked
    for attempt in (
        lambda: ucs.created(box_id, "b"),
        lambda: ucs.uploads.close(box_id, file_id, checksums, "submitter-key"),
        lambda: ucs.uploads.delete(box_id, file_id),
        lambda: ucs.uploads.part_url(box_id, file_id, 1),
    ):
        with pytest.raises(ServiceError) as error:
            attempt()
        assert refusal(error) == (409, "boxStateError")
    assert ucs.state(file_id) == INIT


def test_a_box_is_deleted_only_when_empty_and_deleting_again_is_fine(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    with pytest.raises(ServiceError) as error:
        ucs.boxes.delete(box_id)
    assert refusal(error) == (409, "boxNotEmpty")
    assert error.value.data == {"init": 1, "inbox": 0}
    ucs.uploads.delete(box_id, file_id)
    ucs.boxes.delete(box_id)
    ucs.boxes.delete(box_id)
    with pytest.raises(ServiceError) as gone:
        ucs.boxes.get(box_id)
    assert refusal(gone) == (404, "boxNotFound")


def test_outcomes_only_move_forward_whatever_their_order(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    early, rejected = ucs.in_inbox(box_id, "a"), ucs.in_inbox(box_id, "b")
    ucs.outcomes.registered(early)  # overtook its success: passes through interrogated
    ucs.outcomes.accepted(early)  # late
    ucs.outcomes.rejected(early, "late and wrong")
    assert ucs.state(early) == REGISTERED
    assert ucs.storage.head(INBOX_BUCKET, early) is None  # the archive keeps the copy
    ucs.outcomes.rejected(rejected, "not Crypt4GH")
    ucs.outcomes.rejected(rejected, "not Crypt4GH")  # at least once: a duplicate
    ucs.outcomes.accepted(rejected)
    upload = ucs.repository.uploads[rejected]
    assert (upload.state, upload.state_reason) == (FAILED, "not Crypt4GH")
    assert ucs.repository.alias_holder(box_id, "b") is None
    box = ucs.boxes.get(box_id)
    assert (box.counts[REGISTERED], box.counts[FAILED], box.counts[INTERROGATED]) == (1, 1, 0)
    ucs.outcomes.accepted("no-such-upload")  # ignored, not an error


def test_clean_up_cancels_old_open_uploads_and_aborts_orphans(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    old = ucs.created(box_id, "old")
    ucs.storage.create_multipart(INBOX_BUCKET, "not-a-record")  # a create that died early
    ucs.clock.now += timedelta(days=8)
    fresh = ucs.created(box_id, "fresh")
    for multipart in ucs.storage.uploads.values():
        if multipart.key != fresh:
            multipart.initiated = EPOCH  # the fake stamps real time; make them old
    report = ucs.cleaner.run(timedelta(days=7))
    assert report == {
        "announced": 0,
        "cancelled": 1,
        "still_active": 0,
        "orphans_aborted": 1,
        "finished": True,
    }
    assert (ucs.state(old), ucs.state(fresh)) == (CANCELLED, INIT)
    assert [m.key for m in ucs.storage.list_multipart_uploads(INBOX_BUCKET)] == [fresh]
    assert ucs.cleaner.run(timedelta(days=7))["cancelled"] == 0  # nothing left to do
