"""The shared fakes keep their ports' contracts (what the cores' unit tests rely on)."""

from __future__ import annotations

import hashlib

import pytest

from shared.crypt import c4gh
from shared.crypt.checksums import multipart_etag
from shared.crypt.keys import generate_keypair
from shared.events import FileDeletionRequested
from shared.ports import (
    KeyStoreRejected,
    KeyStoreUnavailable,
    ObjectNotFound,
    SecretExists,
    SecretNotFound,
)
from tests.fakes import (
    InMemoryKeyStore,
    InMemorySecretStore,
    InMemoryStorage,
    RecordingPublisher,
)


def test_storage_multipart_like_s3() -> None:
    storage = InMemoryStorage()
    upload_id = storage.create_multipart("b", "k")
    etags = [storage.upload_part("b", "k", upload_id, n, bytes([n]) * 10) for n in (1, 2)]
    assert [p.number for p in storage.list_parts("b", "k", upload_id)] == [1, 2]
    etag = storage.complete_multipart("b", "k", upload_id, list(zip((1, 2), etags, strict=True)))
    assert etag == multipart_etag(etags)
    assert storage.get_range("b", "k", 9, 10) == b"\x01\x02"
    with pytest.raises(ObjectNotFound):
        storage.list_parts("b", "k", upload_id)
    copy_id = storage.create_multipart("c", "k2")
    storage.upload_part_copy("b", "k", "c", "k2", copy_id, 1, 5, 14)
    storage.complete_multipart(
        "c", "k2", copy_id, [(1, storage.list_parts("c", "k2", copy_id)[0].etag)]
    )
    assert storage.get_range("c", "k2", 0, 100) == bytes([1]) * 5 + bytes([2]) * 5
    storage.delete("b", "k")
    assert storage.head("b", "k") is None


def test_publisher_records_type_and_key() -> None:
    publisher = RecordingPublisher()
    publisher.publish(FileDeletionRequested(file_id="f", requested_by="operator"))
    assert publisher.events == [
        ("FileDeletionRequested", {"file_id": "f", "requested_by": "operator", "reason": ""})
    ]


def test_secret_store_writes_once() -> None:
    store = InMemorySecretStore()
    store.create("p", {"v": "1"})
    with pytest.raises(SecretExists):
        store.create("p", {"v": "2"})
    assert store.read("p") == {"v": "1"}


def test_key_store_round_trip() -> None:
    archive_private, archive_public = generate_keypair()
    storage = InMemoryStorage()
    keys = InMemoryKeyStore(archive_private, storage)
    session = c4gh.new_session_key()
    writer_private, _ = generate_keypair()
    header = c4gh.make_header(session, writer_private, archive_public)
    with pytest.raises(KeyStoreRejected, match="noInterrogation"):
        keys.create_secret("file-1", "pk")  # not in the inbox
    storage.put("inbox", "file-1", header + b"body")
    created = keys.create_secret("file-1", "pk")
    assert created.submitter_secret == session and created.offset == len(header)
    assert keys.create_secret("file-1", "pk") == created  # one secret per file
    reader_private, reader_public = generate_keypair()
    with pytest.raises(KeyStoreUnavailable):  # not registered yet
        keys.envelope(created.secret_id, reader_public, "wot")
    keys.mark_registered("file-1")
    with pytest.raises(KeyStoreRejected, match="workOrderRefused"):
        keys.envelope(created.secret_id, reader_public, "")
    envelope = keys.envelope(created.secret_id, reader_public, "wot")
    opened, _ = c4gh.parse_header(envelope, reader_private)
    assert opened == [created.new_secret]
    assert keys.forget_file("file-1") is True
    with pytest.raises(SecretNotFound):
        keys.stored_secret(created.secret_id)
    with pytest.raises(KeyStoreRejected, match="fileDeleted"):
        keys.create_secret("file-1", "pk")
    storage.put("inbox", "file-2", hashlib.sha256(b"x").digest())
    with pytest.raises(KeyStoreRejected):
        keys.create_secret("file-2", "pk")
