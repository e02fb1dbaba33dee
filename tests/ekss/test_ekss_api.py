"""EKSS over real HTTP against the session stack and its real Vault.

Each caller with its own credential on its own routes: IRS asks for the secrets of a file
in the inbox (EKSS reads the header itself), DCS for envelopes of registered files for the
key of a reader's download work order. The attacks of issue 13 are repeated here, refused.
"""

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

from functions.ekss.model import file_secret_id
from shared.crypt import c4gh
from shared.crypt.keys import generate_keypair
from shared.tokens import AUDIENCE_DOWNLOAD, TokenSigner, generate_signing_key
from tests.ekss.helpers import (
    all_versions,
    b64,
    custom_header,
    edit_list_packet,
    encrypt_upload,
    key_packet,
    list_secrets,
    put_in_inbox,
    read_secret,
    register_at_ekss,
    remove_from_inbox,
)
from tests.support import RunningStack, User

PLAIN = os.urandom(3 * c4gh.SEGMENT_SIZE + 1234)  # several segments


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


def _envelope(
    dcs: httpx.Client, secret_id: str, reader_public: bytes, wot: str | None
) -> httpx.Response:
    headers = {} if wot is None else {"X-Work-Order-Token": wot}
    return dcs.get(f"/secrets/{secret_id}/envelopes/{_url_key(reader_public)}", headers=headers)


def _registered(
    endpoints: dict[str, Any], irs: httpx.Client, upload: Callable[..., dict[str, str]]
) -> tuple[dict[str, str], dict[str, Any]]:
    """A file interrogated (POST /secrets) and registered: (request body, created)."""
    body = upload(PLAIN)
    created = irs.post("/secrets", json=body).json()
    register_at_ekss(endpoints, body["file_id"], created["secret_id"])
    return body, created


def test_health(irs: httpx.Client) -> None:
    assert irs.get("/health").json() == {"status": "OK"}


def test_round_trip(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    dcs: httpx.Client,
    vault: hvac.Client,
    submitter: tuple[bytes, bytes],
    archive_public: bytes,
    order: Callable[[str, User], str],
) -> None:
    upload = encrypt_upload(PLAIN, submitter[0], archive_public)
    file_id = put_in_inbox(endpoints, upload)
    response = irs.post("/secrets", json={"file_id": file_id, "public_key": b64(submitter[1])})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    assert set(created) == {"submitter_secret", "new_secret", "secret_id", "offset"}
    assert created["offset"] == c4gh.header_length(upload) == c4gh.ENVELOPE_SIZE_ONE_RECIPIENT
    assert created["secret_id"] == file_secret_id(uuid.UUID(file_id))

    submitter_secret = base64.b64decode(created["submitter_secret"])
    new_secret = base64.b64decode(created["new_secret"])
    assert c4gh.decrypt_body(upload[created["offset"] :], [submitter_secret]) == PLAIN
    assert len(new_secret) == 32 and new_secret != submitter_secret
    assert read_secret(vault, created["secret_id"]) == {"secret": created["new_secret"]}

    # a download: the body re-encrypted with the new secret, the envelope for the reader
    reader = User.new()
    wot = order(file_id, reader)
    _error(_envelope(dcs, created["secret_id"], reader.public_key, wot), 404, "fileNotRegistered")
    stored = register_at_ekss(endpoints, file_id, created["secret_id"])
    assert stored is not None and stored["secret"] == created["new_secret"]
    response = _envelope(dcs, created["secret_id"], reader.public_key, wot)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    envelope = base64.b64decode(response.json()["content"])
    assert len(envelope) == c4gh.ENVELOPE_SIZE_ONE_RECIPIENT
    body = c4gh.encrypt_body(PLAIN, new_secret)
    assert _standard_decrypt(envelope + body, reader.private_key, sender=archive_public) == PLAIN
    with pytest.raises(ValueError):  # only the reader can open it
        _standard_decrypt(envelope + body, generate_keypair()[0])


