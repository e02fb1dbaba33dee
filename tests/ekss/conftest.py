"""Fixtures for the key store tests: an authenticated client, Vault access, uploads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import hvac
import pytest

from shared.crypt.keys import decode_key, generate_keypair
from tests.ekss.helpers import b64, encrypt_upload


@pytest.fixture(scope="session")
def ekss(endpoints: dict[str, Any]) -> Iterator[httpx.Client]:
    """EKSS as IRS and DCS call it: with the service token."""
    with httpx.Client(
        base_url=endpoints["ekss_url"],
        headers={"Authorization": f"Bearer {endpoints['service_token']}"},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def vault(endpoints: dict[str, Any]) -> hvac.Client:
    return hvac.Client(url=endpoints["vault_addr"], token=endpoints["vault_token"])


@pytest.fixture(scope="session")
def archive_public(endpoints: dict[str, Any]) -> bytes:
    return decode_key(endpoints["archive_public_key"])


@pytest.fixture
def submitter() -> tuple[bytes, bytes]:
    """A submitter's (private, public) Crypt4GH key pair."""
    return generate_keypair()


@pytest.fixture
def upload(
    submitter: tuple[bytes, bytes], archive_public: bytes
) -> Callable[[bytes], dict[str, str]]:
    """The POST /secrets body for an upload of ``plain`` by the submitter to the archive."""

    def body(plain: bytes, first_bytes: int = 4096) -> dict[str, str]:
        data = encrypt_upload(plain, submitter[0], archive_public)
        return {"public_key": b64(submitter[1]), "file_part": b64(data[:first_bytes])}

    return body
