"""The resumable, parallel multipart copy (functions/ifrs/copier.py) on in-memory fakes:
the part size for any object up to 5 TiB, parts in flight at once, a checkpoint after each
batch, a kill after batch k resumed from it, a hand-on when time runs short, for both copies
(registration and outbox staging). Duplicates, deletions and manifests:
test_copy_races_fakes.py.

No stack: storage, publisher and queue are tests.fakes, the tables tests.fakes.ifrs.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.ifrs.copier import Copier, CopyJob, copy_part_size
from functions.ifrs.model import COPYING, REGISTERED, CopySettings, Invocation, Registration
from shared.events import NonStagedFileRequested
from shared.manifest import manifest_key
from shared.multipart import (
    GIB,
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIB,
    MIN_PART_SIZE,
    TIB,
    part_count,
)
from shared.ports import ObjectInfo, PartInfo
from tests.fakes.ifrs import InMemoryFileRepository
from tests.ifrs.helpers import (
    COPY_PARTS,
    COPY_SIZE,
    Archive,
    CountingStorage,
    Crash,
    copied,
    copy_settings,
    nothing_open,
    registered,
    staging_request,
)

REGISTERED_EVENT = "FileInternallyRegistered"
STAGED_EVENT = "FileStagedForDownload"
LATER = datetime.now(UTC) + timedelta(hours=1)  # every lease has run out by then


# ------------------------------------------------------------------ the part size


@pytest.mark.parametrize(
    ("size", "part_size"),
    [
        (0, 64 * MIB),
        (1, 64 * MIB),
        (100 * GIB, 64 * MIB),  # 1,600 parts
        (64 * MIB * MAX_PARTS, 64 * MIB),  # 625 GiB: the largest object at the floor
        (64 * MIB * MAX_PARTS + 1, 65 * MIB),
        (4_880 * GIB, 500 * MIB),  # above the 512 MiB parts of old, 10,000 would not do
        (MAX_OBJECT_SIZE, 525 * MIB),  # 5 TiB: 9,987 parts
    ],
)
def test_the_copy_part_size_fits_any_object_up_to_5_tib_in_10000_parts(
    size: int, part_size: int
) -> None:
    found = copy_part_size(size, 64 * MIB, min_part_size=5 * MIB)
    assert found == part_size
    assert found % MIB == 0 and 5 * MIB <= found <= MAX_PART_SIZE
    assert part_count(size, found) <= MAX_PARTS


def test_the_copy_part_size_is_never_below_s3s_minimum_and_rounds_to_bytes_when_scaled() -> None:
    assert copy_part_size(10, 1024, min_part_size=5 * MIB) == 5 * MIB
    assert copy_part_size(10, 1024) == max(1024, MIN_PART_SIZE)
    # a test stack's minimum of one cipher segment: whole bytes, not MiB
    scaled = 65_564
    size = scaled * MAX_PARTS + 1
    found = copy_part_size(size, scaled, min_part_size=scaled)
    assert found == scaled + 1 and part_count(size, found) == MAX_PARTS


class SparseStorage(CountingStorage):
    """A declared 5 TiB source and a destination that keep no bytes: only the ranges each
    part was copied from, so the copier's arithmetic runs at full size."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.ranges: dict[int, tuple[int, int]] = {}
        self.completed: list[tuple[int, str]] | None = None

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        if bucket == "src":
            return ObjectInfo(self.size, "source")
        if bucket == "dst" and self.completed is not None:
            return ObjectInfo(sum(end - start + 1 for start, end in self.ranges.values()), "x")
        return None

    def upload_part_copy(self, *args: Any) -> str:
        *_, number, start, end = args
        self.ranges[number] = (start, end)
        return f"etag-{number}"

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        return [
            PartInfo(n, end - start + 1, f"etag-{n}") for n, (start, end) in self.ranges.items()
        ]

    def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> str:
        self.completed = parts
        del self.uploads[(bucket, upload_id)]
        return "done"


def test_a_declared_5_tib_object_is_copied_in_at_most_10000_parts_covering_every_byte() -> None:
    storage = SparseStorage(MAX_OBJECT_SIZE)
    progress = Registration(file_id="f", object_id="o", bucket="dst", interrogation=None)
    saved: list[int] = []
    copier = Copier(storage=storage, settings=CopySettings())  # the deployed policy
    job = CopyJob("src", "s", "dst", "o", MAX_OBJECT_SIZE)
    done = copier.copy(
        job, progress, lambda: saved.append(progress.copy_parts_done), Invocation(copier.settings)
    )

    assert done is True
    assert storage.completed is not None and len(storage.completed) == 9_987 <= MAX_PARTS
    spans = [storage.ranges[n] for n in range(1, 9_988)]
    assert spans[0][0] == 0 and spans[-1][1] == 5 * TIB - 1
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans))  # no gap
    assert {end - start + 1 for start, end in spans[:-1]} == {525 * MIB}
    # a checkpoint when the upload was opened and after each batch of 16: the same three
    # numbers and an id all along, whatever the part count
    assert saved[0] == 0 and saved[1:] == [*range(16, 9_987, 16), 9_987]
    assert progress.copy_upload_id is None and storage.uploads == {}