def test_a_repeated_call_returns_the_files_one_secret(
    irs: httpx.Client, vault: hvac.Client, upload: Callable[..., dict[str, str]]
) -> None:
    body = upload(b"same file")
    first, second = (irs.post("/secrets", json=body).json() for _ in range(2))
    assert first == second  # the same secret id and secret; the submitter's opened again
    path = f"fs/ekss/secrets/{first['secret_id']}"
    assert all_versions(vault, path) == {1: {"secret": first["new_secret"]}}
    other = irs.post("/secrets", json=upload(b"same file")).json()
    assert other["secret_id"] != first["secret_id"]
    assert other["new_secret"] != first["new_secret"]


def test_registration_is_a_new_version_that_keeps_the_secret_and_is_idempotent(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    vault: hvac.Client,
    upload: Callable[..., dict[str, str]],
) -> None:
    body, created = _registered(endpoints, irs, upload)
    register_at_ekss(endpoints, body["file_id"], created["secret_id"])  # redelivered
    versions = all_versions(vault, f"fs/ekss/secrets/{created['secret_id']}")
    assert list(versions) == [1, 2], versions
    assert versions[2]["secret"] == versions[1]["secret"] == created["new_secret"]
    assert set(versions[2]) == {"secret", "registered"}
    assert irs.post("/secrets", json=body).json() == created  # still the file's one secret


# ---------------------------------------------------------------- the attacks, refused


def test_a_header_copied_out_of_an_upload_is_not_accepted(
    irs: httpx.Client,
    vault: hvac.Client,
    submitter: tuple[bytes, bytes],
    archive_public: bytes,
) -> None:
    """Issue 13: POST /secrets opened any header sent to it. No header is accepted now."""
    stolen = encrypt_upload(PLAIN, submitter[0], archive_public)[:1000]
    before = list_secrets(vault)
    for body in (
        {"public_key": b64(submitter[1]), "file_part": b64(stolen)},
        {"public_key": b64(submitter[1]), "file_part": b64(stolen), "file_id": str(uuid.uuid4())},
    ):
        refused = _error(irs.post("/secrets", json=body), 422, "validationError")
        assert "file_part" in refused["description"]
    # the id of a file that is not in the inbox (nothing under interrogation): nothing
    body = {"public_key": b64(submitter[1]), "file_id": str(uuid.uuid4())}
    _error(irs.post("/secrets", json=body), 404, "noInterrogation")
    assert list_secrets(vault) == before


def test_a_registered_file_out_of_the_inbox_is_no_longer_opened(
    endpoints: dict[str, Any], irs: httpx.Client, upload: Callable[..., dict[str, str]]
) -> None:
    """Once UCS removed the inbox object, the file's secrets do not leave EKSS to anyone."""
    body, created = _registered(endpoints, irs, upload)
    remove_from_inbox(endpoints, body["file_id"])
    refused = _error(irs.post("/secrets", json=body), 404, "noInterrogation")
    assert created["new_secret"] not in str(refused)


def test_the_dcs_credential_creates_no_secret(
    dcs: httpx.Client, vault: hvac.Client, upload: Callable[..., dict[str, str]]
) -> None:
    before = list_secrets(vault)
    _error(dcs.post("/secrets", json=upload(PLAIN)), 403, "wrongCaller")
    assert list_secrets(vault) == before


def test_the_irs_credential_gets_no_envelope(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    upload: Callable[..., dict[str, str]],
    order: Callable[[str, User], str],
) -> None:
    body, created = _registered(endpoints, irs, upload)
    reader = User.new()
    response = _envelope(
        irs, created["secret_id"], reader.public_key, order(body["file_id"], reader)
    )
    _error(response, 403, "wrongCaller")


def _other_signer_wot(file_id: str, reader: User) -> str:
    """A download WOT of the right shape, signed by a key that is not WPS's."""
    private, _ = generate_signing_key()
    claims = {
        "type": "download",
        "file_id": file_id,
        "user_public_crypt4gh_key": reader.public_b64,
        "user_id": "u",
        "work_package_id": "p",
    }
    return TokenSigner(private).sign(claims, AUDIENCE_DOWNLOAD)


