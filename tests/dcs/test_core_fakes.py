"""The DCS core with its table, outbox, topics and key store in memory: fast, no stack.

The same behaviours are proven over the real stack by the other tests here; these pin the
core's own decisions (states, refusals, idempotency, what is stored and published).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.dcs import wire
from functions.dcs.config import POLICY_SETTINGS
from functions.dcs.core import Assembled, DownloadController, DownloadPolicy, Served, Wait
from functions.dcs.errors import EventsDown, KeyStoreDown, NoSuchObject
from functions.dcs.model import REGISTERED, STAGED, STAGING, Reader
from shared.crypt import c4gh
from shared.crypt.keys import generate_keypair
from shared.events import FileInternallyRegistered, FileStagedForDownload, ManifestRef
from shared.ports import KeyStoreUnavailable
from tests.fakes import InMemoryKeyStore, InMemoryStorage, RecordingPublisher
from tests.fakes.dcs import InMemoryDrsRepository, policy

OUTBOX = "outbox"
SECRET_ID = "secret-1"  # EKSS's id of the file's secret
SIZE = 5000  # of the header-less content object
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = EPOCH

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)  # every reading later than the one before
        return self.now


@dataclass
class Dcs:
    repository: InMemoryDrsRepository
    storage: InMemoryStorage
    publisher: RecordingPublisher
    keys: InMemoryKeyStore
    downloads: DownloadController
    reader: Reader
    reader_private: bytes
    content: bytes

    def register(self, file_id: str = "file-1", secret_id: str = SECRET_ID) -> None:
        self.keys.secrets.setdefault(secret_id, c4gh.new_session_key())
        self.keys.registered.add(secret_id)  # EKSS heard of the registration too
        self.downloads.on_registered(registered(file_id, secret_id))

    def stage(self, file_id: str = "file-1") -> bool:
        self.storage.put(OUTBOX, f"object-{file_id}", self.content)
        return self.downloads.on_staged(staged(file_id))


def registered(
    file_id: str, secret_id: str = SECRET_ID, size: int = SIZE
) -> FileInternallyRegistered:
    return FileInternallyRegistered(
        file_id=file_id,
        box_id="box",
        staged_object_id="staged",
        staging_bucket="staging",
        secret_id=secret_id,
        offset=124,
        encrypted_part_size=size,
        parts_manifest=ManifestRef(
            bucket="permanent",
            key=f"manifests/object-{file_id}.json",
            sha256="b" * 64,
            size=1,
            parts=1,
        ),
        decrypted_sha256="a" * 64,
        decrypted_size=size - 28,
        encrypted_size=size,
        object_id=f"object-{file_id}",
        bucket="permanent",
    )


def staged(file_id: str) -> FileStagedForDownload:
    return FileStagedForDownload(
        file_id=file_id,
        target_object_id=f"object-{file_id}",
        target_bucket=OUTBOX,
        decrypted_sha256="a" * 64,
    )


def build_dcs(**overrides: Any) -> Dcs:
    """DCS's core on fresh fakes (the deletion tests build on it too); ``overrides``
    change the policy."""
    archive_private, _ = generate_keypair()
    reader_private, reader_public = generate_keypair()
    repository, storage = InMemoryDrsRepository(), InMemoryStorage()
    publisher, keys = RecordingPublisher(), InMemoryKeyStore(archive_private)
    downloads = DownloadController(
        repository=repository,
        storage=storage,
        publisher=publisher,
        keys=keys,
        policy=policy(OUTBOX, "dcs.example.org", **overrides),
        clock=Clock(),
    )
    reader = Reader(reader_public, "user-1", "package-1", "the-reader-s-wot")
    return Dcs(
        repository, storage, publisher, keys, downloads, reader, reader_private, os.urandom(SIZE)
    )


@pytest.fixture
def dcs() -> Dcs:
    return build_dcs()


def test_polls_wait_while_staging_and_ask_for_the_copy_once(dcs: Dcs) -> None:
    dcs.register()
    answers = [dcs.downloads.drs_object("file-1", dcs.reader) for _ in range(3)]
    assert answers == [Wait(dcs.downloads.policy.retry_after(SIZE), SIZE)] * 3
    [request] = dcs.publisher.of("NonStagedFileRequested")
    assert request["target_bucket"] == OUTBOX and request["target_object_id"] == "object-file-1"
    assert dcs.repository.get("file-1").state == STAGING
    assert dcs.publisher.of("FileDownloadServed") == []


def test_served_after_staging_with_the_drs_body_and_an_audit_event(dcs: Dcs) -> None:
    dcs.register()
    assert isinstance(dcs.downloads.drs_object("file-1", dcs.reader), Wait)
    assert dcs.stage() is True
    assert dcs.repository.get("file-1").state == STAGED
    served = dcs.downloads.drs_object("file-1", dcs.reader)
    assert isinstance(served, Served)
    body = wire.drs_object(served)
    assert body["self_uri"] == "drs://dcs.example.org/file-1"
    assert body["size"] == SIZE
    assert body["checksums"] == [{"type": "sha-256", "checksum": "a" * 64}]
    assert body["access_methods"][0]["access_url"]["url"].startswith("memory://outbox/")
    [audit] = dcs.publisher.of("FileDownloadServed")
    assert audit["context"] == "user_id=user-1;work_package_id=package-1"
    assert audit["target_object_id"] == "object-file-1"


def test_the_envelope_is_for_the_reader_and_the_same_every_time(dcs: Dcs) -> None:
    dcs.register()
    first = dcs.downloads.envelope("file-1", dcs.reader)
    assert dcs.downloads.envelope("file-1", dcs.reader) == first
    keys, size = c4gh.parse_header(first, dcs.reader_private)
    assert keys == [dcs.keys.secrets[SECRET_ID]] and size == len(first)
    _, other_key = generate_keypair()
    other_reader = Reader(other_key, "user-2", "package-2", "another-wot")
    assert dcs.downloads.envelope("file-1", other_reader) != first
    # EKSS was asked with each reader's own work order token, which it checks again
    assert dcs.keys.tokens == ["the-reader-s-wot", "another-wot"]


def test_the_assembled_file_is_envelope_then_content(dcs: Dcs) -> None:
    dcs.register()
    dcs.stage()
    envelope = dcs.downloads.envelope("file-1", dcs.reader)
    cut = len(envelope)
    answer = dcs.downloads.assembled("file-1", dcs.reader, f"bytes={cut - 4}-{cut + 3}")
    assert isinstance(answer, Assembled)
    assert answer.data == envelope[-4:] + dcs.content[:4]
    assert answer.total == cut + SIZE
    assert answer.served.content_range(answer.total) == f"bytes {cut - 4}-{cut + 3}/{cut + SIZE}"


@pytest.mark.parametrize("use", ["drs_object", "envelope", "assembled"])
def test_an_unknown_file_is_refused(dcs: Dcs, use: str) -> None:
    calls = {
        "drs_object": lambda: dcs.downloads.drs_object("nothing", dcs.reader),
        "envelope": lambda: dcs.downloads.envelope("nothing", dcs.reader),
        "assembled": lambda: dcs.downloads.assembled("nothing", dcs.reader, None),
    }
    with pytest.raises(NoSuchObject) as caught:
        calls[use]()
    assert (caught.value.status, caught.value.exception_id) == (404, "noSuchObject")
    assert dcs.publisher.events == []


def test_a_repeated_registration_changes_nothing(dcs: Dcs) -> None:
    assert dcs.downloads.on_registered(registered("file-1")) is True
    dcs.downloads.drs_object("file-1", dcs.reader)  # now staging
    before = dcs.repository.get("file-1")
    assert dcs.downloads.on_registered(registered("file-1", "secret-2", size=9)) is False
    assert dcs.repository.get("file-1") == before


def test_staged_events_out_of_order_or_repeated_are_ignored(dcs: Dcs) -> None:
    assert dcs.downloads.on_staged(staged("file-1")) is False  # before its registration
    assert dcs.repository.get("file-1") is None
    dcs.register()
    assert dcs.downloads.on_staged(staged("file-1")) is False  # no copy in the outbox yet
    assert dcs.repository.get("file-1").state == REGISTERED
    assert dcs.stage() is True
    accessed = dcs.repository.get("file-1").last_accessed
    assert dcs.downloads.on_staged(staged("file-1")) is False  # a duplicate
    assert dcs.repository.get("file-1").last_accessed == accessed


def test_a_copy_of_the_wrong_size_is_not_staged(dcs: Dcs) -> None:
    dcs.register()
    dcs.storage.put(OUTBOX, "object-file-1", b"short")
    assert dcs.downloads.on_staged(staged("file-1")) is False
    assert dcs.repository.get("file-1").state == REGISTERED


def test_key_store_down_is_refused_as_such_and_nothing_is_kept(
    dcs: Dcs, monkeypatch: pytest.MonkeyPatch
) -> None:
    dcs.register()

    def down(secret_id: str, reader: bytes, work_order_token: str) -> bytes:
        raise KeyStoreUnavailable("connection refused")

    monkeypatch.setattr(dcs.keys, "envelope", down)
    with pytest.raises(KeyStoreDown) as caught:
        dcs.downloads.envelope("file-1", dcs.reader)
    assert (caught.value.status, caught.value.exception_id) == (503, "keyStoreUnavailable")
    assert dcs.repository.envelopes == {}


def test_a_deleted_secret_makes_the_file_unknown(dcs: Dcs) -> None:
    dcs.register()
    del dcs.keys.secrets[SECRET_ID]  # EKSS's part of a deletion came first
    with pytest.raises(NoSuchObject) as caught:
        dcs.downloads.envelope("file-1", dcs.reader)
    assert (caught.value.status, caught.value.exception_id) == (404, "fileDeleted")
    assert dcs.repository.envelopes == {}


def test_a_staging_request_not_published_is_undone(dcs: Dcs) -> None:
    dcs.register()
    dcs.publisher.fail = RuntimeError("SNS down")
    with pytest.raises(EventsDown) as caught:
        dcs.downloads.drs_object("file-1", dcs.reader)
    assert caught.value.exception_id == "eventPublishingFailed"
    assert dcs.repository.get("file-1").state == REGISTERED  # the next poll asks again
    dcs.publisher.fail = None
    assert isinstance(dcs.downloads.drs_object("file-1", dcs.reader), Wait)
    assert len(dcs.publisher.of("NonStagedFileRequested")) == 1


class FixedClock:
    """Time stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = EPOCH

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize(
    ("size", "patience_s"),
    [
        (SIZE, 600 + 1),  # small: the fixed timeout (600 s) and one second of copy
        (100 * 1024**3, 600 + 512),  # 100 GiB at the assumed 200 MiB/s: 512 s more
        (5 * 1024**4, 600 + 26_215),  # 5 TiB: about 7.4 hours, and still asked only once
    ],
)
def test_the_staging_timeout_grows_with_the_size(dcs: Dcs, size: int, patience_s: int) -> None:
    """A staging request is made again only when a copy at the slowest assumed rate would
    have finished: never while a long copy of a large file may still run."""
    clock = dcs.downloads.clock = FixedClock()
    dcs.downloads.on_registered(registered("big", size=size))
    requested = lambda: dcs.publisher.of("NonStagedFileRequested")  # noqa: E731
    wait = dcs.downloads.drs_object("big", dcs.reader)
    assert wait == Wait(dcs.downloads.policy.retry_after(size), size)
    assert len(requested()) == 1
    assert dcs.downloads.policy.staging_timeout(size) == timedelta(seconds=patience_s)
    clock.now = EPOCH + timedelta(seconds=patience_s - 1)
    assert isinstance(dcs.downloads.drs_object("big", dcs.reader), Wait)
    assert len(requested()) == 1, "asked again while the copy may still run"
    clock.now = EPOCH + timedelta(seconds=patience_s)
    assert isinstance(dcs.downloads.drs_object("big", dcs.reader), Wait)
    assert len(requested()) == 2, "an unanswered request is made again after the timeout"
    assert dcs.repository.get("big").staging_requested_at == clock.now
    assert isinstance(dcs.downloads.drs_object("big", dcs.reader), Wait)
    assert len(requested()) == 2  # and then the timeout runs from the new request


