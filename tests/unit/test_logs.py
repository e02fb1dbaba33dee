"""Logs are JSON and never carry a token, key or secret."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shared.crypt.keys import encode_key, generate_keypair
from shared.logs import REDACTED, configure_logging
from shared.tokens import TokenSigner, generate_signing_key


def _capture(emit) -> dict:
    stream = io.StringIO()
    configure_logging("test", "DEBUG", stream=stream)
    try:
        emit(logging.getLogger("fs.test"))
    finally:
        logging.getLogger().handlers = [
            h for h in logging.getLogger().handlers if h.get_name() != "fs-json"
        ]
    return json.loads(stream.getvalue().strip().splitlines()[-1])


def test_lines_are_json_with_service_and_level() -> None:
    entry = _capture(lambda log: log.info("hello %s", "world", extra={"file_id": "f-1"}))
    assert entry["message"] == "hello world"
    assert entry["level"] == "INFO" and entry["service"] == "test"
    assert entry["file_id"] == "f-1"


def test_jwt_and_bearer_in_messages_are_scrubbed() -> None:
    private, _ = generate_signing_key()
    token = TokenSigner(private).sign({"file_id": "x"}, "dcs")
    entry = _capture(lambda log: log.warning("got %s and Bearer abc.def", token))
    assert token not in json.dumps(entry)
    assert "abc.def" not in entry["message"]


def test_keys_and_secrets_are_scrubbed_from_messages_and_extras() -> None:
    _, public = generate_keypair()
    secret = encode_key(public)
    private_pem, _ = generate_signing_key()
    entry = _capture(
        lambda log: log.error(
            "secret %s pem %s",
            secret,
            private_pem,
            extra={"new_secret": "short", "details": {"api_key": "k"}, "note": secret},
        )
    )
    text = json.dumps(entry)
    assert secret not in text
    assert "PRIVATE KEY" not in text
    assert entry["new_secret"] == REDACTED
    assert entry["details"]["api_key"] == REDACTED
    assert entry["note"] == REDACTED


def test_ids_are_kept() -> None:
    uuid = "0b7f5a7e-3d59-4c5b-9a43-5b1c7a0e1f22"
    entry = _capture(lambda log: log.info("file %s", uuid, extra={"secret_id": uuid}))
    assert entry["message"] == f"file {uuid}"
    assert entry["secret_id"] == uuid


def test_exceptions_are_reduced_to_their_type() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise ValueError("token=eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln")
        except ValueError:
            log.exception("failed")

    entry = _capture(emit)
    assert entry["exception"] == "ValueError"
    assert "eyJ" not in json.dumps(entry)


def test_id_and_object_names_are_not_redacted() -> None:
    entry = _capture(
        lambda log: log.info(
            "x", extra={"object_key": "f-1", "secret_id": "s-1", "key_count": 3, "api_key": "k"}
        )
    )
    assert entry["object_key"] == "f-1" and entry["secret_id"] == "s-1"
    assert entry["key_count"] == 3 and entry["api_key"] == REDACTED


def test_the_running_function_names_the_service() -> None:
    from shared.logs import current_function

    token = current_function.set("irs")
    try:
        entry = _capture(lambda log: log.info("x"))
    finally:
        current_function.reset(token)
    assert entry["service"] == "irs"


# ---------------------------------------------------------------- every secret kind we issue


def _presigned_url(session_token: str | None = None) -> str:
    """A real presigned URL (boto3 signs offline): X-Amz-Signature, -Credential, -Date."""
    import boto3

    client = boto3.client(
        "s3",
        region_name="eu-central-1",
        endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key=_aws_secret(),
        aws_session_token=session_token,
    )
    return client.generate_presigned_url(
        "get_object", Params={"Bucket": "outbox", "Key": "0b7f5a7e"}, ExpiresIn=60
    )


def _aws_secret() -> str:
    import base64
    import os

    return base64.b64encode(os.urandom(30)).decode()  # 40 characters, AWS's shape


def _secret_kinds() -> dict[str, str]:
    """One real instance of each secret the system creates or handles."""
    import base64
    import secrets

    from shared.crypt.c4gh import make_header, new_session_key
    from shared.crypt.keys import private_key_pem, public_key_pem
    from shared.crypt.sealedbox import seal
    from shared.tokens import random_token
    from testbed.seaweedfs import Credentials

    user_private, user_public = generate_keypair()
    signing_private, _ = generate_signing_key()
    wot = TokenSigner(signing_private).sign({"file_id": "x", "type": "download"}, "dcs")
    wpat = random_token(24)
    file_secret = new_session_key()
    return {
        "wpat": wpat,  # WPS's work package access token (24 alphanumerics)
        "stack token": random_token(32),  # operator, EKSS caller and Vault tokens
        "sealed wpat": seal(wpat, user_public),
        "wot": wot,
        "sealed wot": seal(wot, user_public),
        "crypt4gh public key": encode_key(user_public),
        "crypt4gh private key": encode_key(user_private),
        "crypt4gh private pem": private_key_pem(user_private),
        "crypt4gh public pem": public_key_pem(user_public),
        "es256 signing key": signing_private,
        "file secret": base64.b64encode(file_secret).decode(),
        "file secret urlsafe": base64.urlsafe_b64encode(file_secret).decode().rstrip("="),
        "envelope": base64.b64encode(
            make_header(file_secret, user_private, generate_keypair()[1])
        ).decode(),
        "vault service token": "hvs." + random_token(24),
        "vault batch token": "hvb." + random_token(90),
        "vault legacy token": "s." + random_token(24),
        "aws secret key": _aws_secret(),
        "seaweedfs secret key": Credentials.generate().secret_key,
        "hex secret 64": secrets.token_hex(32),
        "hex secret 32": secrets.token_hex(16),
        "hex secret 40": secrets.token_hex(20),
        "urlsafe token": secrets.token_urlsafe(32),
        "short urlsafe token": secrets.token_urlsafe(16),
    }


def test_every_secret_kind_is_scrubbed_from_messages_and_fields() -> None:
    from shared.logs import scrub

    for kind, secret in _secret_kinds().items():
        entry = _capture(
            lambda log, s=secret: log.info(
                "got %s here", s, extra={"note": f"x {s} y", "detail": {"value": s}}
            )
        )
        text = json.dumps(entry)
        for piece in secret.strip().splitlines():
            if len(piece) >= 16 and not piece.startswith("-----"):
                assert piece not in text, kind
        assert scrub(f"({secret})") != f"({secret})", kind


def test_presigned_urls_lose_their_whole_query() -> None:
    from shared.logs import scrub

    for url in (_presigned_url(), _presigned_url(session_token="IQoJb3JpZ2luX2VjE" + "A" * 40)):
        base, _, query = url.partition("?")
        cleaned = scrub(f"GET {url} HTTP/1.1")
        assert cleaned == f"GET {base}{REDACTED} HTTP/1.1"
        for part in query.split("&"):
            assert part.split("=", 1)[1] not in cleaned
    header = (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261203/eu-central-1/s3/aws4_request,"
        " SignedHeaders=host;x-amz-date, Signature=" + "ab12" * 16
    )
    assert "ab12" not in scrub(header) and "AKIAIOSFODNN7EXAMPLE" not in scrub(header)
    assert scrub("X-Amz-Signature: " + "0f" * 32) == f"X-Amz-Signature: {REDACTED}"


def test_ids_names_and_digest_fields_are_kept() -> None:
    import hashlib
    import uuid

    from functions.ekss.model import file_secret_id
    from shared.logs import scrub

    file_id = uuid.uuid4()
    kept = [
        str(file_id),
        file_secret_id(file_id),  # EKSS's secret ids are UUIDs (uuid5)
        "FileInterrogationSuccess",
        "FileDeletionRequested",
        "ResearchDataUploadBox",
        "s3transfer",
        "AKIAIOSFODNN7EXAMPLE",  # an access key id is not a secret
        "upload created for box 0b7f5a7e-3d59-4c5b-9a43-5b1c7a0e1f22",
        "objects/0b7f5a7e-3d59-4c5b-9a43-5b1c7a0e1f22/assembled",
        "parts_done=17 part_count=10000",
        "X-Work-Order-Token",
        "file_upload_box_id",
        "Content-Type: application/octet-stream",
    ]
    for text in kept:
        assert scrub(text) == text, text
    fingerprint = hashlib.sha256(b"public key").hexdigest()
    entry = _capture(
        lambda log: log.info(
            "x",
            extra={
                "user_fingerprint": fingerprint,
                "decrypted_sha256": fingerprint,
                "encrypted_md5": fingerprint[:32],
                "note": fingerprint,
            },
        )
    )
    assert entry["user_fingerprint"] == entry["decrypted_sha256"] == fingerprint
    assert entry["encrypted_md5"] == fingerprint[:32]
    assert entry["note"] == REDACTED  # hex in a field not named for a digest is a secret


@pytest.mark.parametrize("length", [16, 20, 24, 31])
def test_every_token_the_system_issues_is_scrubbed(length: int) -> None:
    """Not a sample's luck: an issued token always holds both cases and a digit, which the
    scrubber takes for a secret however word-like the rest of it is."""
    from shared.logs import scrub
    from shared.tokens import random_token

    leaked = [t for t in (random_token(length) for _ in range(5000)) if t in scrub(f"x {t} y")]
    assert leaked == []