@pytest.mark.parametrize(
    "case", ["no-order", "garbage", "forged", "another-file", "another-key", "other-claim-key"]
)
def test_an_envelope_needs_the_readers_download_order_for_this_file_and_key(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    dcs: httpx.Client,
    upload: Callable[..., dict[str, str]],
    order: Callable[[str, User], str],
    case: str,
) -> None:
    """Issue 13: an envelope of any secret was made for any key. Each variation refused,
    with one answer that tells the caller nothing about why."""
    body, created = _registered(endpoints, irs, upload)
    reader, stranger = User.new(), User.new()
    other_file = str(uuid.uuid4())
    wot, key = {
        "no-order": lambda: (None, reader.public_key),
        "garbage": lambda: ("not.a.token", reader.public_key),
        "forged": lambda: (_other_signer_wot(body["file_id"], reader), reader.public_key),
        "another-file": lambda: (order(other_file, reader), reader.public_key),
        "another-key": lambda: (order(body["file_id"], reader), stranger.public_key),
        "other-claim-key": lambda: (order(body["file_id"], stranger), reader.public_key),
    }[case]()
    refused = _error(_envelope(dcs, created["secret_id"], key, wot), 403, "workOrderRefused")
    assert refused["data"] == {}
    # the same order for the right file and key works: the refusal was about the order
    good = _envelope(dcs, created["secret_id"], reader.public_key, order(body["file_id"], reader))
    assert good.status_code == 200, good.text


def test_an_envelope_for_an_unregistered_file_is_not_found(
    irs: httpx.Client,
    dcs: httpx.Client,
    upload: Callable[..., dict[str, str]],
    order: Callable[[str, User], str],
) -> None:
    body = upload(PLAIN)
    created = irs.post("/secrets", json=body).json()
    reader = User.new()
    response = _envelope(
        dcs, created["secret_id"], reader.public_key, order(body["file_id"], reader)
    )
    refused = _error(response, 404, "fileNotRegistered")
    assert created["new_secret"] not in str(refused)


def test_no_route_deletes_a_secret(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    dcs: httpx.Client,
    vault: hvac.Client,
    upload: Callable[..., dict[str, str]],
) -> None:
    """Issue 13: any secret could be deleted with the one token. Only events delete now."""
    created = irs.post("/secrets", json=upload(PLAIN)).json()
    for client in (irs, dcs):
        for path in (f"/secrets/{created['secret_id']}", "/secrets"):
            assert client.delete(path).status_code in (404, 405)
    assert read_secret(vault, created["secret_id"]) == {"secret": created["new_secret"]}


def test_envelope_accepts_standard_base64_keys(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    dcs: httpx.Client,
    upload: Callable[..., dict[str, str]],
    order: Callable[[str, User], str],
) -> None:
    body, created = _registered(endpoints, irs, upload)
    # a key whose standard base64 has '+' or '/', so that the two encodings differ
    while True:
        reader = User.new()
        standard = b64(reader.public_key)
        if "/" in standard or "+" in standard:
            break
    wot = order(body["file_id"], reader)
    content = c4gh.encrypt_body(PLAIN, base64.b64decode(created["new_secret"]))
    for encoded in (quote(standard, safe=""), _url_key(reader.public_key)):
        response = dcs.get(
            f"/secrets/{created['secret_id']}/envelopes/{encoded}",
            headers={"X-Work-Order-Token": wot},
        )
        assert response.status_code == 200, response.text
        envelope = base64.b64decode(response.json()["content"])
        assert _standard_decrypt(envelope + content, reader.private_key) == PLAIN


def test_unknown_and_malformed_secret_ids(
    dcs: httpx.Client, order: Callable[[str, User], str]
) -> None:
    reader = User.new()
    unknown_file = str(uuid.uuid4())
    unknown = file_secret_id(uuid.UUID(unknown_file))
    wot = order(unknown_file, reader)
    _error(_envelope(dcs, unknown, reader.public_key, wot), 404, "secretNotFound")
    for malformed in ("not-a-uuid", "%2E%2E", quote("../archive-keys/archive", safe="")):
        _error(_envelope(dcs, malformed, reader.public_key, wot), 422, "invalidSecretId")


