"""Logs are JSON and never carry a token, key or secret."""

from __future__ import annotations

import io
import json
import logging

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
