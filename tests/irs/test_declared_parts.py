"""The declared part SHA-256s: checked at every upload part boundary as the inbox streams
past, in one invocation or many, with or without the running hash in the checkpoint.

DeclaredParts alone first (any split of the reads, any resume point), then the Interrogator
on fakes (tests/irs/test_core_fakes.py's Room); tests/irs/test_interrogation.py and
test_resume.py do the same over the stack.
"""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from functions.irs.declared import DeclaredParts
from functions.irs.errors import DECLARATION_UNREADABLE, Rejected, part_mismatch, size_mismatch
from functions.irs.model import FAILED, SUCCEEDED
from shared.crypt import c4gh
from shared.events import ManifestRef
from shared.manifest import PartsManifest, manifest_key
from tests.irs.helpers import PLAIN_PER_PART, random_bytes
from tests.irs.test_core_fakes import FAILURE, SUCCESS, Room

PART = 1000


def _declared(data: bytes, part: int = PART, wrong: int | None = None) -> list[str]:
    pieces = [data[i : i + part] for i in range(0, max(len(data), 1), part)]
    return [
        hashlib.sha256(p + (b"!" if n == wrong else b"")).hexdigest()
        for n, p in enumerate(pieces, start=1)
    ]


def _feed(check: DeclaredParts, data: bytes, start: int, seed: int) -> None:
    """``data[start:]`` in reads of random sizes (a part boundary anywhere in a read)."""
    rng, position = random.Random(seed), start
    while position < len(data):
        end = min(len(data), position + rng.randint(1, 2500))
        check.update(data[position:end], position)
        position = end


@pytest.mark.parametrize("seed", range(5))
def test_any_split_of_the_reads_checks_every_part(seed: int) -> None:
    data = random_bytes(3 * PART + 123, seed=seed)
    check = DeclaredParts(PART, _declared(data), len(data), 0, None)
    _feed(check, data, 0, seed)
    assert check.complete


@pytest.mark.parametrize("wrong", [1, 2, 4])
def test_a_wrong_part_is_refused_when_it_ends(wrong: int) -> None:
    data = random_bytes(3 * PART + 123, seed=1)
    check = DeclaredParts(PART, _declared(data, wrong=wrong), len(data), 0, None)
    end = min(len(data), wrong * PART)
    check.update(data[: end - 1], 0)  # the part is not over yet: nothing to say
    with pytest.raises(Rejected) as refused:
        check.update(data[end - 1 :], end - 1)
    assert refused.value.reason == part_mismatch(wrong)


@pytest.mark.parametrize("split", [0, 1, PART - 1, PART, PART + 1, 2 * PART + 500, 3 * PART + 123])
def test_a_saved_state_resumes_where_it_was_taken(split: int) -> None:
    data = random_bytes(3 * PART + 123, seed=2)
    first = DeclaredParts(PART, _declared(data), len(data), 0, None)
    first.update(data[:split], 0)
    resumed = DeclaredParts(PART, _declared(data), len(data), split, first.state())
    assert resumed.position == split
    _feed(resumed, data, split, seed=split)
    assert resumed.complete


@pytest.mark.parametrize("state", [None, b"not a state", "another position"])
def test_without_a_fitting_state_the_part_is_read_again_in_bounded_reads(
    state: bytes | str | None,
) -> None:
    data = random_bytes(3 * PART + 123, seed=3)
    split = 2 * PART + 700
    if state == "another position":
        elsewhere = DeclaredParts(PART, _declared(data), len(data), 0, None)
        elsewhere.update(data[:5], 0)
        state = elsewhere.state()
    assert not isinstance(state, str)
    check = DeclaredParts(PART, _declared(data, wrong=3), len(data), split, state)
    assert check.position == 2 * PART  # the start of the part the split lies in
    reads: list[tuple[int, int]] = []

    def read(start: int, end: int) -> bytes:
        reads.append((start, end))
        return data[start:end]

    check.catch_up(read, split, chunk=300)
    assert reads[0][0] == 2 * PART and reads[-1][1] == split
    assert all(end - start <= 300 for start, end in reads)
    with pytest.raises(Rejected) as refused:  # and part 3 is still checked, all of it
        _feed(check, data, split, seed=4)
    assert refused.value.reason == part_mismatch(3)


# ---------------------------------------------------------------- the Interrogator, on fakes


def _run(room: Room, upload, size: int) -> None:  # type: ignore[no-untyped-def]
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)
    room.drain(irs)


def _plain(parts: float) -> bytes:
    return random_bytes(int(parts * PLAIN_PER_PART), seed=9)


