"""The EKSS core with the secret store and the inbox in memory: fast, no stack, no Vault."""

from __future__ import annotations

import base64
import os
import time
import uuid
from datetime import datetime

import pytest

from functions.ekss.core import SecretKeeper
from functions.ekss.deletion import FileDeletion
from functions.ekss.model import FILE_SECRET_NAMESPACE, file_secret_id
from functions.ekss.orders import EnvelopeOrders
from shared.crypt import c4gh
from shared.crypt.keys import encode_key, generate_keypair
from shared.errors import ServiceError
from shared.events import FileDeletionRequested, FileInterrogationFailure
from shared.ports import SecretExists, SecretStoreUnavailable
from shared.tokens import (
    AUDIENCE_DOWNLOAD,
    AUDIENCE_UPLOAD,
    TokenSigner,
    TokenVerifier,
    generate_signing_key,
)
from tests.ekss.helpers import encrypt_upload
from tests.fakes import InMemorySecretStore, InMemoryStorage, RecordingPublisher

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


class _CountingInbox(InMemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[int, int]] = []

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        self.reads.append((start, end))
        return super().get_range(bucket, key, start, end)


INBOX = _CountingInbox()


def _keeper(
    store: InMemorySecretStore | None = None, archive: _ArchiveKey | None = None, **kwargs
) -> SecretKeeper:
    return SecretKeeper(
        store or InMemorySecretStore(), archive or _ArchiveKey(), INBOX, "inbox", **kwargs
    )


def _upload(data: bytes | None = None) -> tuple[str, bytes, bytes]:
    """(file id, submitter public key, whole file) of an upload in the inbox."""
    private, public = generate_keypair()
    data = encrypt_upload(PLAIN, private, ARCHIVE_PUBLIC) if data is None else data
    file_id = str(uuid.uuid4())
    INBOX.put("inbox", file_id, data)
    return file_id, public, data


def _refused(call, exception_id: str, status: int) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    assert (caught.value.exception_id, caught.value.status) == (exception_id, status)
    return caught.value


def _secret_path(file_id: str) -> str:
    return f"{PATH}/{file_secret_id(uuid.UUID(file_id))}"


def _b64(secret: bytes) -> str:
    return base64.b64encode(secret).decode()


# ---------------------------------------------------------------- one secret per file


def test_one_secret_per_file() -> None:
    store = InMemorySecretStore()
    keeper = _keeper(store)
    file_id, public, data = _upload()
    first = keeper.create_secret(file_id, public)
    again = keeper.create_secret(file_id.upper(), public)  # any spelling of the UUID
    assert (again.secret_id, again.new_secret) == (first.secret_id, first.new_secret)
    assert again.submitter_secret == first.submitter_secret  # opened from the header again
    assert first.offset == 124
    assert c4gh.decrypt_body(data[again.offset :], [again.submitter_secret]) == PLAIN
    assert first.secret_id == str(uuid.uuid5(FILE_SECRET_NAMESPACE, file_id))
    assert store.secrets == {_secret_path(file_id): {"secret": _b64(first.new_secret)}}
    other_id, other_public, _ = _upload()
    other = keeper.create_secret(other_id, other_public)
    assert other.secret_id != first.secret_id and other.new_secret != first.new_secret


def test_a_file_not_in_the_inbox_is_not_under_interrogation() -> None:
    store, archive = InMemorySecretStore(), _ArchiveKey()
    keeper = _keeper(store, archive)
    _refused(
        lambda: keeper.create_secret(str(uuid.uuid4()), generate_keypair()[1]),
        "noInterrogation",
        404,
    )
    assert store.secrets == {} and archive.reads == 0


def test_a_file_id_must_be_a_uuid() -> None:
    store = InMemorySecretStore()
    _refused(lambda: _keeper(store).create_secret("../x", b"k" * 32), "invalidFileId", 422)
    assert store.secrets == {}


def _other_writer() -> tuple[str, bytes]:
    file_id, _, _ = _upload()
    return file_id, generate_keypair()[1]


def _other_recipient() -> tuple[str, bytes]:
    private, public = generate_keypair()
    file_id, _, _ = _upload(encrypt_upload(PLAIN, private, generate_keypair()[1]))
    return file_id, public


