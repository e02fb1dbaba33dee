"""IRS at scale, on the in-memory fakes: nothing per part in the record or the outcome, part
sizes that grow with the file, a file too large refused before any work, manifests in the
inbox ignored.

A file of 10,000 staged parts is at least 10,000 x 5 MiB, too much to re-encrypt in a unit
test; so a file of a dozen parts runs through the real loop (part items, checkpoints, the
manifest), and the record and outcome of a 10,000-part file are computed from that run's
own record with the real pynamodb serialization and checked against AWS's limits.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from functions.irs.deletion import tombstone
from functions.irs.errors import too_large
from functions.irs.model import (
    COMPLETING,
    FAILED,
    RUNNING,
    SUCCEEDED,
    Interrogation,
    Settings,
    StagedPart,
)
from functions.irs.outcome import success_payload
from functions.irs.sizing import MIN_PART_SIZE, largest_body, parts_in_memory
from functions.irs.store import to_part_record, to_record
from shared.crypt import c4gh
from shared.events import FileInterrogationSuccess, ManifestRef, envelope
from shared.limits import DYNAMODB_MAX_ITEM_BYTES, SNS_MAX_MESSAGE_BYTES, utf8_size
from shared.manifest import manifest_key, read_manifest
from shared.multipart import MAX_OBJECT_SIZE, MAX_PARTS
from tests.fakes import InMemoryKeyStore, InMemoryStorage
from tests.irs.helpers import PLAIN_PER_PART, random_bytes
from tests.irs.test_core_fakes import ARCHIVE, FAILURE, SUCCESS, Room

PARTS = 12


def _item_bytes(serialized: dict[str, dict[str, Any]]) -> int:
    """DynamoDB's size of an item: each attribute's name and value (numbers counted as
    their digits and one byte more, above DynamoDB's own count)."""
    size = 0
    for name, value in serialized.items():
        size += utf8_size(name)
        [(kind, data)] = value.items()
        if kind == "S":
            size += utf8_size(data)
        elif kind == "B":
            size += len(data)
        elif kind == "N":
            size += len(data) + 1
        else:
            raise AssertionError(f"unexpected attribute type {kind} for {name}")
    return size


class NoKeys:
    """A key store that must not be asked."""

    def create_secret(self, file_id: str, submitter_public_key: str) -> Any:
        raise AssertionError("EKSS was asked for a secret")


@dataclass
class Run:
    room: Room
    key: str
    plain: bytes
    checkpoints: list[Interrogation]


@pytest.fixture(scope="module")
def run() -> Run:
    """A file of PARTS staged parts, five parts an invocation; the checkpoints seen."""
    room = Room(max_parts=5)
    plain = random_bytes(int((PARTS - 0.5) * PLAIN_PER_PART), seed=14)
    upload, size = room.upload(plain)
    irs = room.irs()
    checkpoints: list[Interrogation] = []

    def seen(parts: int) -> None:
        found = room.repository.get(upload.object_id)
        assert found is not None
        checkpoints.append(found)

    irs.after_part = seen
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)
    assert room.drain(irs) == 2
    return Run(room, upload.object_id, plain, checkpoints)


def test_a_many_part_file_keeps_its_parts_in_items_and_its_manifest(run: Run) -> None:
    room, key, plain, checkpoints = run.room, run.key, run.plain, run.checkpoints

    [payload] = room.publisher.of(SUCCESS)
    ref = ManifestRef(**payload["parts_manifest"])
    staged_id = payload["staged_object_id"]
    assert (ref.bucket, ref.key, ref.parts) == ("staging", manifest_key(staged_id), PARTS)
    manifest = read_manifest(room.storage, ref)
    staged = room.storage.data("staging", staged_id)
    assert staged is not None
    assert manifest.size == len(staged) and manifest.part_size == payload["encrypted_part_size"]
    pieces = [staged[i : i + manifest.part_size] for i in range(0, len(staged), manifest.part_size)]
    assert manifest.md5 == [hashlib.md5(p, usedforsecurity=False).hexdigest() for p in pieces]
    assert manifest.sha256 == [hashlib.sha256(p).hexdigest() for p in pieces]
    assert c4gh.decrypt_body(staged, [room.keys.stored_secret(payload["secret_id"])]) == plain

    # every checkpoint counted the parts whose items were stored, and held no list of them
    assert [c.parts_staged for c in checkpoints] == list(range(1, PARTS + 1))
    assert room.repository.part_puts == PARTS
    assert all(c.state == RUNNING for c in checkpoints)
    # once the success is out, the manifest holds the checksums and the items go
    assert room.repository.parts(key) == []
    record = room.repository.get(key)
    assert record is not None and record.state == SUCCEEDED and record.parts_staged == PARTS


