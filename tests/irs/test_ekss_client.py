"""IRS's key store adapter against the stack's real EKSS over HTTP."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import hvac
import pytest

from shared.adapters.ekss import EkssClient
from shared.crypt.keys import encode_key, generate_keypair
from shared.ports import KeyStoreRejected, KeyStoreUnavailable, SecretNotFound
from tests.irs.helpers import SECRETS_PATH, encrypt_file, list_secrets, secret_exists


def test_secret_lifecycle(ekss: EkssClient, archive_public: bytes) -> None:
    private, public = generate_keypair()
    data = encrypt_file(b"hello", private, archive_public)
    created = ekss.create_secret(encode_key(public), data[:1000])
    assert created.offset == 124 and len(created.new_secret) == 32
    assert ekss.new_secret(created.secret_id) == created.new_secret
    ekss.delete_secret(created.secret_id)
    ekss.delete_secret(created.secret_id)  # idempotent
    with pytest.raises(SecretNotFound):
        ekss.new_secret(created.secret_id)


def test_one_secret_per_file_id(
    ekss: EkssClient, archive_public: bytes, vault: hvac.Client
) -> None:
    private, public = generate_keypair()
    data = encrypt_file(b"hello", private, archive_public)
    file_id = str(uuid.uuid4())
    first = ekss.create_secret(encode_key(public), data[:1000], file_id)
    again = ekss.create_secret(encode_key(public), data[:1000], file_id)  # a retry
    assert again == first
    assert first.secret_id in list_secrets(vault)
    metadata = vault.secrets.kv.v2.read_secret_metadata(
        path=f"{SECRETS_PATH}/{first.secret_id}", mount_point="secret"
    )
    assert list(metadata["data"]["versions"]) == ["1"]  # written once, never again
    assert ekss.new_secret(first.secret_id) == first.new_secret
    other = ekss.create_secret(encode_key(public), data[:1000])  # without: a new secret
    assert other.secret_id != first.secret_id and other.new_secret != first.new_secret
    for secret_id in (first.secret_id, other.secret_id):
        ekss.delete_secret(secret_id)
        assert not secret_exists(vault, secret_id)


def test_refusals_of_the_header_are_the_uploads_fault(
    ekss: EkssClient, archive_public: bytes
) -> None:
    private, public = generate_keypair()
    with pytest.raises(KeyStoreRejected) as caught:
        ekss.create_secret(encode_key(public), b"not crypt4gh at all")
    assert caught.value.exception_id == "notCrypt4gh"
    data = encrypt_file(b"hello", private, archive_public)
    with pytest.raises(KeyStoreRejected) as caught:
        ekss.create_secret(encode_key(public), data[:50])
    assert caught.value.exception_id == "headerTruncated"


def test_bad_credentials_and_no_service_are_not_the_uploads_fault(
    endpoints: dict[str, Any], archive_public: bytes
) -> None:
    private, public = generate_keypair()
    data = encrypt_file(b"hello", private, archive_public)
    with pytest.raises(KeyStoreUnavailable):
        EkssClient(endpoints["ekss_url"], "wrong-token").create_secret(encode_key(public), data)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    nowhere = EkssClient(f"http://127.0.0.1:{closed}", "token", timeout_s=2)
    with pytest.raises(KeyStoreUnavailable):
        nowhere.new_secret(str(uuid.uuid4()))
