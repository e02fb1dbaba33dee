"""The key store core against a real Vault (the session stack's), and against no Vault."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
from crypt4gh.keys import c4gh as c4gh_keyfile

from functions.ekss import inject as ekss_inject
from functions.ekss.archive_keys import FileArchiveKey, StoredArchiveKey
from functions.ekss.config import EkssConfig
from functions.ekss.core import SecretKeeper
from functions.ekss.errors import ArchiveKeyUnavailable, SecretStoreDown
from shared.adapters.vault import VaultSecretStore
from shared.config import ConfigError, load_config
from shared.crypt import c4gh
from shared.crypt.keys import encode_key, generate_keypair, public_from_private
from shared.errors import ServiceError
from shared.logs import JsonFormatter
from shared.tokens import hash_secret
from tests.ekss.helpers import encrypt_upload, inbox, put_in_inbox, read_secret
from tests.fakes import InMemoryStorage
from tests.support import stack_topic_arn

PLAIN = os.urandom(70_000)
ARCHIVE_KEYS = "fs/ekss/archive-keys"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def secrets_path() -> str:
    """A path of its own per test, so that listings see only this test's secrets."""
    return f"fs/ekss-core-tests/{uuid.uuid4()}"


@pytest.fixture
def store(endpoints: dict[str, Any]) -> VaultSecretStore:
    return VaultSecretStore(endpoints["vault_addr"], endpoints["vault_token"])


@pytest.fixture
def dead_store() -> VaultSecretStore:
    return VaultSecretStore(f"http://127.0.0.1:{_closed_port()}", "some-vault-token", timeout_s=2)


class CountingStore:
    """The real store, counting reads: shows what the archive key cache saves."""

    def __init__(self, inner: VaultSecretStore) -> None:
        self.inner = inner
        self.reads = 0

    def create(self, path: str, data: dict[str, str]) -> None:
        self.inner.create(path, data)

    def read(self, path: str) -> dict[str, str] | None:
        self.reads += 1
        return self.inner.read(path)

    def delete(self, path: str) -> None:
        self.inner.delete(path)

    def read_versioned(self, path: str) -> tuple[dict[str, str], int] | None:
        return self.inner.read_versioned(path)

    def replace(self, path: str, data: dict[str, str], version: int) -> None:
        self.inner.replace(path, data, version)


INBOX = InMemoryStorage()  # the inbox these cores read headers from


def _keeper(store: Any, archive_key: Any, **options: Any) -> SecretKeeper:
    return SecretKeeper(store, archive_key, INBOX, "inbox", **options)


def _upload(archive_public: bytes) -> tuple[str, bytes]:
    """(file id, submitter public key) of an upload put into the inbox."""
    private, public = generate_keypair()
    file_id = str(uuid.uuid4())
    INBOX.put("inbox", file_id, encrypt_upload(PLAIN, private, archive_public))
    return file_id, public


def _archive_public(endpoints: dict[str, Any]) -> bytes:
    return base64.b64decode(endpoints["archive_public_key"])


def test_create_register_envelope(
    store: VaultSecretStore, endpoints: dict[str, Any], secrets_path: str
) -> None:
    keys = _keeper(
        store, StoredArchiveKey(store, ARCHIVE_KEYS, "archive"), secrets_path=secrets_path
    )
    file_id, public = _upload(_archive_public(endpoints))
    created = keys.create_secret(file_id, public)
    assert created.offset == 124
    stored = {"secret": base64.b64encode(created.new_secret).decode()}
    assert store.read(f"{secrets_path}/{created.secret_id}") == stored
    reader_private, reader_public = generate_keypair()
    with pytest.raises(ServiceError) as caught:
        keys.envelope(created.secret_id, reader_public)
    assert (caught.value.status, caught.value.exception_id) == (404, "fileNotRegistered")
    assert keys.mark_registered(file_id.upper()) is True  # any spelling of the file's UUID
    assert keys.mark_registered(file_id) is False  # once
    found = store.read_versioned(f"{secrets_path}/{created.secret_id}")
    assert found is not None and found[1] == 2 and found[0]["secret"] == stored["secret"]
    # any spelling of the secret's UUID names the same secret
    sessions, length = c4gh.parse_header(
        keys.envelope(created.secret_id.upper(), reader_public), reader_private
    )
    assert (sessions, length) == ([created.new_secret], 124)


