"""One secret per file, its registration and a file's deletion, over the real Vault API (the
session stack's OpenBao), through the core, over HTTP, and through EKSS's queue of
FileDeletionRequested, FileInterrogationFailure and FileInternallyRegistered."""

from __future__ import annotations

import base64
import os
import time
import uuid
from typing import Any

import httpx
import hvac
import pytest

from functions.ekss.archive_keys import StoredArchiveKey
from functions.ekss.core import SecretKeeper
from functions.ekss.model import file_secret_id
from shared.adapters.vault import VaultSecretStore
from shared.crypt.keys import generate_keypair
from shared.errors import ServiceError
from shared.resources import queue_for
from tests.ekss.helpers import SECRETS_PATH, all_versions, b64, encrypt_upload, wait_for_secret
from tests.fakes import InMemoryStorage
from tests.support import EventStream, User, publish_event

PLAIN = os.urandom(70_000)
ARCHIVE_KEYS = "fs/ekss/archive-keys"


@pytest.fixture
def secrets_path() -> str:
    return f"fs/ekss-deletion-tests/{uuid.uuid4()}"


@pytest.fixture
def keeper(endpoints: dict[str, Any], secrets_path: str) -> SecretKeeper:
    store = VaultSecretStore(endpoints["vault_addr"], endpoints["vault_token"])
    return _keeper(store, secrets_path)


INBOX = InMemoryStorage()  # the cores here read headers from memory, secrets from Vault


def _keeper(store: VaultSecretStore, secrets_path: str) -> SecretKeeper:
    archive = StoredArchiveKey(store, ARCHIVE_KEYS, "archive")
    return SecretKeeper(store, archive, INBOX, "inbox", secrets_path=secrets_path)


def _upload(archive_public: bytes) -> tuple[str, bytes]:
    """(file id, submitter public key) of an upload in the (in-memory) inbox."""
    private, public = generate_keypair()
    file_id = str(uuid.uuid4())
    INBOX.put("inbox", file_id, encrypt_upload(PLAIN, private, archive_public))
    return file_id, public


def _refused(call, exception_id: str, status: int) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    assert (caught.value.exception_id, caught.value.status) == (exception_id, status)
    return caught.value


def _only_a_tombstone(vault: hvac.Client, path: str) -> None:
    """Every version Vault keeps at the path: just one, the tombstone, no key material."""
    versions = all_versions(vault, path)
    assert list(versions) == [1], versions  # earlier versions are gone, not soft-deleted
    assert list(versions[1] or {}) == ["deleted"]


# ---------------------------------------------------------------- the core on Vault


def test_one_secret_per_file(
    keeper: SecretKeeper, vault: hvac.Client, archive_public: bytes, secrets_path: str
) -> None:
    file_id, public = _upload(archive_public)
    first = keeper.create_secret(file_id, public)
    again = keeper.create_secret(file_id, public)
    assert (again.secret_id, again.new_secret) == (first.secret_id, first.new_secret)
    assert again.submitter_secret == first.submitter_secret
    assert first.secret_id == file_secret_id(uuid.UUID(file_id))
    versions = all_versions(vault, f"{secrets_path}/{first.secret_id}")
    assert versions == {1: {"secret": base64.b64encode(first.new_secret).decode()}}
    assert keeper.mark_registered(file_id) is True
    versions = all_versions(vault, f"{secrets_path}/{first.secret_id}")
    assert list(versions) == [1, 2] and versions[2]["secret"] == versions[1]["secret"]
    assert keeper.mark_registered(file_id) is False  # redelivered: no third version
    assert list(all_versions(vault, f"{secrets_path}/{first.secret_id}")) == [1, 2]


def test_forgetting_a_file_destroys_every_version(
    keeper: SecretKeeper, vault: hvac.Client, archive_public: bytes, secrets_path: str
) -> None:
    file_id, public = _upload(archive_public)
    created = keeper.create_secret(file_id, public)
    path = f"{secrets_path}/{created.secret_id}"
    # a second version and a soft-deleted one, as nothing of EKSS writes them: still destroyed
    vault.secrets.kv.v2.create_or_update_secret(
        path=path, secret={"secret": b64(os.urandom(32))}, mount_point="secret"
    )
    vault.secrets.kv.v2.delete_latest_version_of_secret(path=path, mount_point="secret")
    keeper.forget_file(file_id)
    _only_a_tombstone(vault, path)
    _refused(lambda: keeper.create_secret(file_id, public), "fileDeleted", 410)
    reader = generate_keypair()[1]
    _refused(lambda: keeper.envelope(created.secret_id, reader), "secretNotFound", 404)
    assert keeper.forget_file(file_id) is False  # twice
    assert keeper.mark_registered(file_id) is False  # a late registration keeps it too
    _only_a_tombstone(vault, path)


def test_forgetting_reports_what_it_removed(
    keeper: SecretKeeper, vault: hvac.Client, archive_public: bytes, secrets_path: str
) -> None:
    file_id, public = _upload(archive_public)
    keeper.create_secret(file_id, public)
    assert keeper.forget_file(file_id) is True
    assert keeper.forget_file(file_id) is False
    never, never_public = _upload(archive_public)  # deletion before anything: refused later
    assert keeper.forget_file(never) is False
    _only_a_tombstone(vault, f"{secrets_path}/{file_secret_id(uuid.UUID(never))}")
    _refused(lambda: keeper.create_secret(never, never_public), "fileDeleted", 410)