def test_parts_are_copied_many_at_once() -> None:
    """A copy that took its parts one at a time would never meet the barrier."""
    archive = Archive()
    barrier = threading.Barrier(4, timeout=10)

    class Meeting(CountingStorage):
        def upload_part_copy(self, *args: Any) -> str:
            if args[5] <= 4:  # the first batch: all four in flight together
                barrier.wait()
            return super().upload_part_copy(*args)

    archive.storage = Meeting()
    event = archive.staged(size=COPY_SIZE)
    archive.registry(copier=archive.copier(copy_settings(parts_in_flight=4))).register(event)
    registered(archive, event)
    assert copied(archive, "permanent") == list(range(1, COPY_PARTS + 1))


# ------------------------------------------------------------------ checkpoints, kills, resumes


class Checkpoints(InMemoryFileRepository):
    """The files table, noting the copy's parts done at every save."""

    def __init__(self) -> None:
        super().__init__()
        self.parts_done: list[tuple[str, int]] = []

    def save(self, item: Registration) -> None:
        super().save(item)
        self.parts_done.append((item.state, item.copy_parts_done))


def test_a_copy_of_many_parts_saves_a_checkpoint_after_each_batch() -> None:
    archive = Archive()
    archive.files = Checkpoints()
    event = archive.staged(size=COPY_SIZE)
    content = archive.storage.data("staging", event.staged_object_id)
    archive.registry(copier=archive.copier(copy_settings())).register(event)

    item = registered(archive, event)
    assert archive.storage.data("permanent", item.object_id) == content
    assert copied(archive, "permanent") == list(range(1, COPY_PARTS + 1))  # each part once
    assert archive.files.parts_done == [
        (COPYING, 0),  # the claim
        (COPYING, 0),  # the upload id, recorded before any part
        (COPYING, 3),
        (COPYING, 6),
        (COPYING, 9),
        (COPYING, 11),
        (REGISTERED, 0),
    ]
    nothing_open(archive)


def test_a_copy_killed_after_batch_k_resumes_from_its_checkpoint() -> None:
    archive = Archive()
    event = archive.staged(size=COPY_SIZE)
    content = archive.storage.data("staging", event.staged_object_id)

    def kill_after_second_batch(parts_done: int) -> None:
        if parts_done == 6:
            raise Crash

    killed = archive.copier(copy_settings(), after_batch=kill_after_second_batch)
    with pytest.raises(Crash):
        archive.registry(copier=killed).register(event)
    item = archive.files.get(event.file_id)
    assert item is not None and item.copy_parts_done == 6 and item.copy_upload_id is not None
    assert item.lease_owner is not None  # the dead invocation's, until it runs out
    assert archive.publisher.events == []

    archive.registry(copier=archive.copier(copy_settings())).register(event)  # lease still runs
    assert copied(archive, "permanent") == list(range(1, 7))

    # the redelivery after the lease ran out: parts 1 to 6 are not copied again
    archive.registry(clock=LATER, copier=archive.copier(copy_settings())).register(event)
    item = registered(archive, event)
    assert copied(archive, "permanent") == list(range(1, COPY_PARTS + 1))
    assert archive.storage.copies == 1  # one multipart upload, resumed
    assert archive.storage.data("permanent", item.object_id) == content
    assert len(archive.publisher.of(REGISTERED_EVENT)) == 1
    nothing_open(archive)
    assert archive.storage.keys("staging") == []  # the staged object and its manifest went


def test_an_upload_opened_but_never_recorded_is_aborted_by_the_next_turn() -> None:
    """Killed between CreateMultipartUpload and the save of its id: the next turn aborts
    every upload open under the key before it opens its own."""
    archive = Archive()
    event = archive.staged(size=COPY_SIZE)

    class DiesRecordingTheUpload(InMemoryFileRepository):
        def save(self, item: Registration) -> None:
            if item.copy_upload_id is not None:
                raise Crash
            super().save(item)

    files = archive.files
    archive.files = DiesRecordingTheUpload()
    archive.files.items = files.items
    with pytest.raises(Crash):
        archive.registry().register(event)
    assert len(archive.storage.uploads) == 1  # open, and nobody recorded it

    archive.files = files
    archive.registry(clock=LATER).register(event)
    registered(archive, event)
    assert archive.storage.copies == 2
    nothing_open(archive)