def test_archive_key_is_read_once(
    store: VaultSecretStore, endpoints: dict[str, Any], secrets_path: str
) -> None:
    counting = CountingStore(store)
    keys = _keeper(
        store, StoredArchiveKey(counting, ARCHIVE_KEYS, "archive"), secrets_path=secrets_path
    )
    for _ in range(3):
        keys.create_secret(*_upload(_archive_public(endpoints)))
    assert counting.reads == 1


def test_vault_down_at_first_use(dead_store: VaultSecretStore, endpoints: dict[str, Any]) -> None:
    counting = CountingStore(dead_store)
    keys = _keeper(dead_store, StoredArchiveKey(counting, ARCHIVE_KEYS, "archive"))
    file_id, public = _upload(_archive_public(endpoints))
    for _ in range(2):  # a failed read is not cached: each call tries again
        with pytest.raises(SecretStoreDown) as caught:
            keys.create_secret(file_id, public)
        assert caught.value.status == 503
        assert caught.value.exception_id == "secretStoreUnavailable"
        assert "some-vault-token" not in str(caught.value.body())
    assert counting.reads == 2
    with pytest.raises(SecretStoreDown):
        keys.envelope(str(uuid.uuid4()), generate_keypair()[1])
    with pytest.raises(SecretStoreDown):
        keys.mark_registered(str(uuid.uuid4()))
    with pytest.raises(SecretStoreDown):
        keys.forget_file(str(uuid.uuid4()))


def test_vault_down_for_the_write_stores_nothing(
    store: VaultSecretStore, dead_store: VaultSecretStore, endpoints: dict[str, Any]
) -> None:
    archive = StoredArchiveKey(store, ARCHIVE_KEYS, "archive")
    keys = _keeper(dead_store, archive)
    with pytest.raises(SecretStoreDown) as caught:
        keys.create_secret(*_upload(_archive_public(endpoints)))
    assert caught.value.status == 503


def test_path_like_secret_ids_are_refused(store: VaultSecretStore) -> None:
    keys = _keeper(store, StoredArchiveKey(store, ARCHIVE_KEYS, "archive"))
    for bad in ("..", "../archive-keys/archive", "", "x" * 36):
        with pytest.raises(ServiceError) as caught:
            keys.envelope(bad, generate_keypair()[1])
        assert (caught.value.status, caught.value.exception_id) == (422, "invalidSecretId")
    assert store.read(f"{ARCHIVE_KEYS}/archive") is not None


def test_malformed_stored_secret(store: VaultSecretStore, secrets_path: str) -> None:
    keys = _keeper(
        store, StoredArchiveKey(store, ARCHIVE_KEYS, "archive"), secrets_path=secrets_path
    )
    secret_id = str(uuid.uuid4())
    short = {"secret": base64.b64encode(b"short").decode(), "registered": "2026-01-01"}
    store.create(f"{secrets_path}/{secret_id}", short)
    with pytest.raises(ServiceError) as caught:
        keys.envelope(secret_id, generate_keypair()[1])
    assert (caught.value.status, caught.value.exception_id) == (500, "storedSecretInvalid")


def test_missing_archive_key(store: VaultSecretStore, endpoints: dict[str, Any]) -> None:
    keys = _keeper(store, StoredArchiveKey(store, ARCHIVE_KEYS, "no-such-alias"))
    with pytest.raises(ArchiveKeyUnavailable) as caught:
        keys.create_secret(*_upload(_archive_public(endpoints)))
    assert caught.value.status == 500
    assert "no-such-alias" in caught.value.description