def test_the_record_and_outcome_of_a_10000_part_file_fit_aws_limits(run: Run) -> None:
    room, key, checkpoints = run.room, run.key, run.checkpoints
    final = room.repository.get(key)
    assert final is not None and final.outcome is not None

    def at(parts: int) -> Interrogation:
        """The largest the record ever is, as if the file had ``parts`` parts: the declared
        upload, the hash state of a checkpoint and the outcome all at once."""
        outcome = {**final.outcome}  # type: ignore[dict-item]
        outcome["parts_manifest"] = {**outcome["parts_manifest"], "parts": parts}
        outcome["encrypted_size"] = outcome["decrypted_size"] = MAX_OBJECT_SIZE
        return Interrogation(
            **{
                **final.__dict__,
                "state": COMPLETING,
                "parts_staged": parts,
                "hash_state": checkpoints[-1].hash_state,
                "object_size": MAX_OBJECT_SIZE,
                "plain_size": MAX_OBJECT_SIZE,
                "outcome": outcome,
                "lease_owner": "0" * 36,
                "lease_until": checkpoints[-1].lease_until or final.lease_until,
            }
        )

    small, large = at(PARTS), at(MAX_PARTS)
    small_bytes = _item_bytes(to_record(small).serialize())
    large_bytes = _item_bytes(to_record(large).serialize())
    # nothing in the record grows with the part count: a few digits more, and far below 400 KB
    assert large_bytes - small_bytes <= 8
    assert large_bytes < DYNAMODB_MAX_ITEM_BYTES // 100

    part = to_part_record(key, StagedPart(MAX_PARTS, "f" * 32, "f" * 64))
    assert _item_bytes(part.serialize()) < 200

    event = FileInterrogationSuccess.model_validate(large.outcome)
    assert event.parts_manifest.parts == MAX_PARTS
    message = envelope(event).model_dump_json()
    assert utf8_size(message) < SNS_MAX_MESSAGE_BYTES // 100
    again = success_payload(large, "0" * 64, "staging", event.parts_manifest)
    assert utf8_size(envelope(FileInterrogationSuccess(**again)).model_dump_json()) < 4096


def test_a_file_too_large_for_max_parts_is_refused_before_any_work() -> None:
    room = Room()
    room.settings = Settings("inbox", "staging", memory_mb=1024)  # 3.75 TiB at most
    upload, size = room.upload(random_bytes(1000, seed=3))
    plain = MAX_OBJECT_SIZE // c4gh.CIPHER_SEGMENT_SIZE * c4gh.SEGMENT_SIZE
    body = c4gh.encrypted_body_size(plain)
    header = size - c4gh.encrypted_body_size(1000)
    declared = {"decrypted_size": plain, "encrypted_size": header + body}
    upload = type(upload)(**{**upload.as_dict(), **declared})
    irs = room.irs()
    irs.keys = NoKeys()  # type: ignore[assignment]
    irs.object_created(upload.object_id, header + body)  # as the notification would say
    irs.upload_received(upload)

    [payload] = room.publisher.of(FAILURE)
    assert payload["reason"] == too_large(plain, body, largest_body(room.settings))
    assert room.publisher.of(SUCCESS) == []
    assert room.storage.keys("staging") == [] and room.storage.uploads == {}
    record = room.repository.get(upload.object_id)
    assert record is not None and record.state == FAILED and record.secret_id is None
    assert record.staged_object_id is None and room.repository.part_items == {}


def test_the_largest_file_is_accepted_at_the_declared_memory() -> None:
    """At the function's memory a 5 TiB object gets past the planning: its secret is asked
    for (and there the test stops it, since the fakes hold no 5 TiB)."""
    room = Room()
    upload, size = room.upload(random_bytes(1000, seed=3))
    plain = MAX_OBJECT_SIZE // c4gh.CIPHER_SEGMENT_SIZE * c4gh.SEGMENT_SIZE
    header = size - c4gh.encrypted_body_size(1000)
    total = header + c4gh.encrypted_body_size(plain)
    declared = {"decrypted_size": plain, "encrypted_size": total}
    upload = type(upload)(**{**upload.as_dict(), **declared})
    irs = room.irs()
    irs.object_created(upload.object_id, total)
    irs.upload_received(upload)
    # the object is not the declared size: refused as such, after the secret was made
    [payload] = room.publisher.of(FAILURE)
    assert "too large" not in payload["reason"] and len(room.keys.secrets) == 1
    record = room.repository.get(upload.object_id)
    assert record is not None and record.staging_part_size is not None
    assert record.staging_part_size * MAX_PARTS >= c4gh.encrypted_body_size(plain)


