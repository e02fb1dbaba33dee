"""The Interrogator on in-memory fakes: joining, refusals, idempotency, hand-on, leases.

No stack: storage, key store, queue and publisher are tests.fakes, the record is
tests.fakes.irs. Each file is a few staged parts of GHGA's smallest part size.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.irs.core import Interrogator
from functions.irs.errors import CHECKSUM_MISMATCH, damaged, size_mismatch
from functions.irs.model import FAILED, RUNNING, SUCCEEDED, WAITING, Settings, Upload
from functions.irs.wire import Continuation, parse
from shared.clock import utcnow
from shared.crypt import c4gh
from shared.crypt.keys import generate_keypair
from shared.events import FileUploadReceived, ManifestRef
from shared.manifest import manifest_key, read_manifest
from tests.fakes import InMemoryKeyStore, InMemoryStorage, RecordingPublisher, RecordingQueue
from tests.fakes.irs import InMemoryInterrogationRepository
from tests.irs.helpers import (
    PART_SIZE,
    PLAIN_PER_PART,
    declaration,
    encrypt_file,
    random_bytes,
)

SUCCESS, FAILURE = "FileInterrogationSuccess", "FileInterrogationFailure"
ARCHIVE = generate_keypair()
SUBMITTER = generate_keypair()


class Room:
    """One IRS on fakes, and the uploads it is shown."""

    def __init__(self, max_parts: int = 0) -> None:
        self.storage = InMemoryStorage()
        self.keys = InMemoryKeyStore(ARCHIVE[0], self.storage)
        self.publisher = RecordingPublisher()
        self.queue = RecordingQueue()
        self.repository = InMemoryInterrogationRepository()
        self.settings = Settings("inbox", "staging", max_parts_per_invocation=max_parts)

    def irs(self, clock: datetime | None = None) -> Interrogator:
        return Interrogator(
            storage=self.storage,
            keys=self.keys,
            publisher=self.publisher,
            repository=self.repository,
            continuations=self.queue,
            settings=self.settings,
            clock=(lambda: clock) if clock is not None else utcnow,
        )

    def upload(
        self,
        plain: bytes,
        *,
        tamper_at: int | None = None,
        wrong_sha256: tuple[int, ...] = (),
        part_size: int = PART_SIZE,
        **declared: object,
    ) -> tuple[Upload, int]:
        data = encrypt_file(plain, SUBMITTER[0], ARCHIVE[1])
        if tamper_at is not None:
            data = data[:tamper_at] + bytes([data[tamper_at] ^ 1]) + data[tamper_at + 1 :]
        key = str(uuid.uuid4())
        self.storage.put("inbox", key, data)
        payload = declaration(
            file_id=key,
            box_id=str(uuid.uuid4()),
            bucket="inbox",
            plain=plain,
            data=data,
            submitter_public=SUBMITTER[1],
            storage=self.storage,
            wrong_sha256=wrong_sha256,
            part_size=part_size,
        )
        return Upload.from_event(FileUploadReceived(**{**payload, **declared})), len(data)

    def drain(self, irs: Interrogator) -> int:
        runs = 0
        while self.queue.sent:
            message = parse(self.queue.sent.pop(0))
            assert isinstance(message, Continuation)
            irs.resume(message.object_key)
            runs += 1
        return runs


def _plain(parts: float = 2.5) -> bytes:
    return random_bytes(int(parts * PLAIN_PER_PART), seed=7)


def test_a_good_upload_is_staged_and_reported_once_both_halves_were_seen() -> None:
    room, plain = Room(), _plain()
    upload, size = room.upload(plain)
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    assert room.repository.get(upload.object_id).state == WAITING  # type: ignore[union-attr]
    assert room.publisher.events == []
    irs.upload_received(upload)

    [payload] = room.publisher.of(SUCCESS)
    assert room.publisher.of(FAILURE) == [] and room.queue.sent == []
    record = room.repository.get(upload.object_id)
    assert record is not None and record.state == SUCCEEDED and record.lease_owner is None
    assert record.hash_state is None
    manifest = read_manifest(room.storage, ManifestRef(**payload["parts_manifest"]))
    assert manifest.parts == 3 and manifest.size == payload["encrypted_size"]
    assert manifest.part_size == payload["encrypted_part_size"]
    staged = room.storage.data("staging", payload["staged_object_id"])
    assert staged is not None and len(staged) == payload["encrypted_size"]
    new_secret = room.keys.stored_secret(payload["secret_id"])
    assert c4gh.decrypt_body(staged, [new_secret]) == plain
    assert room.storage.uploads == {}


def test_a_damaged_segment_is_refused_and_leaves_nothing_behind() -> None:
    room = Room()
    plain = _plain()
    header = len(encrypt_file(b"", SUBMITTER[0], ARCHIVE[1]))
    upload, size = room.upload(plain, tamper_at=header + c4gh.CIPHER_SEGMENT_SIZE + 100)
    irs = room.irs()
    irs.upload_received(upload)
    irs.object_created(upload.object_id, size)

    [payload] = room.publisher.of(FAILURE)
    assert payload["reason"] == damaged(2)
    assert room.publisher.of(SUCCESS) == []
    # IRS deletes no secret: EKSS forgets it when it hears of the failure
    assert len(room.keys.secrets) == 1 and payload["file_id"] == upload.file_id
    assert room.storage.uploads == {}  # the staging upload was aborted
    record = room.repository.get(upload.object_id)
    assert record is not None and record.state == FAILED and record.reason == damaged(2)


def test_a_wrong_declared_checksum_is_refused() -> None:
    room = Room()
    upload, size = room.upload(_plain(1.2), decrypted_sha256="0" * 64)
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)
    assert [p["reason"] for p in room.publisher.of(FAILURE)] == [CHECKSUM_MISMATCH]


def test_a_declared_size_that_is_not_the_objects_is_refused_before_staging() -> None:
    room = Room()
    upload, size = room.upload(_plain(1.2))
    upload = Upload(**{**upload.as_dict(), "encrypted_size": size + 1})
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)
    assert [p["reason"] for p in room.publisher.of(FAILURE)] == [size_mismatch(size + 1, size)]
    assert room.storage.keys("staging") == [] and room.storage.uploads == {}


def test_duplicate_notifications_and_events_report_once() -> None:
    room = Room()
    upload, size = room.upload(_plain(1.5))
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)
    saves = room.repository.saves
    irs.upload_received(upload)
    irs.object_created(upload.object_id, size)
    irs.resume(upload.object_id)
    assert len(room.publisher.of(SUCCESS)) == 1
    assert room.repository.saves == saves  # a finished record is not written again
    [payload] = room.publisher.of(SUCCESS)
    staged = payload["staged_object_id"]
    assert room.storage.keys("staging") == sorted([staged, manifest_key(staged)])


def test_a_continuation_carries_on_from_the_checkpoint() -> None:
    room, plain = Room(max_parts=1), _plain()
    upload, size = room.upload(plain)
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)

    record = room.repository.get(upload.object_id)
    assert record is not None and record.state == RUNNING and record.parts_staged == 1
    assert record.lease_owner is None and record.secret_id is not None
    assert room.publisher.events == [] and len(room.queue.sent) == 1

    assert room.drain(irs) == 2
    [payload] = room.publisher.of(SUCCESS)
    staged = room.storage.data("staging", payload["staged_object_id"])
    assert staged is not None
    assert c4gh.decrypt_body(staged, [room.keys.stored_secret(payload["secret_id"])]) == plain


def test_a_lease_held_by_another_invocation_is_left_alone_until_it_expires() -> None:
    room = Room(max_parts=1)
    upload, size = room.upload(_plain())
    room.irs().object_created(upload.object_id, size)
    record = room.repository.get(upload.object_id)
    assert record is not None
    record.upload, record.state = upload, RUNNING
    record.lease_owner = "another"
    record.lease_until = datetime.now(UTC) + timedelta(minutes=5)
    room.repository.save(record)
    saves = room.repository.saves

    room.irs().resume(upload.object_id)
    assert room.repository.saves == saves and room.queue.sent == []

    later = room.irs(clock=datetime.now(UTC) + timedelta(hours=1))
    later.resume(upload.object_id)  # the holder died: its lease ran out
    assert room.repository.get(upload.object_id).parts_staged == 1  # type: ignore[union-attr]
    room.drain(later)
    assert len(room.publisher.of(SUCCESS)) == 1


def test_a_lost_race_when_joining_is_retried() -> None:
    room = Room()
    upload, size = room.upload(_plain(1.2))
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    room.repository.stale_saves = 2
    irs.upload_received(upload)
    assert len(room.publisher.of(SUCCESS)) == 1


def test_a_lost_lease_stops_the_turn_without_an_outcome() -> None:
    room = Room()
    upload, size = room.upload(_plain())
    irs = room.irs()
    irs.object_created(upload.object_id, size)

    def steal(parts: int) -> None:
        room.repository.stale_saves = 1  # another invocation saved the record meanwhile

    irs.after_part = steal
    irs.upload_received(upload)
    assert room.publisher.events == []
    record = room.repository.get(upload.object_id)
    assert record is not None and record.parts_staged == 1


@pytest.mark.parametrize("first", ["event", "notification"])
def test_one_half_alone_waits(first: str) -> None:
    room = Room()
    upload, size = room.upload(_plain(1.2))
    irs = room.irs()
    if first == "event":
        irs.upload_received(upload)
    else:
        irs.object_created(upload.object_id, size)
    record = room.repository.get(upload.object_id)
    assert record is not None and record.state == WAITING and record.lease_owner is None
    assert room.publisher.events == [] and room.keys.secrets == {}