def _prefix(size: int) -> tuple[str, bytes]:
    private, public = generate_keypair()
    file_id, _, _ = _upload(encrypt_upload(PLAIN, private, ARCHIVE_PUBLIC)[:size])
    return file_id, public


@pytest.mark.parametrize(
    ("request_", "exception_id"),
    [
        (lambda: (_upload(b"not crypt4gh at all, not at all")[0], b"k" * 32), "notCrypt4gh"),
        (lambda: (_upload(b"")[0], b"k" * 32), "headerTruncated"),
        (lambda: _prefix(50), "headerTruncated"),
        (_other_recipient, "wrongArchiveKey"),
        (_other_writer, "submitterKeyMismatch"),
    ],
    ids=["not-crypt4gh", "empty", "truncated", "other-recipient", "other-writer"],
)
def test_bad_headers_are_refused_and_nothing_stored(request_, exception_id: str) -> None:
    store = InMemorySecretStore()
    keeper = _keeper(store)
    file_id, public = request_()
    _refused(lambda: keeper.create_secret(file_id, public), exception_id, 400)
    assert store.secrets == {}


def test_truncated_header_says_how_much_is_needed() -> None:
    file_id, public = _prefix(100)
    refusal = _refused(lambda: _keeper().create_secret(file_id, public), "headerTruncated", 400)
    assert refusal.data == {"received": 100, "needed_at_least": 124}


def test_bad_input_never_reads_the_archive_key() -> None:
    archive = _ArchiveKey()
    keeper = _keeper(archive=archive)
    file_id, _, _ = _upload(b"x" * 10)
    _refused(lambda: keeper.create_secret(file_id, b"k" * 32), "notCrypt4gh", 400)
    assert archive.reads == 0


def test_the_header_is_read_with_a_longer_probe_only_when_it_goes_on() -> None:
    keeper = _keeper(header_probes=(100, 4096))
    file_id, public, _ = _upload()
    INBOX.reads.clear()
    created = keeper.create_secret(file_id, public)
    assert INBOX.reads == [(0, 99), (0, 4095)] and created.offset == 124
    short = _keeper(header_probes=(200,))
    INBOX.reads.clear()
    short.create_secret(file_id, public)
    assert INBOX.reads == [(0, 199)]


def test_a_header_longer_than_the_last_probe_is_truncated() -> None:
    file_id, public, _ = _upload()
    refusal = _refused(
        lambda: _keeper(header_probes=(50, 100)).create_secret(file_id, public),
        "headerTruncated",
        400,
    )
    assert refusal.data == {"received": 100, "needed_at_least": 124}


def test_store_down_after_the_write_keeps_the_files_secret_for_the_retry() -> None:
    store = _DownOnWrite()
    keeper = _keeper(store)
    file_id, public, _ = _upload()
    _refused(lambda: keeper.create_secret(file_id, public), "secretStoreUnavailable", 503)
    [(path, stored)] = store.secrets.items()  # not taken back: another call may be using it
    retried = keeper.create_secret(file_id, public)  # the write finds it and returns it
    assert path == _secret_path(file_id)
    assert stored == {"secret": _b64(retried.new_secret)}


class _RemovedBeforeTheRead(InMemorySecretStore):
    """The path is taken at the write and gone at the read (a deletion in between)."""

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
    file_id, public, _ = _upload()
    created = _keeper(store).create_secret(file_id, public)
    assert store.secrets == {_secret_path(file_id): {"secret": _b64(created.new_secret)}}


# ---------------------------------------------------------------- registration, envelopes


def test_envelopes_only_once_the_file_is_registered() -> None:
    store = InMemorySecretStore()
    keeper = _keeper(store)
    file_id, public, _ = _upload()
    created = keeper.create_secret(file_id, public)
    reader_private, reader_public = generate_keypair()
    _refused(lambda: keeper.envelope(created.secret_id, reader_public), "fileNotRegistered", 404)
    assert keeper.mark_registered(file_id) is True
    assert keeper.mark_registered(file_id) is False  # redelivered: nothing changes
    stored = store.secrets[_secret_path(file_id)]
    assert stored["secret"] == _b64(created.new_secret) and set(stored) == {"secret", "registered"}
    assert datetime.fromisoformat(stored["registered"]).tzinfo is not None
    assert store.versions[_secret_path(file_id)] == 2
    sessions, length = c4gh.parse_header(
        keeper.envelope(created.secret_id, reader_public), reader_private
    )
    assert (sessions, length) == ([created.new_secret], 124)
    assert keeper.create_secret(file_id, public) == created  # still the file's one secret