def test_a_part_that_is_not_its_declared_sha256_is_refused_and_leaves_nothing() -> None:
    room = Room()
    upload, size = room.upload(_plain(2.5), wrong_sha256=(2,))
    _run(room, upload, size)
    [payload] = room.publisher.of(FAILURE)
    assert payload["reason"] == part_mismatch(2)
    assert room.publisher.of(SUCCESS) == []
    record = room.repository.get(upload.object_id)
    assert record is not None and record.state == FAILED
    assert record.parts_staged == 1  # found while part 2 was read, before it was staged
    assert room.storage.keys("staging") == [] and room.storage.uploads == {}


@pytest.mark.parametrize("wrong", [1, 2, 3, 4, 5])
def test_every_part_is_checked_across_invocations(wrong: int) -> None:
    """One staged part per invocation, upload parts smaller than staged ones and shifted by
    the header: each upload part's boundary lies inside some read of some later turn."""
    room = Room(max_parts=1)
    part_size = 2 * 1024 * 1024 + 17
    upload, size = room.upload(_plain(2.0), wrong_sha256=(wrong,), part_size=part_size)
    assert c4gh.encrypted_size(int(2.0 * PLAIN_PER_PART)) > 4 * part_size  # five parts
    _run(room, upload, size)
    assert [p["reason"] for p in room.publisher.of(FAILURE)] == [part_mismatch(wrong)]


def test_the_same_upload_declared_right_passes_across_invocations() -> None:
    room = Room(max_parts=1)
    plain = _plain(2.0)
    upload, size = room.upload(plain, part_size=2 * 1024 * 1024 + 17)
    _run(room, upload, size)
    [payload] = room.publisher.of(SUCCESS)
    staged = room.storage.data("staging", payload["staged_object_id"])
    assert c4gh.decrypt_body(staged, [room.keys.stored_secret(payload["secret_id"])]) == plain


@pytest.mark.parametrize("wrong", [(), (2,)])
def test_a_checkpoint_without_the_running_hash_reads_its_part_again(wrong: tuple[int]) -> None:
    room = Room(max_parts=1)
    upload, size = room.upload(_plain(2.5), wrong_sha256=wrong)
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)  # part 1 staged, handed on
    record = room.repository.get(upload.object_id)
    assert record is not None and record.parts_staged == 1 and record.parts_hash_state
    record.parts_hash_state = None  # as a checkpoint written before the check existed
    room.repository.save(record)
    room.drain(irs)
    record = room.repository.get(upload.object_id)
    assert record is not None
    if wrong:
        assert [p["reason"] for p in room.publisher.of(FAILURE)] == [part_mismatch(2)]
    else:
        assert record.state == SUCCEEDED and len(room.publisher.of(SUCCESS)) == 1


def test_a_missing_manifest_is_refused() -> None:
    room = Room()
    upload, size = room.upload(_plain(1.2))
    room.storage.delete("inbox", manifest_key(upload.object_id))
    _run(room, upload, size)
    assert [p["reason"] for p in room.publisher.of(FAILURE)] == [DECLARATION_UNREADABLE]
    record = room.repository.get(upload.object_id)
    assert record is not None and record.staging_upload_id is None  # refused before staging
    assert room.storage.uploads == {}


def _redeclare(room: Room, upload, **changes: object):  # type: ignore[no-untyped-def]
    """The upload with another manifest in the inbox (and the event naming its digest)."""
    ref = upload.parts_manifest
    manifest = json.loads(room.storage.data("inbox", ref.key))
    encoded = PartsManifest(**{**manifest, **changes}).encode()
    room.storage.put("inbox", ref.key, encoded)
    new_ref = ManifestRef(
        bucket=ref.bucket,
        key=ref.key,
        sha256=hashlib.sha256(encoded).hexdigest(),
        size=len(encoded),
        parts=ref.parts,
    )
    return type(upload)(**{**upload.as_dict(), "parts_manifest": new_ref.model_dump()})


def test_the_declared_md5s_are_not_needed() -> None:
    room = Room()
    plain = _plain(2.5)
    upload, size = room.upload(plain)
    upload = _redeclare(room, upload, md5=["0" * 32] * upload.parts_manifest.parts)
    _run(room, upload, size)
    assert len(room.publisher.of(SUCCESS)) == 1 and room.publisher.of(FAILURE) == []


def test_a_manifest_of_another_size_is_refused() -> None:
    room = Room()
    upload, size = room.upload(_plain(1.2))
    upload = _redeclare(room, upload, size=size - 1)
    _run(room, upload, size)
    assert [p["reason"] for p in room.publisher.of(FAILURE)] == [size_mismatch(size - 1, size)]
