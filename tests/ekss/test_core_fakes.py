"""The EKSS core with the secret store in memory: fast, no stack, no Vault."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import datetime

import pytest

from functions.ekss.core import SecretKeeper
from functions.ekss.deletion import FileDeletion
from functions.ekss.model import FILE_SECRET_NAMESPACE, MAX_FILE_PART, file_secret_id
from shared.crypt import c4gh
from shared.crypt.keys import generate_keypair
from shared.errors import ServiceError
from shared.events import FileDeletionRequested
from shared.ports import KeyStoreRejected, SecretExists, SecretNotFound, SecretStoreUnavailable
from tests.ekss.helpers import encrypt_upload
from tests.fakes import InMemoryKeyStore, InMemorySecretStore, RecordingPublisher

ARCHIVE_PRIVATE, ARCHIVE_PUBLIC = generate_keypair()
PLAIN = os.urandom(70_000)
PATH = "fs/ekss/secrets"


class _ArchiveKey:
    def __init__(self, key: bytes = ARCHIVE_PRIVATE) -> None:
        self.key = key
        self.reads = 0

    def private_key(self) -> bytes:
        self.reads += 1
        return self.key


class _DownOnWrite(InMemorySecretStore):
    """Writes land, then the answer is lost: the store seems down."""

    def create(self, path: str, data: dict[str, str]) -> None:
        super().create(path, data)
        raise SecretStoreUnavailable("connection reset")


def _keeper(store: InMemorySecretStore | None = None, **kwargs) -> SecretKeeper:
    return SecretKeeper(store or InMemorySecretStore(), _ArchiveKey(), **kwargs)


def _upload(plain: bytes = PLAIN) -> tuple[bytes, bytes, bytes]:
    """(submitter public key, first bytes, whole file) of an upload to the archive."""
    private, public = generate_keypair()
    data = encrypt_upload(plain, private, ARCHIVE_PUBLIC)
    return public, data[:2000], data


def _refused(call, exception_id: str, status: int) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    assert (caught.value.exception_id, caught.value.status) == (exception_id, status)
    return caught.value


def test_one_secret_stored_per_write() -> None:
    store = InMemorySecretStore()
    keeper = _keeper(store)
    public, part, data = _upload()
    first = keeper.create_secret(public, part)
    second = keeper.create_secret(public, part)
    assert first.secret_id != second.secret_id and first.new_secret != second.new_secret
    assert store.secrets == {
        f"{PATH}/{first.secret_id}": {"secret": base64.b64encode(first.new_secret).decode()},
        f"{PATH}/{second.secret_id}": {"secret": base64.b64encode(second.new_secret).decode()},
    }
    assert first.offset == 124 and first.submitter_secret == second.submitter_secret
    assert c4gh.decrypt_body(data[first.offset :], [first.submitter_secret]) == PLAIN


def test_envelope_opens_to_the_stored_secret() -> None:
    keeper = _keeper()
    created = keeper.create_secret(*_upload()[:2])
    reader_private, reader_public = generate_keypair()
    sessions, length = c4gh.parse_header(
        keeper.envelope(created.secret_id, reader_public), reader_private
    )
    assert (sessions, length) == ([created.new_secret], 124)


def test_unknown_secret() -> None:
    keeper = _keeper()
    _refused(
        lambda: keeper.envelope(str(uuid.uuid4()), generate_keypair()[1]), "secretNotFound", 404
    )


def test_delete_is_idempotent() -> None:
    store = InMemorySecretStore()
    keeper = _keeper(store)
    created = keeper.create_secret(*_upload()[:2])
    keeper.delete(created.secret_id.upper())  # any spelling of the UUID
    keeper.delete(created.secret_id)
    assert store.secrets == {}
    reader = generate_keypair()[1]
    _refused(lambda: keeper.envelope(created.secret_id, reader), "secretNotFound", 404)


def _other_writer() -> tuple[bytes, bytes]:
    return generate_keypair()[1], _upload()[1]


def _other_recipient() -> tuple[bytes, bytes]:
    private, public = generate_keypair()
    return public, encrypt_upload(PLAIN, private, generate_keypair()[1])[:2000]


@pytest.mark.parametrize(
    ("request_", "exception_id"),
    [
        (lambda: (generate_keypair()[1], b"not crypt4gh at all, not at all"), "notCrypt4gh"),
        (lambda: (_upload()[0], _upload()[1][:50]), "headerTruncated"),
        (_other_recipient, "wrongArchiveKey"),
        (_other_writer, "submitterKeyMismatch"),
    ],
    ids=["not-crypt4gh", "truncated", "other-recipient", "other-writer"],
)
def test_bad_headers_are_refused_and_nothing_stored(request_, exception_id: str) -> None:
    store = InMemorySecretStore()
    keeper = _keeper(store)
    public, part = request_()
    _refused(lambda: keeper.create_secret(public, part), exception_id, 400)
    assert store.secrets == {}


def test_truncated_header_says_how_much_is_needed() -> None:
    public, part, _ = _upload()
    refusal = _refused(lambda: _keeper().create_secret(public, part[:100]), "headerTruncated", 400)
    assert refusal.data == {"received": 100, "needed_at_least": 124}


def test_bad_input_never_reads_the_archive_key() -> None:
    archive = _ArchiveKey()
    keeper = SecretKeeper(InMemorySecretStore(), archive)
    _refused(lambda: keeper.create_secret(b"k" * 32, b"x" * 10), "notCrypt4gh", 400)
    too_large = b"\0" * (MAX_FILE_PART + 1)
    _refused(lambda: keeper.create_secret(b"k" * 32, too_large), "filePartTooLarge", 413)
    assert archive.reads == 0


def test_taken_id_is_drawn_again() -> None:
    store = InMemorySecretStore()
    taken, fresh = str(uuid.uuid4()), str(uuid.uuid4())
    store.create(f"{PATH}/{taken}", {"secret": "earlier"})
    ids = iter([taken, fresh])
    created = _keeper(store, new_id=lambda: next(ids)).create_secret(*_upload()[:2])
    assert created.secret_id == fresh
    assert store.secrets[f"{PATH}/{taken}"] == {"secret": "earlier"}


def test_store_down_on_write_leaves_nothing() -> None:
    store = _DownOnWrite()
    keeper = _keeper(store)
    _refused(lambda: keeper.create_secret(*_upload()[:2]), "secretStoreUnavailable", 503)
    assert store.secrets == {}


def test_path_like_ids_are_refused() -> None:
    keeper = _keeper()
    for bad in ("..", "../archive-keys/archive", ""):
        _refused(lambda bad=bad: keeper.delete(bad), "invalidSecretId", 422)


# ---------------------------------------------------------------- one secret per file


def _secret_path(file_id: str) -> str:
    return f"{PATH}/{file_secret_id(uuid.UUID(file_id))}"


def test_one_secret_per_file() -> None:
    store = InMemorySecretStore()
    keeper = _keeper(store)
    file_id = str(uuid.uuid4())
    public, part, data = _upload()
    first = keeper.create_secret(public, part, file_id)
    again = keeper.create_secret(public, part, file_id.upper())  # any spelling of the UUID
    assert (again.secret_id, again.new_secret) == (first.secret_id, first.new_secret)
    assert again.submitter_secret == first.submitter_secret  # opened from the header again
    assert c4gh.decrypt_body(data[again.offset :], [again.submitter_secret]) == PLAIN
    assert first.secret_id == str(uuid.uuid5(FILE_SECRET_NAMESPACE, file_id))
    assert store.secrets == {
        _secret_path(file_id): {"secret": base64.b64encode(first.new_secret).decode()}
    }
    other = keeper.create_secret(public, part, str(uuid.uuid4()))
    assert other.secret_id != first.secret_id and other.new_secret != first.new_secret


def test_a_file_id_must_be_a_uuid() -> None:
    store = InMemorySecretStore()
    public, part, _ = _upload()
    _refused(lambda: _keeper(store).create_secret(public, part, "../x"), "invalidFileId", 422)
    assert store.secrets == {}


def test_store_down_after_the_write_keeps_the_files_secret_for_the_retry() -> None:
    store = _DownOnWrite()
    keeper = _keeper(store)
    file_id = str(uuid.uuid4())
    public, part, _ = _upload()
    _refused(lambda: keeper.create_secret(public, part, file_id), "secretStoreUnavailable", 503)
    [(path, stored)] = store.secrets.items()  # not taken back: another call may be using it
    retried = keeper.create_secret(public, part, file_id)  # the write finds it and returns it
    assert path == _secret_path(file_id)
    assert stored == {"secret": base64.b64encode(retried.new_secret).decode()}


class _RemovedBeforeTheRead(InMemorySecretStore):
    """The path is taken at the write and gone at the read (a DELETE by id in between)."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = 1

    def create(self, path: str, data: dict[str, str]) -> None:
        if self.lost:
            self.lost -= 1
            raise SecretExists(path)
        super().create(path, data)