def test_envelope_refuses_invalid_reader_keys(dcs: httpx.Client) -> None:
    secret_id = str(uuid.uuid4())
    for bad in ("abc", _url_key(b"\x01" * 31), "!!!!", _url_key(b"\x01" * 33)):
        _error(dcs.get(f"/secrets/{secret_id}/envelopes/{bad}"), 422, "invalidPublicKey")


ROUTES = [
    ("POST", "/secrets"),
    ("GET", f"/secrets/{uuid.uuid4()}/envelopes/{'A' * 43}="),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_calls_need_a_callers_token(
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


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_operator_token_is_no_callers_token(
    endpoints: dict[str, Any], upload: Callable[..., dict[str, str]], method: str, path: str
) -> None:
    response = httpx.request(
        method,
        f"{endpoints['ekss_url']}{path}",
        json=upload(PLAIN),
        headers={"Authorization": f"Bearer {endpoints['operator_token']}"},
    )
    _error(response, 401, "notAuthorized")


def _bodies(submitter_public: bytes, file_id: str) -> dict[str, Any]:
    key = b64(submitter_public)
    return {
        "no-fields": {},
        "no-file-id": {"public_key": key},
        "no-public-key": {"file_id": file_id},
        "file-id-not-uuid": {"public_key": key, "file_id": "../archive-keys/archive"},
        "key-not-base64": {"public_key": "not base64 at all!", "file_id": file_id},
        "key-31-bytes": {"public_key": b64(submitter_public[:31]), "file_id": file_id},
        "key-not-string": {"public_key": 12, "file_id": file_id},
        "body-is-a-list": [key, file_id],
    }


@pytest.mark.parametrize(
    "case",
    [
        "no-fields",
        "no-file-id",
        "no-public-key",
        "file-id-not-uuid",
        "key-not-base64",
        "key-31-bytes",
        "key-not-string",
        "body-is-a-list",
    ],
)
def test_malformed_requests(
    irs: httpx.Client, upload: Callable[..., dict[str, str]], submitter: tuple, case: str
) -> None:
    file_id = upload(PLAIN)["file_id"]
    body = _bodies(submitter[1], file_id)[case]
    _error(irs.post("/secrets", json=body), 422, "validationError")


def test_body_that_is_not_json(irs: httpx.Client) -> None:
    _error(irs.post("/secrets", content=b"{not json"), 400, "badJson")


def _post(
    endpoints: dict[str, Any], irs: httpx.Client, public_key: bytes, data: bytes
) -> httpx.Response:
    """The upload ``data`` in the inbox, and POST /secrets for it."""
    file_id = put_in_inbox(endpoints, data)
    return irs.post("/secrets", json={"public_key": b64(public_key), "file_id": file_id})


def test_not_crypt4gh(
    endpoints: dict[str, Any], irs: httpx.Client, submitter: tuple[bytes, bytes]
) -> None:
    post = _post(endpoints, irs, submitter[1], b"plain text, not encrypted" * 10)
    _error(post, 400, "notCrypt4gh")
    version_2 = c4gh.MAGIC + (2).to_bytes(4, "little") + (1).to_bytes(4, "little")
    _error(_post(endpoints, irs, submitter[1], version_2 + b"\0" * 200), 400, "notCrypt4gh")


@pytest.mark.parametrize(("sent", "needed"), [(10, 24), (16, 24), (20, 124), (123, 124)])
def test_truncated_header_says_how_many_bytes(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    submitter: tuple[bytes, bytes],
    archive_public: bytes,
    sent: int,
    needed: int,
) -> None:
    upload = encrypt_upload(PLAIN, submitter[0], archive_public)
    body = _error(_post(endpoints, irs, submitter[1], upload[:sent]), 400, "headerTruncated")
    assert body["data"] == {"received": sent, "needed_at_least": needed}
    assert str(needed) in body["description"]


def test_header_for_another_recipient(
    endpoints: dict[str, Any], irs: httpx.Client, submitter: tuple[bytes, bytes]
) -> None:
    upload = encrypt_upload(PLAIN, submitter[0], generate_keypair()[1])
    body = _error(_post(endpoints, irs, submitter[1], upload), 400, "wrongArchiveKey")
    assert "another recipient" in body["description"]


def test_header_of_garbage_packets(
    endpoints: dict[str, Any], irs: httpx.Client, submitter: tuple[bytes, bytes]
) -> None:
    header = c4gh_header.serialize([bytes(8), bytes(4) + os.urandom(100)])
    _error(_post(endpoints, irs, submitter[1], header), 400, "wrongArchiveKey")


def test_header_written_by_someone_else(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    submitter: tuple[bytes, bytes],
    archive_public: bytes,
) -> None:
    impostor_private, _ = generate_keypair()
    upload = encrypt_upload(PLAIN, impostor_private, archive_public)
    _error(_post(endpoints, irs, submitter[1], upload), 400, "submitterKeyMismatch")


def test_header_with_two_session_keys(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    submitter: tuple[bytes, bytes],
    archive_public: bytes,
) -> None:
    packets = [key_packet(os.urandom(32)), key_packet(os.urandom(32))]
    header = custom_header(packets, submitter[0], archive_public)
    _error(_post(endpoints, irs, submitter[1], header), 400, "multipleSessionKeys")


def test_header_with_an_edit_list(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    submitter: tuple[bytes, bytes],
    archive_public: bytes,
) -> None:
    packets = [key_packet(os.urandom(32)), edit_list_packet([10, 100])]
    header = custom_header(packets, submitter[0], archive_public)
    _error(_post(endpoints, irs, submitter[1], header), 400, "editListNotSupported")


def test_refused_uploads_store_nothing(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    vault: hvac.Client,
    submitter: tuple[bytes, bytes],
    archive_public: bytes,
) -> None:
    upload = encrypt_upload(PLAIN, submitter[0], archive_public)
    before = list_secrets(vault)
    refused = [
        (submitter[1], upload[:50]),
        (submitter[1], b"x" * 200),
        (generate_keypair()[1], upload),
        (submitter[1], encrypt_upload(PLAIN, submitter[0], generate_keypair()[1])),
    ]
    for public_key, data in refused:
        assert _post(endpoints, irs, public_key, data).status_code == 400
    assert list_secrets(vault) == before


def _stack_logs(stack: RunningStack) -> str:
    files = [stack.state_dir.parent / f"{stack.state_dir.name}.out"]
    files += sorted(Path(stack.state_dir, "logs").glob("*"))
    return "\n".join(f.read_text(errors="replace") for f in files if f.is_file())


def test_secrets_and_credentials_never_reach_the_logs(
    endpoints: dict[str, Any],
    irs: httpx.Client,
    dcs: httpx.Client,
    running_stack: RunningStack,
    upload: Callable[..., dict[str, str]],
    order: Callable[[str, User], str],
) -> None:
    body, created = _registered(endpoints, irs, upload)
    reader = User.new()
    wot = order(body["file_id"], reader)
    envelope = _envelope(dcs, created["secret_id"], reader.public_key, wot).json()["content"]
    _envelope(dcs, created["secret_id"], User.new().public_key, wot)  # a refusal logs too
    _post(endpoints, irs, generate_keypair()[1], b"not crypt4gh" * 20)
    logs = _stack_logs(running_stack)
    assert created["secret_id"] in logs  # the logs are there, and the id may be in them
    for secret in (created["submitter_secret"], created["new_secret"]):
        raw = base64.b64decode(secret)
        for form in (secret, raw.hex(), base64.urlsafe_b64encode(raw).decode()):
            assert form not in logs
    assert envelope not in logs
    for credential in (endpoints["irs_ekss_token"], endpoints["dcs_ekss_token"], wot):
        assert credential not in logs
