"""EKSS when Vault is down: a stack of its own whose OpenBao server is sealed before any call."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import hvac
import pytest

from functions.ekss.model import file_secret_id
from shared.crypt import c4gh
from shared.crypt.keys import decode_key, generate_keypair
from tests.ekss.helpers import b64, encrypt_upload, put_in_inbox
from tests.support import Operator, RunningStack, User, download_wot, start_stack


@pytest.fixture(scope="module")
def stack_without_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack whose Vault is sealed before EKSS is first called: the server still runs (the
    stack stops itself if one of its servers exits) but answers every request with 503."""
    stack = start_stack(tmp_path_factory.mktemp("vault-down") / "state")
    try:
        vault = hvac.Client(url=stack.endpoints["vault_addr"], token=stack.endpoints["vault_token"])
        vault.sys.seal()
        assert vault.sys.is_sealed()
        yield stack
    finally:
        stack.stop()


def _client(endpoints: dict[str, Any], token: str) -> httpx.Client:
    return httpx.Client(
        base_url=endpoints["ekss_url"], headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


@pytest.fixture(scope="module")
def ekss_without_vault(stack_without_vault: RunningStack) -> Iterator[httpx.Client]:
    """As IRS calls it."""
    with _client(
        stack_without_vault.endpoints, stack_without_vault.endpoints["irs_ekss_token"]
    ) as c:
        yield c


def _unavailable(response: httpx.Response, endpoints: dict[str, Any]) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["exception_id"] == "secretStoreUnavailable"
    for credential in ("vault_token", "irs_ekss_token", "dcs_ekss_token"):
        assert endpoints[credential] not in response.text


def _in_inbox(endpoints: dict[str, Any], data: bytes) -> str:
    return put_in_inbox(endpoints, data)


def test_new_secret_at_first_use(
    ekss_without_vault: httpx.Client, stack_without_vault: RunningStack
) -> None:
    endpoints = stack_without_vault.endpoints
    submitter_private, submitter_public = generate_keypair()
    upload = encrypt_upload(b"data", submitter_private, decode_key(endpoints["archive_public_key"]))
    body = {"public_key": b64(submitter_public), "file_id": _in_inbox(endpoints, upload)}
    for _ in range(2):  # the failure is not cached, and the service keeps answering
        _unavailable(ekss_without_vault.post("/secrets", json=body), endpoints)


def test_envelope(stack_without_vault: RunningStack) -> None:
    endpoints = stack_without_vault.endpoints
    file_id, reader = str(uuid.uuid4()), User.new()
    package_id, wpat = Operator(endpoints).download_package(reader, [file_id])
    wot = download_wot(endpoints, reader, package_id, wpat, file_id)
    secret_id = file_secret_id(uuid.UUID(file_id))
    key = b64(reader.public_key).replace("+", "-").replace("/", "_")
    with _client(endpoints, endpoints["dcs_ekss_token"]) as dcs:
        response = dcs.get(
            f"/secrets/{secret_id}/envelopes/{key}", headers={"X-Work-Order-Token": wot}
        )
    _unavailable(response, endpoints)


def test_bad_input_is_still_told_apart(
    ekss_without_vault: httpx.Client, stack_without_vault: RunningStack
) -> None:
    """What needs no Vault is still judged: the caller learns their own mistake."""
    assert ekss_without_vault.get("/health").status_code == 200
    endpoints = stack_without_vault.endpoints
    public = b64(generate_keypair()[1])
    response = ekss_without_vault.post(
        "/secrets",
        json={"public_key": public, "file_id": _in_inbox(endpoints, b"plain" * 10)},
    )
    assert (response.status_code, response.json()["exception_id"]) == (400, "notCrypt4gh")
    response = ekss_without_vault.post(
        "/secrets", json={"public_key": public, "file_id": _in_inbox(endpoints, c4gh.MAGIC)}
    )
    assert (response.status_code, response.json()["exception_id"]) == (400, "headerTruncated")
    response = ekss_without_vault.post(
        "/secrets", json={"public_key": public, "file_id": str(uuid.uuid4())}
    )
    assert (response.status_code, response.json()["exception_id"]) == (404, "noInterrogation")
    response = httpx.post(f"{stack_without_vault.endpoints['ekss_url']}/secrets", json={})
    assert response.status_code == 401