def test_a_secret_removed_in_between_is_stored_anew() -> None:
    store = _RemovedBeforeTheRead()
    file_id = str(uuid.uuid4())
    created = _keeper(store).create_secret(*_upload()[:2], file_id)
    assert store.secrets == {
        _secret_path(file_id): {"secret": base64.b64encode(created.new_secret).decode()}
    }


# ---------------------------------------------------------------- deletion of a file


def test_forgetting_a_file_leaves_a_tombstone_only() -> None:
    store = InMemorySecretStore()
    keeper = _keeper(store)
    file_id = str(uuid.uuid4())
    public, part, _ = _upload()
    created = keeper.create_secret(public, part, file_id)
    assert keeper.forget_file(file_id) is True
    [(path, tomb)] = store.secrets.items()
    assert path == _secret_path(file_id) and list(tomb) == ["deleted"]
    assert datetime.fromisoformat(tomb["deleted"]).tzinfo is not None
    refusal = _refused(lambda: keeper.create_secret(public, part, file_id), "fileDeleted", 410)
    assert refusal.data == {"file_id": file_id}
    reader = generate_keypair()[1]
    _refused(lambda: keeper.envelope(created.secret_id, reader), "secretNotFound", 404)
    # twice: nothing more to remove, the tombstone stays as it was
    assert keeper.forget_file(file_id.upper()) is False
    assert store.secrets == {path: tomb}
    # a DELETE by secret id (IRS's failure path) keeps the tombstone too
    keeper.delete(created.secret_id)
    assert store.secrets == {path: tomb}
    _refused(lambda: keeper.create_secret(public, part, file_id), "fileDeleted", 410)
    # other files and secrets without a file id are not affected
    assert keeper.create_secret(public, part).secret_id != created.secret_id