def test_the_copy_rate_of_the_staging_timeout_is_a_setting() -> None:
    slow = policy(OUTBOX, "host", staging_timeout_s=60, staging_copy_bytes_per_s=1000)
    assert slow.staging_timeout(None) == timedelta(seconds=60)
    assert slow.staging_timeout(1) == timedelta(seconds=61)
    assert slow.staging_timeout(10**6) == timedelta(seconds=60 + 1000)


def test_the_clean_up_removes_unused_copies_only(dcs: Dcs) -> None:
    for file_id in ("old", "used"):
        dcs.register(file_id)
        dcs.stage(file_id)
    max_age = timedelta(seconds=dcs.downloads.policy.outbox_max_age_s)
    dcs.downloads.clock.now += max_age  # type: ignore[attr-defined]
    assert isinstance(dcs.downloads.drs_object("used", dcs.reader), Served)
    assert dcs.downloads.clean_outbox() == {"removed": 1, "in_use": 0, "failed": 0}
    assert dcs.storage.keys(OUTBOX) == ["object-used"]
    assert dcs.repository.get("old").state == REGISTERED
    assert dcs.repository.get("used").state == STAGED


def test_every_policy_value_but_the_derived_ones_is_a_setting() -> None:
    names = {field.name for field in dataclasses.fields(DownloadPolicy)}
    assert set(POLICY_SETTINGS) == names - {"outbox_bucket", "drs_host"}
