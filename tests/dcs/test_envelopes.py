"""GET /objects/{id}/envelopes: the file's header for the token's key, as GHGA's client reads it."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from functions.dcs.errors import KeyStoreDown
from functions.dcs.model import Reader
from shared.crypt import c4gh
from testbed.process import free_port_base
from tests.dcs.helpers import ArchivedFile, Requester, decrypt_c4gh
from tests.support import Operator, User


def _header(requester: Requester, file_id: str) -> bytes:
    response = requester.envelope(file_id)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    # GHGA's client runs base64.b64decode(response.content): standard base64, no JSON quotes
    return base64.b64decode(response.content, validate=True)


def test_envelope_opens_with_the_token_key_only(
    endpoints: dict[str, Any], operator: Operator, small: tuple[ArchivedFile, Requester]
) -> None:
    f, alice = small
    bob = Requester(endpoints, operator, [f.file_id])
    for_alice, for_bob = _header(alice, f.file_id), _header(bob, f.file_id)

    keys_alice, length = c4gh.parse_header(for_alice, alice.user.private_key)
    assert length == len(for_alice) == c4gh.ENVELOPE_SIZE_ONE_RECIPIENT
    keys_bob, _ = c4gh.parse_header(for_bob, bob.user.private_key)
    assert keys_alice == keys_bob  # the same file secret, wrapped for each reader
    with pytest.raises(c4gh.HeaderError):
        c4gh.parse_header(for_alice, bob.user.private_key)
    with pytest.raises(c4gh.HeaderError):
        c4gh.parse_header(for_bob, alice.user.private_key)
    with pytest.raises(c4gh.HeaderError):
        c4gh.parse_header(for_alice, User.new().private_key)
    assert decrypt_c4gh(for_bob + f.content, bob.user.private_key) == f.plain


def test_envelope_is_the_same_bytes_every_time(small: tuple[ArchivedFile, Requester]) -> None:
    # range readers may fetch the header in pieces: every piece must be of one header
    f, requester = small
    assert _header(requester, f.file_id) == _header(requester, f.file_id)


def test_key_store_down_is_503(controller: Any, small: tuple[ArchivedFile, Requester]) -> None:
    f, _ = small
    nobody_listens = f"http://127.0.0.1:{free_port_base(1)}"
    downloads = controller(ekss_url=nobody_listens)
    with pytest.raises(KeyStoreDown) as caught:
        # a key without a kept envelope
        downloads.envelope(f.file_id, Reader(User.new().public_key, "u", "p", "a-wot"))
    assert caught.value.status == 503
    assert caught.value.exception_id == "keyStoreUnavailable"