def test_forgetting_a_file_before_its_secret_refuses_it_later() -> None:
    store = InMemorySecretStore()
    keeper = _keeper(store)
    file_id = str(uuid.uuid4())
    assert keeper.forget_file(file_id) is False
    assert list(store.secrets) == [_secret_path(file_id)]
    _refused(lambda: keeper.create_secret(*_upload()[:2], file_id), "fileDeleted", 410)
    assert "secret" not in store.secrets[_secret_path(file_id)]


def test_forgetting_a_file_id_that_is_no_uuid_holds_nothing() -> None:
    store = InMemorySecretStore()
    assert _keeper(store).forget_file("not-a-uuid") is False
    assert store.secrets == {}


class _CreateSlipsIn(InMemorySecretStore):
    """A concurrent create lands right after each of the first ``times`` deletions."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times

    def delete(self, path: str) -> None:
        super().delete(path)
        if self.times:
            self.times -= 1
            super().create(path, {"secret": base64.b64encode(os.urandom(32)).decode()})


def test_a_create_during_deletion_is_destroyed_again() -> None:
    store = _CreateSlipsIn(times=2)
    keeper = _keeper(store)
    file_id = str(uuid.uuid4())
    assert keeper.forget_file(file_id) is True  # the slipped-in secret was removed
    assert store.times == 0
    assert list(store.secrets[_secret_path(file_id)]) == ["deleted"]


def test_endless_creates_during_deletion_are_a_retryable_error() -> None:
    store = _CreateSlipsIn(times=1000)
    _refused(lambda: _keeper(store).forget_file(str(uuid.uuid4())), "secretContended", 503)


def test_the_deletion_handler_confirms_what_it_removed() -> None:
    store, publisher = InMemorySecretStore(), RecordingPublisher()
    keeper = _keeper(store)
    deletion = FileDeletion(keeper, publisher)
    file_id = str(uuid.uuid4())
    keeper.create_secret(*_upload()[:2], file_id)
    request = FileDeletionRequested(file_id=file_id, requested_by="operator", reason="consent")
    deletion.on_requested(request)
    deletion.on_requested(request)  # redelivered
    assert publisher.events == [
        (
            "FileDeletionConfirmed",
            {"file_id": file_id, "service": "ekss", "requested_by": "operator", "removed": r},
        )
        for r in (["secret"], [])
    ]
    assert list(store.secrets[_secret_path(file_id)]) == ["deleted"]


def test_the_deletion_handler_fails_for_a_retry_when_the_store_is_down() -> None:
    class _Down(InMemorySecretStore):
        def read(self, path: str) -> dict[str, str] | None:
            raise SecretStoreUnavailable("down")

    publisher = RecordingPublisher()
    deletion = FileDeletion(_keeper(_Down()), publisher)
    request = FileDeletionRequested(file_id=str(uuid.uuid4()), requested_by="operator")
    _refused(lambda: deletion.on_requested(request), "secretStoreUnavailable", 503)
    assert publisher.events == []  # confirmed only once removed


# ---------------------------------------------------------------- the fake keeps EKSS's ways


def test_in_memory_key_store_has_one_secret_per_file_and_forgets_files() -> None:
    keys = InMemoryKeyStore(ARCHIVE_PRIVATE)
    part = _upload()[1]
    first = keys.create_secret("pk", part, "file-1")
    assert keys.create_secret("pk", part, "file-1") == first
    assert keys.create_secret("pk", part).secret_id != first.secret_id
    assert keys.forget_file("file-1") is True and keys.forget_file("file-1") is False
    with pytest.raises(KeyStoreRejected) as caught:
        keys.create_secret("pk", part, "file-1")
    assert caught.value.exception_id == "fileDeleted"
    with pytest.raises(SecretNotFound):
        keys.new_secret(first.secret_id)
