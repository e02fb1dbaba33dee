"""The EKSS core with the secret store in memory: fast, no stack, no Vault."""

from __future__ import annotations

import base64
import os
import uuid

import pytest

from functions.ekss.core import SecretKeeper
from functions.ekss.model import MAX_FILE_PART
from shared.crypt import c4gh
from shared.crypt.keys import generate_keypair
from shared.errors import ServiceError
from shared.ports import SecretStoreUnavailable
from tests.ekss.helpers import encrypt_upload
from tests.fakes import InMemorySecretStore

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
