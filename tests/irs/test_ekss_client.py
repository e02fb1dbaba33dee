"""IRS's key store adapter against the stack's real EKSS over HTTP (IRS's credential)."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import hvac
import pytest

from shared.adapters.ekss import EkssClient
from shared.crypt.keys import encode_key, generate_keypair
from shared.ports import KeyStoreRejected, KeyStoreUnavailable
from tests.ekss.helpers import put_in_inbox
from tests.irs.helpers import SECRETS_PATH, encrypt_file, list_secrets


def test_one_secret_per_file_id(
    endpoints: dict[str, Any], ekss_http: EkssClient, archive_public: bytes, vault: hvac.Client
) -> None:
    private, public = generate_keypair()
    file_id = put_in_inbox(endpoints, encrypt_file(b"hello", private, archive_public))
    first = ekss_http.create_secret(file_id, encode_key(public))
    assert first.offset == 124 and len(first.new_secret) == 32
    again = ekss_http.create_secret(file_id, encode_key(public))  # every turn asks again
    assert again == first
    assert first.secret_id in list_secrets(vault)
    metadata = vault.secrets.kv.v2.read_secret_metadata(
        path=f"{SECRETS_PATH}/{first.secret_id}", mount_point="secret"
    )
    assert list(metadata["data"]["versions"]) == ["1"]  # written once, never again
    other_id = put_in_inbox(endpoints, encrypt_file(b"hello", private, archive_public))
    other = ekss_http.create_secret(other_id, encode_key(public))
    assert other.secret_id != first.secret_id and other.new_secret != first.new_secret


def test_refusals_of_the_header_are_the_uploads_fault(
    endpoints: dict[str, Any], ekss_http: EkssClient, archive_public: bytes
) -> None:
    private, public = generate_keypair()
    cases = {
        "notCrypt4gh": b"not crypt4gh at all",
        "headerTruncated": encrypt_file(b"hello", private, archive_public)[:50],
    }
    for exception_id, data in cases.items():
        with pytest.raises(KeyStoreRejected) as caught:
            ekss_http.create_secret(put_in_inbox(endpoints, data), encode_key(public))
        assert caught.value.exception_id == exception_id
    with pytest.raises(KeyStoreRejected) as caught:
        ekss_http.create_secret(str(uuid.uuid4()), encode_key(public))
    assert caught.value.exception_id == "noInterrogation"


def test_bad_credentials_and_no_service_are_not_the_uploads_fault(
    endpoints: dict[str, Any], archive_public: bytes
) -> None:
    private, public = generate_keypair()
    file_id = put_in_inbox(endpoints, encrypt_file(b"hello", private, archive_public))
    for token in ("wrong-token", endpoints["dcs_ekss_token"]):  # 401, and 403 wrongCaller
        with pytest.raises(KeyStoreUnavailable):
            EkssClient(endpoints["ekss_url"], token).create_secret(file_id, encode_key(public))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    nowhere = EkssClient(f"http://127.0.0.1:{closed}", "token", timeout_s=2)
    with pytest.raises(KeyStoreUnavailable):
        nowhere.create_secret(file_id, encode_key(public))