def test_unknown_secret() -> None:
    keeper = _keeper()
    _refused(
        lambda: keeper.envelope(str(uuid.uuid4()), generate_keypair()[1]), "secretNotFound", 404
    )


def test_path_like_ids_are_refused() -> None:
    keeper = _keeper()
    for bad in ("..", "../archive-keys/archive", ""):
        _refused(lambda bad=bad: keeper.envelope(bad, b"k" * 32), "invalidSecretId", 422)


def test_registration_of_a_file_without_a_secret_or_deleted_changes_nothing() -> None:
    store = InMemorySecretStore()
    keeper = _keeper(store)
    assert keeper.mark_registered(str(uuid.uuid4())) is False
    assert keeper.mark_registered("not-a-uuid") is False
    assert store.secrets == {}
    file_id, public, _ = _upload()
    keeper.create_secret(file_id, public)
    keeper.forget_file(file_id)
    assert keeper.mark_registered(file_id) is False
    assert list(store.secrets[_secret_path(file_id)]) == ["deleted"]  # the tombstone stays


class _WriteInBetween(InMemorySecretStore):
    """Another write lands between the registration's read and its check-and-set write."""

    def __init__(self, write: dict[str, str]) -> None:
        super().__init__()
        self.write: dict[str, str] | None = write

    def replace(self, path: str, data: dict[str, str], version: int) -> None:
        if self.write is not None:
            write, self.write = self.write, None
            super().replace(path, write, version)
        super().replace(path, data, version)


def test_registration_never_overwrites_a_write_it_did_not_see() -> None:
    # a deletion's tombstone in between: the registration sees it on its second look
    store = _WriteInBetween({"deleted": "2026-01-01T00:00:00+00:00"})
    keeper = _keeper(store)
    file_id, public, _ = _upload()
    keeper.create_secret(file_id, public)
    assert keeper.mark_registered(file_id) is False
    assert store.secrets[_secret_path(file_id)] == {"deleted": "2026-01-01T00:00:00+00:00"}


# ---------------------------------------------------------------- deletion of a file


def test_forgetting_a_file_leaves_a_tombstone_only() -> None:
    store = InMemorySecretStore()
    keeper = _keeper(store)
    file_id, public, _ = _upload()
    created = keeper.create_secret(file_id, public)
    keeper.mark_registered(file_id)
    assert keeper.forget_file(file_id) is True
    [(path, tomb)] = store.secrets.items()
    assert path == _secret_path(file_id) and list(tomb) == ["deleted"]
    assert datetime.fromisoformat(tomb["deleted"]).tzinfo is not None
    refusal = _refused(lambda: keeper.create_secret(file_id, public), "fileDeleted", 410)
    assert refusal.data == {"file_id": file_id}
    reader = generate_keypair()[1]
    _refused(lambda: keeper.envelope(created.secret_id, reader), "secretNotFound", 404)
    # twice: nothing more to remove, the tombstone stays as it was
    assert keeper.forget_file(file_id.upper()) is False
    assert store.secrets == {path: tomb}
    # other files are not affected
    other_id, other_public, _ = _upload()
    assert keeper.create_secret(other_id, other_public).secret_id != created.secret_id


def test_forgetting_a_file_before_its_secret_refuses_it_later() -> None:
    store = InMemorySecretStore()
    keeper = _keeper(store)
    file_id, public, _ = _upload()
    assert keeper.forget_file(file_id) is False
    assert list(store.secrets) == [_secret_path(file_id)]
    _refused(lambda: keeper.create_secret(file_id, public), "fileDeleted", 410)
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
            super().create(path, {"secret": _b64(os.urandom(32))})


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
    file_id, public, _ = _upload()
    keeper.create_secret(file_id, public)
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