@pytest.mark.parametrize("form", ["base64", "crypt4gh"])
def test_archive_key_from_a_mounted_file(
    tmp_path: Path, store: VaultSecretStore, secrets_path: str, form: str
) -> None:
    private, public = generate_keypair()
    key_file = tmp_path / "archive.sec"
    if form == "base64":
        key_file.write_text(encode_key(private) + "\n")
    else:
        key_file.write_bytes(_pem(c4gh_keyfile.encode_private_key(private, None, None)))
    keys = _keeper(store, FileArchiveKey(key_file), secrets_path=secrets_path)
    submitter_private, submitter_public = generate_keypair()
    upload = encrypt_upload(PLAIN, submitter_private, public)
    file_id = str(uuid.uuid4())
    INBOX.put("inbox", file_id, upload)
    created = keys.create_secret(file_id, submitter_public)
    assert c4gh.decrypt_body(upload[created.offset :], [created.submitter_secret]) == PLAIN


def _pem(encoded: bytes) -> bytes:
    return (
        b"-----BEGIN CRYPT4GH PRIVATE KEY-----\n"
        + base64.b64encode(encoded)
        + b"\n-----END CRYPT4GH PRIVATE KEY-----\n"
    )


UNUSABLE_KEY_FILES = {
    "missing": None,
    "not-a-key": b"not a key",
    "broken-pem": b"-----BEGIN CRYPT4GH PRIVATE KEY-----\nAAAA\n",
    "needs-passphrase": _pem(c4gh_keyfile.encode_private_key(os.urandom(32), b"pw", None)),
}


@pytest.mark.parametrize("case", UNUSABLE_KEY_FILES)
def test_unusable_key_file(tmp_path: Path, case: str) -> None:
    key_file = tmp_path / "archive.sec"
    if UNUSABLE_KEY_FILES[case] is not None:
        key_file.write_bytes(UNUSABLE_KEY_FILES[case])
    with pytest.raises(ArchiveKeyUnavailable):
        FileArchiveKey(key_file).private_key()


@pytest.fixture
def wired(
    monkeypatch: pytest.MonkeyPatch, endpoints: dict[str, Any], secrets_path: str
) -> Iterator[SecretKeeper]:
    """The core as the app wires it, from EKSS_* variables, logging at DEBUG into a buffer."""
    for name, value in {
        "EKSS_VAULT_URL": endpoints["vault_addr"],
        "EKSS_VAULT_TOKEN": endpoints["vault_token"],
        "EKSS_IRS_TOKEN_SHA256": hash_secret("irs"),
        "EKSS_DCS_TOKEN_SHA256": hash_secret("dcs"),
        "EKSS_WOT_PUBLIC_KEY": endpoints["wot_public_key"],
        "EKSS_TOPICS": json.dumps(
            {"FileDeletionConfirmed": stack_topic_arn(endpoints, "FileDeletionConfirmed")}
        ),
        "EKSS_BUCKETS": json.dumps({"inbox": inbox(endpoints)}),
        "AWS_ENDPOINT_URL": endpoints["aws_endpoint_url"],
        "AWS_ACCESS_KEY_ID": endpoints.get("aws_access_key_id", "testing"),
        "AWS_SECRET_ACCESS_KEY": endpoints.get("aws_secret_access_key", "testing"),
        "AWS_DEFAULT_REGION": endpoints["aws_region"],
        "EKSS_SECRETS_PATH": secrets_path,
        "EKSS_LOG_LEVEL": "DEBUG",
    }.items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), logging.getLogger("crypt4gh").level)
    ekss_inject.inject.cache_clear()
    try:
        yield ekss_inject.inject().keeper
    finally:
        ekss_inject.inject.cache_clear()
        root.setLevel(saved[0])
        root.handlers = saved[1]
        logging.getLogger("crypt4gh").setLevel(saved[2])


