"""DCS's part of a deletion on the in-memory fakes: tombstone, removal, confirmation, and
every event that comes before, during or after it (docs/deletion.md).

The same over the real stack: test_deletion.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from functions.dcs.deletion import DeletionHandler
from functions.dcs.errors import NoSuchObject, ObjectDeleted
from functions.dcs.model import DELETED, STAGING, Reader
from shared.crypt.keys import generate_keypair
from shared.events import FileDeletionRequested
from tests.dcs.test_core_fakes import OUTBOX, Dcs, build_dcs, registered, staged

FILE = "file-1"
COPY = f"object-{FILE}"


class World:
    """DCS's core and its deletion handler on the same fakes."""

    def __init__(self) -> None:
        self.dcs: Dcs = build_dcs()
        self.deletion = DeletionHandler(
            repository=self.dcs.repository,
            storage=self.dcs.storage,
            publisher=self.dcs.publisher,
            outbox_bucket=OUTBOX,
            clock=self.dcs.downloads.clock,
        )

    def delete(self, file_id: str = FILE, by: str = "operator") -> list[str]:
        """Deliver FileDeletionRequested; what the confirmation says was removed."""
        request = FileDeletionRequested(file_id=file_id, requested_by=by, reason="withdrawn")
        return self.deletion.on_deletion_requested(request).removed

    def routes(self, file_id: str = FILE) -> list[Callable[[], object]]:
        d, reader = self.dcs.downloads, self.dcs.reader
        return [
            lambda: d.drs_object(file_id, reader),
            lambda: d.envelope(file_id, reader),
            lambda: d.assembled(file_id, reader, "bytes=0-9"),
            lambda: d.assembled(file_id, reader, None, head=True),
        ]

    def assert_gone(self, file_id: str = FILE) -> None:
        """Every route refuses the file as deleted (404), and nothing of it is kept."""
        for route in self.routes(file_id):
            with pytest.raises(ObjectDeleted) as caught:
                route()
            assert (caught.value.status, caught.value.exception_id) == (404, "fileDeleted")
            assert caught.value.body()["data"] == {"file_id": file_id}
        assert [key for key in self.dcs.repository.envelopes if key[0] == file_id] == []
        assert COPY not in self.dcs.storage.keys(OUTBOX)
        item = self.dcs.repository.get(file_id)
        assert item is not None and item.state == DELETED
        assert (item.secret_id, item.decrypted_sha256) == (None, None)
        assert (item.decrypted_size, item.content_size) == (None, None)


@pytest.fixture
def world() -> World:
    return World()


def _confirmations(world: World) -> list[dict]:
    return world.dcs.publisher.of("FileDeletionConfirmed")


def test_deleted_before_registration_the_file_is_never_taken_in(world: World) -> None:
    assert world.delete() == []  # nothing held yet: a tombstone is created all the same
    [confirmation] = _confirmations(world)
    assert confirmation == {
        "file_id": FILE,
        "service": "dcs",
        "requested_by": "operator",
        "removed": [],
    }
    world.dcs.register()  # the registration the deletion overtook
    assert world.dcs.downloads.on_registered(registered(FILE)) is False
    world.assert_gone()
    assert world.dcs.repository.get(FILE).object_id is None  # nothing of the registration
    assert world.dcs.publisher.of("NonStagedFileRequested") == []


def test_deleted_after_registration(world: World) -> None:
    world.dcs.register()
    assert world.delete(by="user-7") == ["download record"]
    world.assert_gone()
    item = world.dcs.repository.get(FILE)
    assert item.deleted_by == "user-7" and item.deleted_at is not None
    assert world.dcs.publisher.of("NonStagedFileRequested") == []  # no poll asked for it