def test_notifications_of_manifests_in_the_inbox_are_dropped() -> None:
    room = Room()
    irs = room.irs()
    irs.object_created("manifests/0b6c3d3e.json", 1234)
    irs.resume("manifests/0b6c3d3e.json")
    assert room.repository.items == {} and room.publisher.events == []
    assert room.keys.secrets == {} and room.queue.sent == []


class Overlaps(InMemoryStorage):
    """InMemoryStorage that notes how many part reads and uploads were under way at once
    (each takes a little while, so that overlapping calls do overlap)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.active: dict[str, int] = {"read": 0, "upload": 0}
        self.most: dict[str, int] = {"read": 0, "upload": 0, "both": 0}
        self.read_ahead = 0  # reads by the pipeline's reader thread

    def _run(self, kind: str, call: Any, *args: Any) -> Any:
        with self._lock:
            if kind == "read" and threading.current_thread().name.startswith("irs-read"):
                self.read_ahead += 1
            self.active[kind] += 1
            self.most[kind] = max(self.most[kind], self.active[kind])
            self.most["both"] = max(self.most["both"], sum(self.active.values()))
        try:
            time.sleep(0.05)
            return call(*args)
        finally:
            with self._lock:
                self.active[kind] -= 1

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        return self._run("read", super().get_range, bucket, key, start, end)

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        return self._run("upload", super().upload_part, bucket, key, upload_id, number, data)


@pytest.mark.parametrize(("memory_mb", "depth"), [(268, 2), (272, 3), (4096, 4)])
def test_less_memory_means_less_overlap_and_the_same_result(memory_mb: int, depth: int) -> None:
    room = Room()
    room.storage = Overlaps()
    room.keys = InMemoryKeyStore(ARCHIVE[0], room.storage)
    room.settings = Settings("inbox", "staging", memory_mb=memory_mb)
    assert parts_in_memory(room.settings, MIN_PART_SIZE) == depth
    plain = random_bytes(int(4.5 * PLAIN_PER_PART), seed=5)
    upload, size = room.upload(plain)
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)

    [payload] = room.publisher.of(SUCCESS)
    staged = room.storage.data("staging", payload["staged_object_id"])
    assert staged is not None
    assert c4gh.decrypt_body(staged, [room.keys.stored_secret(payload["secret_id"])]) == plain
    most = room.storage.most
    # one step at a time: never a read during an upload; with three parts in memory an
    # upload runs behind the next part's read, with four a read runs ahead as well
    assert most["both"] == (1 if depth == 2 else 2)
    assert most["read"] == 1 and most["upload"] == 1
    assert (room.storage.read_ahead > 0) == (depth == 4)


def test_a_turn_short_of_time_after_the_last_part_hands_the_completion_on() -> None:
    """Completing 10,000 parts may take minutes: a turn that staged the last part with less
    than the safety margin left hands the completion to a next invocation."""
    room = Room()
    upload, size = room.upload(random_bytes(3 * PLAIN_PER_PART))
    irs = room.irs()

    def remaining_ms() -> int:
        item = room.repository.get(upload.object_id)
        completing = item is not None and item.state == COMPLETING
        return 100_000 if completing else 800_000  # the margin is 120 s

    irs.object_created(upload.object_id, size, remaining_ms)
    irs.upload_received(upload, remaining_ms)
    item = room.repository.get(upload.object_id)
    assert item is not None and item.state == COMPLETING and item.lease_owner is None
    assert room.publisher.of(SUCCESS) == [] and len(room.queue.sent) == 1
    assert room.storage.list_multipart_uploads("staging")  # not completed in that turn
    assert room.drain(irs) == 1
    assert len(room.publisher.of(SUCCESS)) == 1
    assert room.repository.part_items == {}


def test_a_late_message_for_a_deleted_file_removes_what_a_killed_turn_left() -> None:
    """A turn killed after the deletion's removal may leave a part item or the staged
    manifest behind (the deletion had already run); the next message for the file (the
    killed turn's redelivery) finds the tombstone and removes them."""
    room = Room(max_parts=1)
    upload, size = room.upload(random_bytes(3 * PLAIN_PER_PART))
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)
    item = room.repository.get(upload.object_id)
    assert item is not None and item.staged_object_id is not None
    room.repository.save(tombstone(upload.object_id, item, "operator"))  # its removal ran,
    # then the killed turn's last writes landed:
    # (a part's item is written with its checkpoint, which the tombstone's version refuses;
    # this one stands for an item the removal missed)
    room.repository.part_items[(upload.object_id, 2)] = StagedPart(2, "0" * 32, "0" * 64)
    room.storage.put("staging", manifest_key(item.staged_object_id), b"{}")

    irs.resume(upload.object_id)
    assert room.repository.part_items == {}
    assert room.storage.keys("staging") == []
    assert room.storage.list_multipart_uploads("staging") == []
    assert room.publisher.of(SUCCESS) == []
