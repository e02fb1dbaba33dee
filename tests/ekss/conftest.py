"""Fixtures for the key store tests: each caller's client, Vault access, uploads, orders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import hvac
import pytest

from shared.crypt.keys import decode_key, generate_keypair
from tests.ekss.helpers import b64, encrypt_upload, put_in_inbox
from tests.support import Operator, User, download_wot


def _client(endpoints: dict[str, Any], token: str) -> httpx.Client:
    return httpx.Client(
        base_url=endpoints["ekss_url"], headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


@pytest.fixture(scope="session")
def irs(endpoints: dict[str, Any]) -> Iterator[httpx.Client]:
    """EKSS as IRS calls it: with IRS's own token."""
    with _client(endpoints, endpoints["irs_ekss_token"]) as client:
        yield client


@pytest.fixture(scope="session")
def dcs(endpoints: dict[str, Any]) -> Iterator[httpx.Client]:
    """EKSS as DCS calls it: with DCS's own token."""
    with _client(endpoints, endpoints["dcs_ekss_token"]) as client:
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
    endpoints: dict[str, Any], submitter: tuple[bytes, bytes], archive_public: bytes
) -> Callable[..., dict[str, str]]:
    """The POST /secrets body for an upload of ``plain`` by the submitter to the archive,
    put into the inbox first (under a new file id) as UCS leaves it."""

    def body(plain: bytes) -> dict[str, str]:
        file_id = put_in_inbox(endpoints, encrypt_upload(plain, submitter[0], archive_public))
        return {"file_id": file_id, "public_key": b64(submitter[1])}

    return body


@pytest.fixture
def order(endpoints: dict[str, Any], operator: Operator) -> Callable[[str, User], str]:
    """A download work order token of WPS for the file and the user's key."""

    def wot(file_id: str, user: User) -> str:
        package_id, wpat = operator.download_package(user, [file_id])
        return download_wot(endpoints, user, package_id, wpat, file_id)

    return wot
