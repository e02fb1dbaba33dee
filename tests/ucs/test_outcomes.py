"""UCS records what interrogation and registration decided (issue 4: UCS consumes outcomes)."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.ucs.model import FAILED, INBOX, INTERROGATED, REGISTERED
from functions.ucs.outcomes import OutcomeRecorder
from functions.ucs.store import DynamoUcsRepository
from shared.adapters.aws import client
from shared.adapters.s3 import S3Storage
from shared.crypt.keys import decode_key
from shared.resources import queue_name
from tests.irs.helpers import encrypt_file, random_bytes
from tests.support import EventStream, wait_until_drained
from tests.ucs.helpers import (
    Payload,
    Submitter,
    bind_tables,
    inbox,
    inbox_keys,
    local_controller,
)

pytestmark = pytest.mark.interrogating  # these need IRS running


def _wait_for_state(submitter: Submitter, file_id: str, states: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        upload = submitter.status(file_id)
        if upload["state"] in states:
            return upload
        assert time.monotonic() < deadline, f"still {upload['state']}"
        time.sleep(0.3)


def _payload_of(data: bytes, decrypted_size: int) -> Payload:
    parts = [data[i : i + 5_245_120] for i in range(0, len(data), 5_245_120)]
    return Payload(decrypted_size, 5_245_120, parts)


def _leaves_the_inbox(endpoints: dict, file_id: str) -> bool:
    """The state is recorded first, the object and its manifest removed right after: wait
    (bounded)."""
    deadline = time.monotonic() + 30
    while inbox_keys(endpoints, file_id):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_accepted_file_becomes_registered_and_leaves_the_inbox(
    endpoints: dict, submitter: Submitter
) -> None:
    plain = random_bytes(70_000, seed=3)
    data = encrypt_file(
        plain, submitter.user.private_key, decode_key(endpoints["archive_public_key"])
    )
    payload = _payload_of(data, len(plain))
    file_id = submitter.created("accepted.bin", payload)
    submitter.put_parts(file_id, payload)
    closed = submitter.close(file_id, payload.close_body(hashlib.sha256(plain).hexdigest()))
    assert closed.status_code == 204, closed.text
    upload = _wait_for_state(submitter, file_id, {REGISTERED, FAILED})
    assert upload["state"] == REGISTERED, upload
    assert _leaves_the_inbox(endpoints, file_id)
    listed = submitter.list().json()["items"]
    assert [i["state"] for i in listed if i["id"] == file_id] == [REGISTERED]


def test_rejected_file_says_why_and_leaves_the_inbox(endpoints: dict, submitter: Submitter) -> None:
    plain = random_bytes(1000, seed=4)
    data = encrypt_file(
        plain, submitter.user.private_key, decode_key(endpoints["archive_public_key"])
    )
    payload = _payload_of(data, len(plain))
    file_id = submitter.created("wrong-checksum.bin", payload)
    submitter.put_parts(file_id, payload)
    wrong = hashlib.sha256(b"something else").hexdigest()
    assert submitter.close(file_id, payload.close_body(wrong)).status_code == 204
    upload = _wait_for_state(submitter, file_id, {REGISTERED, FAILED})
    assert upload["state"] == FAILED
    assert "checksum" in upload["state_reason"].lower()
    assert _leaves_the_inbox(endpoints, file_id)
    # the alias is free again: the submitter can upload the file anew
    assert submitter.create("wrong-checksum.bin", payload).status_code == 201


def test_outcomes_out_of_order_and_repeated_only_move_forward(
    endpoints: dict, submitter: Submitter
) -> None:
    """Registration overtaking its success, and late duplicates of every outcome."""
    bind_tables(endpoints)
    repository = DynamoUcsRepository()
    recorder = OutcomeRecorder(
        repository, S3Storage(client("s3")), inbox(endpoints), lambda: datetime.now(UTC)
    )
    file_id = submitter.created("reordered.bin", Payload.random(10))
    upload = repository.get_upload(file_id)
    repository.transition(upload, INBOX, now=datetime.now(UTC))  # as a close would

    recorder.registered(file_id)
    assert repository.get_upload(file_id).state == REGISTERED
    recorder.accepted(file_id)
    recorder.rejected(file_id, "late failure")
    recorder.registered(file_id)
    final = repository.get_upload(file_id)
    assert final.state == REGISTERED and final.state_reason != "late failure"

    second = submitter.created("accepted-twice.bin", Payload.random(10))
    repository.transition(repository.get_upload(second), INBOX, now=datetime.now(UTC))
    recorder.accepted(second)
    recorder.accepted(second)
    assert repository.get_upload(second).state == INTERROGATED
    recorder.rejected(second, "too late")
    assert repository.get_upload(second).state == INTERROGATED

    recorder.accepted("0b7f5a7e-3d59-4c5b-9a43-5b1c7a0e1f22")  # unknown: ignored, no error


def test_a_duplicate_announcement_registers_the_file_once(
    endpoints: dict, submitter: Submitter
) -> None:
    """The sweep may announce a close that was announced already (its mark was lost): the
    consumers take the second FileUploadReceived as the duplicate it is."""
    plain = random_bytes(70_000, seed=5)
    data = encrypt_file(
        plain, submitter.user.private_key, decode_key(endpoints["archive_public_key"])
    )
    payload = _payload_of(data, len(plain))
    outcomes = EventStream(
        endpoints,
        ("FileInterrogationSuccess", "FileInterrogationFailure", "FileInternallyRegistered"),
    )
    try:
        file_id = submitter.created("announced-twice.bin", payload)
        submitter.put_parts(file_id, payload)
        closed = submitter.close(file_id, payload.close_body(hashlib.sha256(plain).hexdigest()))
        assert closed.status_code == 204, closed.text
        bind_tables(endpoints)
        upload = DynamoUcsRepository().get_upload(file_id)
        local_controller(endpoints).announcer.announce(upload)  # the same event once more
        assert _wait_for_state(submitter, file_id, {REGISTERED, FAILED})["state"] == REGISTERED
        for queue in ("irs-inbox", "ifrs-events", "ucs-events"):
            wait_until_drained(endpoints, queue_name(queue, endpoints["resource_prefix"]))
        outcomes.drain()
        assert len(outcomes.events("FileInternallyRegistered", file_id)) == 1
        assert outcomes.events("FileInterrogationFailure", file_id) == []
        assert submitter.status(file_id)["state"] == REGISTERED
        assert _leaves_the_inbox(endpoints, file_id)
    finally:
        outcomes.close()