def test_deleted_while_staged_with_envelopes_kept_for_two_readers(world: World) -> None:
    world.dcs.register()
    assert world.dcs.stage() is True
    _, other = generate_keypair()
    second = Reader(other, "user-2", "package-2", "wot-2")
    world.dcs.downloads.envelope(FILE, world.dcs.reader)
    world.dcs.downloads.envelope(FILE, second)
    world.dcs.register("file-2")  # another file's envelope stays
    world.dcs.downloads.envelope("file-2", second)

    assert world.delete() == ["outbox copy", "2 envelopes", "download record"]
    world.assert_gone()
    assert list(world.dcs.repository.envelopes) == [("file-2", "secret-1", other)]
    assert world.dcs.downloads.envelope("file-2", second)
    assert world.dcs.downloads.clean_outbox() == {"removed": 0, "in_use": 0, "failed": 0}


def test_deleted_while_staging_the_late_copy_is_removed_not_served(world: World) -> None:
    world.dcs.register()
    world.dcs.downloads.drs_object(FILE, world.dcs.reader)  # asks IFRS for a copy
    assert world.dcs.repository.get(FILE).state == STAGING
    assert world.delete() == ["download record"]
    assert world.dcs.stage() is False  # IFRS's copy arrives after the tombstone
    world.assert_gone()
    assert len(world.dcs.publisher.of("NonStagedFileRequested")) == 1  # never again


def test_a_staged_report_for_another_bucket_leaves_that_bucket_alone(world: World) -> None:
    world.delete()
    world.dcs.storage.put("elsewhere", COPY, b"not ours")
    event = staged(FILE).model_copy(update={"target_bucket": "elsewhere"})
    assert world.dcs.downloads.on_staged(event) is False
    assert world.dcs.storage.keys("elsewhere") == [COPY]


def test_a_redelivered_request_removes_again_and_confirms_again(world: World) -> None:
    world.dcs.register()
    world.dcs.stage()
    world.dcs.downloads.envelope(FILE, world.dcs.reader)
    assert world.delete(by="user-7") == ["outbox copy", "1 envelope", "download record"]
    assert world.delete(by="operator") == []
    world.dcs.storage.put(OUTBOX, COPY, world.dcs.content)  # a copy that came late
    assert world.delete() == ["outbox copy"]
    assert [c["removed"] for c in _confirmations(world)] == [
        ["outbox copy", "1 envelope", "download record"],
        [],
        ["outbox copy"],
    ]
    assert [c["requested_by"] for c in _confirmations(world)] == ["user-7", "operator", "operator"]
    world.assert_gone()
    assert world.dcs.repository.get(FILE).deleted_by == "user-7"  # the first request's


def test_an_envelope_request_racing_the_deletion_keeps_nothing(world: World) -> None:
    world.dcs.register()
    world.dcs.stage()
    deleted: list[list[str]] = []
    # the request read the live object; the tombstone is written before it stores its envelope
    world.dcs.repository.before_keep = lambda: deleted.append(world.delete())
    with pytest.raises(ObjectDeleted):
        world.dcs.downloads.envelope(FILE, world.dcs.reader)
    world.dcs.repository.before_keep = None
    assert deleted == [["outbox copy", "download record"]]
    world.assert_gone()


def test_an_assembled_read_racing_the_deletion_keeps_nothing(world: World) -> None:
    world.dcs.register()
    world.dcs.stage()
    world.dcs.repository.before_keep = lambda: world.delete()
    with pytest.raises(ObjectDeleted):
        world.dcs.downloads.assembled(FILE, world.dcs.reader, "bytes=0-9")
    world.dcs.repository.before_keep = None
    world.assert_gone()


def test_a_staged_report_racing_the_deletion_removes_its_copy(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.dcs.register()
    mark_staged = world.dcs.repository.mark_staged

    def deleted_first(file_id: str, now: datetime) -> bool:  # the copy checked, then deleted
        world.delete()
        return mark_staged(file_id, now)

    monkeypatch.setattr(world.dcs.repository, "mark_staged", deleted_first)
    assert world.dcs.stage() is False
    world.assert_gone()


def test_an_unknown_file_stays_unknown_and_a_deleted_one_is_told_apart(world: World) -> None:
    world.dcs.register("kept")
    world.delete()
    with pytest.raises(NoSuchObject) as caught:
        world.dcs.downloads.drs_object("never-heard-of", world.dcs.reader)
    assert caught.value.exception_id == "noSuchObject"
    world.assert_gone()
    assert world.dcs.repository.get("kept").state != DELETED