def test_a_recorded_upload_aborted_from_outside_makes_the_retry_start_again() -> None:
    """The lifecycle rule (or an operator) aborted the upload of a stalled copy."""
    archive = Archive()
    event = archive.staged(size=COPY_SIZE)

    def kill(parts_done: int) -> None:
        raise Crash

    with pytest.raises(Crash):
        archive.registry(copier=archive.copier(copy_settings(), after_batch=kill)).register(event)
    archive.storage.uploads.clear()
    with pytest.raises(Exception, match="aborted; starting again"):
        archive.registry(clock=LATER, copier=archive.copier(copy_settings())).register(event)
    item = archive.files.get(event.file_id)
    assert item is not None and item.copy_upload_id is None and item.lease_owner is None
    archive.registry(copier=archive.copier(copy_settings())).register(event)
    registered(archive, event)
    nothing_open(archive)


# ------------------------------------------------------------------ hand-on


class Remaining:
    """A Lambda's remaining time: plenty, until ``run_short`` is called."""

    def __init__(self) -> None:
        self.ms = 800_000

    def __call__(self) -> int:
        return self.ms

    def run_short(self, *_: object) -> None:
        self.ms = 60_000  # below the safety margin of 120 s


def test_a_registration_hands_on_when_time_runs_short_and_the_next_turn_finishes() -> None:
    archive = Archive()
    event = archive.staged(size=COPY_SIZE)
    content = archive.storage.data("staging", event.staged_object_id)
    remaining = Remaining()
    copier = archive.copier(copy_settings(), after_batch=remaining.run_short)
    archive.registry(copier=copier).register(event, remaining)

    [again] = archive.handed_on()
    assert again == event  # the same event, to IFRS's own queue
    item = archive.files.get(event.file_id)
    assert item is not None and item.state == COPYING and item.lease_owner is None
    assert item.copy_parts_done == 3 and archive.publisher.events == []

    archive.registry(copier=archive.copier(copy_settings())).register(again, Remaining())
    item = registered(archive, event)
    assert archive.handed_on() == []
    assert copied(archive, "permanent") == list(range(1, COPY_PARTS + 1))
    assert archive.storage.data("permanent", item.object_id) == content
    assert len(archive.publisher.of(REGISTERED_EVENT)) == 1
    nothing_open(archive)


def test_time_running_short_after_the_last_batch_leaves_the_completion_to_the_next_turn() -> None:
    archive = Archive()
    event = archive.staged(size=COPY_SIZE)
    remaining = Remaining()

    def short_at_the_end(parts_done: int) -> None:
        if parts_done == COPY_PARTS:
            remaining.run_short()

    copier = archive.copier(copy_settings(), after_batch=short_at_the_end)
    archive.registry(copier=copier).register(event, remaining)
    [again] = archive.handed_on()
    item = archive.files.get(event.file_id)
    assert item is not None and item.state == COPYING and item.copy_parts_done == COPY_PARTS
    assert len(archive.storage.uploads) == 1 and archive.publisher.events == []

    archive.registry(copier=archive.copier(copy_settings())).register(again, Remaining())
    registered(archive, event)
    assert copied(archive, "permanent") == list(range(1, COPY_PARTS + 1))  # none again
    nothing_open(archive)


def test_an_outbox_copy_hands_on_keeps_its_checkpoint_in_a_record_and_removes_it_at_the_end() -> (
    None
):
    archive = Archive()
    event = archive.staged(size=COPY_SIZE)
    archive.registry().register(event)
    item = registered(archive, event)
    request = staging_request(event, target_object_id=item.object_id)
    stager = archive.stager(copier=archive.copier(copy_settings(max_parts_per_invocation=4)))

    turns = 0
    pending: list[NonStagedFileRequested] = [request]
    results = []
    while pending:
        turns += 1
        results.append(stager.stage(pending.pop()))
        handed = archive.handed_on()
        assert all(h == request for h in handed)
        pending += handed  # type: ignore[arg-type]
        if pending:
            copy = archive.copies.get(request.target_object_id)
            assert copy is not None and copy.lease_owner is None
            assert copy.copy_parts_done == min(6 * turns, COPY_PARTS)  # two batches a turn
    assert turns == 2 and results == [False, True]
    assert copied(archive, "outbox") == list(range(1, COPY_PARTS + 1))
    assert archive.storage.data("outbox", request.target_object_id) == archive.storage.data(
        "permanent", item.object_id
    )
    assert archive.copies.items == {}  # the checkpoint went with the report
    assert len(archive.publisher.of(STAGED_EVENT)) == 1
    assert manifest_key(request.target_object_id) not in archive.storage.keys("outbox")
    nothing_open(archive)


def test_an_empty_object_is_copied_without_a_multipart_upload() -> None:
    """S3 completes no multipart upload of no part: an empty staged object is put."""
    archive = Archive()
    event = archive.staged(size=0)
    archive.registry().register(event)
    item = registered(archive, event)
    assert archive.storage.data("permanent", item.object_id) == b""
    assert archive.storage.copies == 0
    nothing_open(archive)