def test_a_failed_interrogation_loses_its_secret_without_a_confirmation() -> None:
    store, publisher = InMemorySecretStore(), RecordingPublisher()
    keeper = _keeper(store)
    deletion = FileDeletion(keeper, publisher)
    file_id, public, _ = _upload()
    keeper.create_secret(file_id, public)
    failure = FileInterrogationFailure(file_id=file_id, box_id="box", reason="damaged")
    deletion.on_failure(failure)
    deletion.on_failure(failure)  # redelivered
    assert list(store.secrets[_secret_path(file_id)]) == ["deleted"]
    assert publisher.events == []
    _refused(lambda: keeper.create_secret(file_id, public), "fileDeleted", 410)


def test_a_failure_before_the_secret_keeps_it_from_being_created() -> None:
    keeper = _keeper()
    file_id, public, _ = _upload()
    FileDeletion(keeper, RecordingPublisher()).on_failure(
        FileInterrogationFailure(file_id=file_id, box_id="box", reason="late")
    )
    _refused(lambda: keeper.create_secret(file_id, public), "fileDeleted", 410)


def test_the_deletion_handler_fails_for_a_retry_when_the_store_is_down() -> None:
    class _Down(InMemorySecretStore):
        def read(self, path: str) -> dict[str, str] | None:
            raise SecretStoreUnavailable("down")

    publisher = RecordingPublisher()
    deletion = FileDeletion(_keeper(_Down()), publisher)
    request = FileDeletionRequested(file_id=str(uuid.uuid4()), requested_by="operator")
    _refused(lambda: deletion.on_requested(request), "secretStoreUnavailable", 503)
    assert publisher.events == []  # confirmed only once removed


# ---------------------------------------------------------------- the work order check

SIGNING_PRIVATE, SIGNING_PUBLIC = generate_signing_key()
ORDERS = EnvelopeOrders(TokenVerifier(SIGNING_PUBLIC))


def _wot(file_id: str, key: bytes, *, audience: str = AUDIENCE_DOWNLOAD, **claims) -> str:
    signer = TokenSigner(SIGNING_PRIVATE, lifetime_seconds=claims.pop("lifetime", 30))
    body = {
        "type": "download",
        "file_id": file_id,
        "user_public_crypt4gh_key": encode_key(key),
        **claims,
    }
    return signer.sign(body, audience, now=claims.pop("now", None))


def test_a_download_order_for_the_file_and_key_passes() -> None:
    file_id, key = str(uuid.uuid4()), generate_keypair()[1]
    secret_id = file_secret_id(uuid.UUID(file_id))
    ORDERS.check(_wot(file_id, key), secret_id, key)
    ORDERS.check(_wot(file_id, key), secret_id.upper(), key)  # any spelling of the id


def _expired(file_id: str, key: bytes) -> str:
    signer = TokenSigner(SIGNING_PRIVATE, lifetime_seconds=30)
    claims = {"type": "download", "file_id": file_id, "user_public_crypt4gh_key": encode_key(key)}
    return signer.sign(claims, AUDIENCE_DOWNLOAD, now=time.time() - 3600)


@pytest.mark.parametrize(
    "case",
    ["none", "expired", "upload-audience", "upload-type", "other-file", "other-key", "forged"],
)
def test_every_other_order_is_refused_alike(case: str) -> None:
    file_id, key = str(uuid.uuid4()), generate_keypair()[1]
    other_private, _ = generate_signing_key()
    token = {
        "none": lambda: None,
        "expired": lambda: _expired(file_id, key),
        "upload-audience": lambda: _wot(file_id, key, audience=AUDIENCE_UPLOAD),
        "upload-type": lambda: _wot(file_id, key, type="upload"),
        "other-file": lambda: _wot(str(uuid.uuid4()), key),
        "other-key": lambda: _wot(file_id, generate_keypair()[1]),
        "forged": lambda: TokenSigner(other_private).sign(
            {"type": "download", "file_id": file_id, "user_public_crypt4gh_key": encode_key(key)},
            AUDIENCE_DOWNLOAD,
        ),
    }[case]()
    refusal = _refused(
        lambda: ORDERS.check(token, file_secret_id(uuid.UUID(file_id)), key),
        "workOrderRefused",
        403,
    )
    assert refusal.data == {}


def test_a_malformed_secret_id_is_refused_before_the_order() -> None:
    _refused(lambda: ORDERS.check(None, "../archive-keys/x", b"k" * 32), "invalidSecretId", 422)
