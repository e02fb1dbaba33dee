"""IRS's key store adapter against the stack's real EKSS over HTTP."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest

from shared.adapters.ekss import EkssClient
from shared.crypt.keys import encode_key, generate_keypair
from shared.ports import KeyStoreRejected, KeyStoreUnavailable, SecretNotFound
from tests.irs.helpers import encrypt_file


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
