"""EKSS when Vault is down: a stack of its own whose OpenBao server is sealed before any call."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import hvac
import pytest

from shared.crypt import c4gh
from shared.crypt.keys import decode_key, generate_keypair
from tests.ekss.helpers import b64, encrypt_upload
from tests.support import RunningStack, start_stack


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


@pytest.fixture(scope="module")
def ekss_without_vault(stack_without_vault: RunningStack) -> Iterator[httpx.Client]:
    endpoints = stack_without_vault.endpoints
    with httpx.Client(
        base_url=endpoints["ekss_url"],
        headers={"Authorization": f"Bearer {endpoints['service_token']}"},
        timeout=30,
    ) as client:
        yield client


def _unavailable(response: httpx.Response, endpoints: dict[str, Any]) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["exception_id"] == "secretStoreUnavailable"
    assert endpoints["vault_token"] not in response.text
    assert endpoints["service_token"] not in response.text


def test_new_secret_at_first_use(
    ekss_without_vault: httpx.Client, stack_without_vault: RunningStack
) -> None:
    endpoints = stack_without_vault.endpoints
    submitter_private, submitter_public = generate_keypair()
    upload = encrypt_upload(b"data", submitter_private, decode_key(endpoints["archive_public_key"]))
    body = {"public_key": b64(submitter_public), "file_part": b64(upload)}
    for _ in range(2):  # the failure is not cached, and the service keeps answering
        _unavailable(ekss_without_vault.post("/secrets", json=body), endpoints)


def test_envelope_and_delete(
    ekss_without_vault: httpx.Client, stack_without_vault: RunningStack
) -> None:
    endpoints = stack_without_vault.endpoints
    secret_id = str(uuid.uuid4())
    reader = b64(generate_keypair()[1]).replace("+", "-").replace("/", "_")
    _unavailable(ekss_without_vault.get(f"/secrets/{secret_id}/envelopes/{reader}"), endpoints)
    _unavailable(ekss_without_vault.delete(f"/secrets/{secret_id}"), endpoints)


def test_bad_input_is_still_told_apart(
    ekss_without_vault: httpx.Client, stack_without_vault: RunningStack
) -> None:
    """What needs no Vault is still judged: the caller learns their own mistake."""
    assert ekss_without_vault.get("/health").status_code == 200
    public = b64(generate_keypair()[1])
    response = ekss_without_vault.post(
        "/secrets", json={"public_key": public, "file_part": b64(b"plain" * 10)}
    )
    assert (response.status_code, response.json()["exception_id"]) == (400, "notCrypt4gh")
    response = ekss_without_vault.post(
        "/secrets", json={"public_key": public, "file_part": b64(c4gh.MAGIC)}
    )
    assert (response.status_code, response.json()["exception_id"]) == (400, "headerTruncated")
    response = httpx.post(f"{stack_without_vault.endpoints['ekss_url']}/secrets", json={})
    assert response.status_code == 401
