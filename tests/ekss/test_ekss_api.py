"""EKSS over real HTTP against the session stack and its real Vault."""

from __future__ import annotations

import base64
import io
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import hvac
import pytest
from crypt4gh import header as c4gh_header
from crypt4gh import lib as c4gh_lib

from shared.crypt import c4gh
from shared.crypt.keys import generate_keypair
from tests.ekss.helpers import (
    b64,
    custom_header,
    edit_list_packet,
    encrypt_upload,
    key_packet,
    list_secrets,
    read_secret,
)
from tests.support import RunningStack

PLAIN = os.urandom(3 * c4gh.SEGMENT_SIZE + 1234)  # several segments; only the start is sent


def _standard_decrypt(data: bytes, private_key: bytes, sender: bytes | None = None) -> bytes:
    out = io.BytesIO()
    c4gh_lib.decrypt([(0, private_key, None)], io.BytesIO(data), out, sender_pubkey=sender)
    return out.getvalue()


def _error(response: httpx.Response, status: int, exception_id: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["exception_id"] == exception_id
    assert body["description"]
    return body


def _url_key(public: bytes) -> str:
    return base64.urlsafe_b64encode(public).decode("ascii")


def test_health(ekss: httpx.Client) -> None:
    assert ekss.get("/health").json() == {"status": "OK"}


def test_round_trip(
    ekss: httpx.Client,
    vault: hvac.Client,
    submitter: tuple[bytes, bytes],
    archive_public: bytes,
) -> None:
    upload = encrypt_upload(PLAIN, submitter[0], archive_public)
    response = ekss.post(
        "/secrets", json={"public_key": b64(submitter[1]), "file_part": b64(upload[:5000])}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    assert set(created) == {"submitter_secret", "new_secret", "secret_id", "offset"}
    assert created["offset"] == c4gh.header_length(upload) == c4gh.ENVELOPE_SIZE_ONE_RECIPIENT
    assert uuid.UUID(created["secret_id"]).version == 4

    submitter_secret = base64.b64decode(created["submitter_secret"])
    new_secret = base64.b64decode(created["new_secret"])
    assert c4gh.decrypt_body(upload[created["offset"] :], [submitter_secret]) == PLAIN
    assert len(new_secret) == 32
    assert new_secret != submitter_secret
    assert read_secret(vault, created["secret_id"]) == {"secret": created["new_secret"]}

    # a download: the body re-encrypted with the new secret, the envelope for the reader
    reader_private, reader_public = generate_keypair()
    response = ekss.get(f"/secrets/{created['secret_id']}/envelopes/{_url_key(reader_public)}")
    assert response.status_code == 200, response.text
    envelope = base64.b64decode(response.json()["content"])
    assert len(envelope) == c4gh.ENVELOPE_SIZE_ONE_RECIPIENT
    body = c4gh.encrypt_body(PLAIN, new_secret)
    assert _standard_decrypt(envelope + body, reader_private, sender=archive_public) == PLAIN
    with pytest.raises(ValueError):  # only the reader can open it
        _standard_decrypt(envelope + body, generate_keypair()[0])


def test_each_upload_gets_its_own_secret(
    ekss: httpx.Client, upload: Callable[..., dict[str, str]]
) -> None:
    body = upload(b"same file")
    first, second = (ekss.post("/secrets", json=body).json() for _ in range(2))
    assert first["submitter_secret"] == second["submitter_secret"]
    assert first["secret_id"] != second["secret_id"]
    assert first["new_secret"] != second["new_secret"]


def test_envelope_accepts_standard_base64_keys(
    ekss: httpx.Client, upload: Callable[..., dict[str, str]]
) -> None:
    created = ekss.post("/secrets", json=upload(PLAIN)).json()
    # a key whose standard base64 has '+' or '/', so that the two encodings differ
    while True:
        reader_private, reader_public = generate_keypair()
        standard = b64(reader_public)
        if "/" in standard or "+" in standard:
            break
    body = c4gh.encrypt_body(PLAIN, base64.b64decode(created["new_secret"]))
    for encoded in (quote(standard, safe=""), _url_key(reader_public)):
        response = ekss.get(f"/secrets/{created['secret_id']}/envelopes/{encoded}")
        assert response.status_code == 200, response.text
        envelope = base64.b64decode(response.json()["content"])
        assert _standard_decrypt(envelope + body, reader_private) == PLAIN


def test_delete_removes_the_secret(
    ekss: httpx.Client, vault: hvac.Client, upload: Callable[..., dict[str, str]]
) -> None:
    secret_id = ekss.post("/secrets", json=upload(PLAIN)).json()["secret_id"]
    assert read_secret(vault, secret_id) is not None
    response = ekss.delete(f"/secrets/{secret_id}")
    assert response.status_code == 204
    assert response.content == b""
    assert read_secret(vault, secret_id) is None
    assert secret_id not in list_secrets(vault)  # no version or metadata left either
    _error(
        ekss.get(f"/secrets/{secret_id}/envelopes/{_url_key(generate_keypair()[1])}"),
        404,
        "secretNotFound",
    )
    assert ekss.delete(f"/secrets/{secret_id}").status_code == 204  # idempotent


def test_unknown_and_malformed_secret_ids(ekss: httpx.Client) -> None:
    reader = _url_key(generate_keypair()[1])
    unknown = str(uuid.uuid4())
    _error(ekss.get(f"/secrets/{unknown}/envelopes/{reader}"), 404, "secretNotFound")
    assert ekss.delete(f"/secrets/{unknown}").status_code == 204
    for malformed in ("not-a-uuid", "%2E%2E", quote("../archive-keys/archive", safe="")):
        _error(ekss.get(f"/secrets/{malformed}/envelopes/{reader}"), 422, "invalidSecretId")
        _error(ekss.delete(f"/secrets/{malformed}"), 422, "invalidSecretId")


def test_envelope_refuses_invalid_reader_keys(
    ekss: httpx.Client, upload: Callable[..., dict[str, str]]
) -> None:
    secret_id = ekss.post("/secrets", json=upload(PLAIN)).json()["secret_id"]
    for bad in ("abc", _url_key(b"\x01" * 31), "!!!!", _url_key(b"\x01" * 33)):
        _error(ekss.get(f"/secrets/{secret_id}/envelopes/{bad}"), 422, "invalidPublicKey")


ROUTES = [
    ("POST", "/secrets"),
    ("GET", f"/secrets/{uuid.uuid4()}/envelopes/{'A' * 43}="),
    ("DELETE", f"/secrets/{uuid.uuid4()}"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_calls_need_the_service_token(
    endpoints: dict[str, Any],
    upload: Callable[..., dict[str, str]],
    method: str,
    path: str,
    headers: dict[str, str],
) -> None:
    response = httpx.request(
        method, f"{endpoints['ekss_url']}{path}", headers=headers, json=upload(PLAIN)
    )
    _error(response, 401, "notAuthorized")


def test_operator_token_is_not_a_service_token(
    endpoints: dict[str, Any], upload: Callable[..., dict[str, str]]
) -> None:
    response = httpx.post(
        f"{endpoints['ekss_url']}/secrets",
        json=upload(PLAIN),
        headers={"Authorization": f"Bearer {endpoints['operator_token']}"},
    )
    _error(response, 401, "notAuthorized")


def _bodies(submitter_public: bytes, upload: bytes) -> dict[str, Any]:
    key, part = b64(submitter_public), b64(upload[:500])
    return {
        "no-fields": {},
        "no-file-part": {"public_key": key},
        "no-public-key": {"file_part": part},
        "key-not-base64": {"public_key": "not base64 at all!", "file_part": part},
        "key-31-bytes": {"public_key": b64(submitter_public[:31]), "file_part": part},
        "key-not-string": {"public_key": 12, "file_part": part},
        "part-not-base64": {"public_key": key, "file_part": "####"},
        "part-not-string": {"public_key": key, "file_part": [1, 2]},
        "body-is-a-list": [key, part],
    }


@pytest.mark.parametrize(
    "case",
    [
        "no-fields",
        "no-file-part",
        "no-public-key",
        "key-not-base64",
        "key-31-bytes",
        "key-not-string",
        "part-not-base64",
        "part-not-string",
        "body-is-a-list",
    ],
)
def test_malformed_requests(
    ekss: httpx.Client, submitter: tuple[bytes, bytes], archive_public: bytes, case: str
) -> None:
    upload = encrypt_upload(PLAIN, submitter[0], archive_public)
    _error(ekss.post("/secrets", json=_bodies(submitter[1], upload)[case]), 422, "validationError")


def test_body_that_is_not_json(ekss: httpx.Client) -> None:
    _error(ekss.post("/secrets", content=b"{not json"), 400, "badJson")


def _post(ekss: httpx.Client, public_key: bytes, file_part: bytes) -> httpx.Response:
    return ekss.post("/secrets", json={"public_key": b64(public_key), "file_part": b64(file_part)})


def test_not_crypt4gh(ekss: httpx.Client, submitter: tuple[bytes, bytes]) -> None:
    _error(_post(ekss, submitter[1], b"plain text, not encrypted" * 10), 400, "notCrypt4gh")
    version_2 = c4gh.MAGIC + (2).to_bytes(4, "little") + (1).to_bytes(4, "little")
    _error(_post(ekss, submitter[1], version_2 + b"\0" * 200), 400, "notCrypt4gh")


@pytest.mark.parametrize(("sent", "needed"), [(0, 24), (10, 24), (16, 24), (20, 124), (123, 124)])
def test_truncated_header_says_how_many_bytes(
    ekss: httpx.Client,
    submitter: tuple[bytes, bytes],
    archive_public: bytes,
    sent: int,
    needed: int,
) -> None:
    upload = encrypt_upload(PLAIN, submitter[0], archive_public)
    body = _error(_post(ekss, submitter[1], upload[:sent]), 400, "headerTruncated")
    assert body["data"] == {"received": sent, "needed_at_least": needed}
    assert str(needed) in body["description"]


def test_header_for_another_recipient(ekss: httpx.Client, submitter: tuple[bytes, bytes]) -> None:
    other_public = generate_keypair()[1]
    upload = encrypt_upload(PLAIN, submitter[0], other_public)
    body = _error(_post(ekss, submitter[1], upload[:1000]), 400, "wrongArchiveKey")
    assert "another recipient" in body["description"]


def test_header_of_garbage_packets(ekss: httpx.Client, submitter: tuple[bytes, bytes]) -> None:
    header = c4gh_header.serialize([bytes(8), bytes(4) + os.urandom(100)])
    _error(_post(ekss, submitter[1], header), 400, "wrongArchiveKey")


def test_header_written_by_someone_else(
    ekss: httpx.Client, submitter: tuple[bytes, bytes], archive_public: bytes
) -> None:
    impostor_private, _ = generate_keypair()
    upload = encrypt_upload(PLAIN, impostor_private, archive_public)
    _error(_post(ekss, submitter[1], upload[:1000]), 400, "submitterKeyMismatch")


def test_header_with_two_session_keys(
    ekss: httpx.Client, submitter: tuple[bytes, bytes], archive_public: bytes
) -> None:
    packets = [key_packet(os.urandom(32)), key_packet(os.urandom(32))]
    header = custom_header(packets, submitter[0], archive_public)
    _error(_post(ekss, submitter[1], header), 400, "multipleSessionKeys")


def test_header_with_an_edit_list(
    ekss: httpx.Client, submitter: tuple[bytes, bytes], archive_public: bytes
) -> None:
    packets = [key_packet(os.urandom(32)), edit_list_packet([10, 100])]
    header = custom_header(packets, submitter[0], archive_public)
    _error(_post(ekss, submitter[1], header), 400, "editListNotSupported")


def test_file_part_too_large(ekss: httpx.Client, submitter: tuple[bytes, bytes]) -> None:
    body = _error(_post(ekss, submitter[1], b"\0" * (1024 * 1024 + 1)), 413, "filePartTooLarge")
    assert body["data"] == {"max_bytes": 1024 * 1024}


def test_refused_uploads_store_nothing(
    ekss: httpx.Client, vault: hvac.Client, submitter: tuple[bytes, bytes], archive_public: bytes
) -> None:
    upload = encrypt_upload(PLAIN, submitter[0], archive_public)
    before = list_secrets(vault)
    refused = [
        (submitter[1], upload[:50]),
        (submitter[1], b"x" * 200),
        (generate_keypair()[1], upload),
        (submitter[1], encrypt_upload(PLAIN, submitter[0], generate_keypair()[1])),
    ]
    for public_key, part in refused:
        assert _post(ekss, public_key, part).status_code == 400
    assert list_secrets(vault) == before


def _stack_logs(stack: RunningStack) -> str:
    files = [stack.state_dir.parent / f"{stack.state_dir.name}.out"]
    files += sorted(Path(stack.state_dir, "logs").glob("*"))
    return "\n".join(f.read_text(errors="replace") for f in files if f.is_file())


def test_secrets_never_reach_the_logs(
    ekss: httpx.Client,
    running_stack: RunningStack,
    endpoints: dict[str, Any],
    upload: Callable[..., dict[str, str]],
) -> None:
    created = ekss.post("/secrets", json=upload(PLAIN)).json()
    reader = _url_key(generate_keypair()[1])
    envelope = ekss.get(f"/secrets/{created['secret_id']}/envelopes/{reader}").json()["content"]
    _post(ekss, generate_keypair()[1], b"not crypt4gh" * 20)  # a refused call logs too
    logs = _stack_logs(running_stack)
    assert created["secret_id"] in logs  # the logs are there, and the id may be in them
    for secret in (created["submitter_secret"], created["new_secret"]):
        raw = base64.b64decode(secret)
        for form in (secret, raw.hex(), base64.urlsafe_b64encode(raw).decode()):
            assert form not in logs
    assert envelope not in logs
    assert endpoints["service_token"] not in logs