class _CreateSlipsIn(VaultSecretStore):
    """Vault, with another invocation's create landing right after the first deletion."""

    slipped = False

    def delete(self, path: str) -> None:
        super().delete(path)
        if not self.slipped:
            self.slipped = True
            self.create(path, {"secret": b64(os.urandom(32))})


def test_a_create_during_deletion_is_destroyed_again(
    endpoints: dict[str, Any], vault: hvac.Client, secrets_path: str
) -> None:
    store = _CreateSlipsIn(endpoints["vault_addr"], endpoints["vault_token"])
    keeper = _keeper(store, secrets_path)
    file_id = str(uuid.uuid4())
    assert keeper.forget_file(file_id) is True and store.slipped
    _only_a_tombstone(vault, f"{secrets_path}/{file_secret_id(uuid.UUID(file_id))}")


# ---------------------------------------------------------------- over HTTP and the queue


def test_http_one_secret_per_file(irs: httpx.Client, upload, vault: hvac.Client) -> None:
    body = upload(PLAIN)
    first, again = (irs.post("/secrets", json=body) for _ in range(2))
    assert first.status_code == again.status_code == 200, first.text
    assert again.json() == first.json()
    assert uuid.UUID(first.json()["secret_id"]).version == 5
    assert list(all_versions(vault, f"{SECRETS_PATH}/{first.json()['secret_id']}")) == [1]
    bad = irs.post("/secrets", json={**body, "file_id": "not-a-uuid"})
    assert bad.status_code == 422 and bad.json()["exception_id"] == "validationError"


def _confirmation(stream: EventStream, file_id: str, count: int, timeout: float = 60) -> Any:
    """The ``count``-th FileDeletionConfirmed of EKSS for the file (others' are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            e
            for e in stream.events("FileDeletionConfirmed", file_id)
            if e.payload["service"] == "ekss"
        ]
        if len(found) >= count:
            return found[count - 1].payload
        assert time.monotonic() < deadline, f"EKSS did not confirm {file_id}"
        stream.poll()


def _request_deletion(endpoints: dict[str, Any], file_id: str) -> None:
    payload = {"file_id": file_id, "requested_by": "operator", "reason": "test"}
    publish_event(endpoints, "FileDeletionRequested", payload, key=file_id)


def test_deletion_through_the_queue(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    dcs: httpx.Client,
    upload,
    order,
    vault: hvac.Client,
) -> None:
    assert queue_for("ekss", "on_event").endswith("ekss-events")
    body = upload(PLAIN)
    file_id = body["file_id"]
    created = irs.post("/secrets", json=body).json()
    path = f"{SECRETS_PATH}/{created['secret_id']}"
    stream = EventStream(endpoints, ["FileDeletionConfirmed"])
    try:
        _request_deletion(endpoints, file_id)
        first = _confirmation(stream, file_id, 1)
        assert first == {
            "file_id": file_id,
            "service": "ekss",
            "requested_by": "operator",
            "removed": ["secret"],
        }
        _only_a_tombstone(vault, path)
        refused = irs.post("/secrets", json=body)
        assert refused.status_code == 410, refused.text
        assert refused.json()["exception_id"] == "fileDeleted"
        assert created["new_secret"] not in refused.text
        reader = User.new()
        envelope = dcs.get(
            f"/secrets/{created['secret_id']}/envelopes/{_url_key(reader.public_key)}",
            headers={"X-Work-Order-Token": order(file_id, reader)},
        )
        assert envelope.status_code == 404 and envelope.json()["exception_id"] == "secretNotFound"
        _request_deletion(endpoints, file_id)  # twice: confirmed again, nothing removed
        assert _confirmation(stream, file_id, 2)["removed"] == []
        _only_a_tombstone(vault, path)
    finally:
        stream.close()


def test_deletion_before_the_secret_through_the_queue(
    endpoints: dict[str, Any], irs: httpx.Client, upload, vault: hvac.Client
) -> None:
    body = upload(PLAIN)
    file_id = body["file_id"]
    stream = EventStream(endpoints, ["FileDeletionConfirmed"])
    try:
        _request_deletion(endpoints, file_id)
        assert _confirmation(stream, file_id, 1)["removed"] == []
    finally:
        stream.close()
    refused = irs.post("/secrets", json=body)
    assert refused.status_code == 410 and refused.json()["exception_id"] == "fileDeleted"
    _only_a_tombstone(vault, f"{SECRETS_PATH}/{file_secret_id(uuid.UUID(file_id))}")


def _url_key(public: bytes) -> str:
    return base64.urlsafe_b64encode(public).decode("ascii")


def test_a_failed_interrogation_loses_its_secret_through_the_queue(
    endpoints: dict[str, Any], irs: httpx.Client, upload, vault: hvac.Client
) -> None:
    """FileInterrogationFailure: EKSS forgets the file's secret (IRS no longer deletes)."""
    body = upload(PLAIN)
    created = irs.post("/secrets", json=body).json()
    payload = {"file_id": body["file_id"], "box_id": str(uuid.uuid4()), "reason": "damaged"}
    publish_event(endpoints, "FileInterrogationFailure", payload, key=body["file_id"])
    wait_for_secret(endpoints, created["secret_id"], lambda data: "secret" not in (data or {}))
    _only_a_tombstone(vault, f"{SECRETS_PATH}/{created['secret_id']}")
    refused = irs.post("/secrets", json=body)
    assert refused.status_code == 410 and refused.json()["exception_id"] == "fileDeleted"