def _stack_upload(endpoints: dict[str, Any]) -> tuple[str, bytes]:
    """(file id, submitter public key) of an upload in the stack's inbox bucket."""
    private, public = generate_keypair()
    data = encrypt_upload(PLAIN, private, _archive_public(endpoints))
    return put_in_inbox(endpoints, data), public


def test_no_key_material_in_debug_logs(wired: SecretKeeper, endpoints: dict[str, Any]) -> None:
    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(JsonFormatter("ekss"))
    logging.getLogger().addHandler(capture)
    archive_public = _archive_public(endpoints)
    file_id, public = _stack_upload(endpoints)
    created = wired.create_secret(file_id, public)
    wired.mark_registered(file_id)
    wired.envelope(created.secret_id, generate_keypair()[1])
    logged = buffer.getvalue()
    assert created.secret_id in logged  # DEBUG logging is on and captured
    archive_private = base64.b64decode(
        hvac.Client(
            url=endpoints["vault_addr"], token=endpoints["vault_token"]
        ).secrets.kv.v2.read_secret_version(
            path=f"{ARCHIVE_KEYS}/archive", mount_point="secret", raise_on_deleted_version=True
        )["data"]["data"]["private_key"]
    )
    assert public_from_private(archive_private) == archive_public
    for secret in (created.new_secret, created.submitter_secret, archive_private):
        for form in (secret.hex(), base64.b64encode(secret).decode()):
            assert form not in logged


def test_wired_core_reads_the_stack_vault(
    wired: SecretKeeper, secrets_path: str, endpoints: dict[str, Any]
) -> None:
    created = wired.create_secret(*_stack_upload(endpoints))  # from the stack's inbox
    vault = hvac.Client(url=endpoints["vault_addr"], token=endpoints["vault_token"])
    stored = read_secret(vault, created.secret_id, path=secrets_path)
    assert stored == {"secret": base64.b64encode(created.new_secret).decode()}


def test_the_confirmation_topic_and_the_inbox_are_required() -> None:
    environ = {
        "EKSS_VAULT_URL": "http://vault",
        "EKSS_VAULT_TOKEN": "t",
        "EKSS_IRS_TOKEN_SHA256": hash_secret("irs"),
        "EKSS_DCS_TOKEN_SHA256": hash_secret("dcs"),
        "EKSS_WOT_PUBLIC_KEY": "pem",
    }
    with pytest.raises(ConfigError) as caught:
        load_config(EkssConfig, "EKSS", environ)
    assert "topics.FileDeletionConfirmed" in str(caught.value)
    assert "buckets.inbox" in str(caught.value)
    environ["EKSS_TOPICS"] = json.dumps({"FileDeletionConfirmed": "arn:aws:sns:x:1:t"})
    environ["EKSS_BUCKETS"] = json.dumps({"inbox": "fs-inbox"})
    assert load_config(EkssConfig, "EKSS", environ).buckets == {"inbox": "fs-inbox"}


def test_the_two_callers_credentials_must_differ() -> None:
    environ = {
        "EKSS_VAULT_URL": "http://vault",
        "EKSS_VAULT_TOKEN": "t",
        "EKSS_IRS_TOKEN_SHA256": hash_secret("same"),
        "EKSS_DCS_TOKEN_SHA256": hash_secret("same"),
        "EKSS_WOT_PUBLIC_KEY": "pem",
        "EKSS_TOPICS": json.dumps({"FileDeletionConfirmed": "arn:aws:sns:x:1:t"}),
        "EKSS_BUCKETS": json.dumps({"inbox": "fs-inbox"}),
    }
    with pytest.raises(ConfigError) as caught:
        load_config(EkssConfig, "EKSS", environ)
    assert "must differ" in str(caught.value)
