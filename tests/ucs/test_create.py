"""Creating uploads: sizes, aliases, duplicates and overwrite, box limits, locked boxes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.ucs.model import INBOX, INTERROGATED
from functions.ucs.store import DynamoUcsRepository
from tests.support import assert_error
from tests.ucs.helpers import (
    PART_SIZE,
    TWO_PARTS,
    EventTap,
    Payload,
    Submitter,
    bind_tables,
    object_etag,
    open_multipart_keys,
)

MIB = 1024**2
GIB = 1024**3


def create_raw(submitter: Submitter, body: dict[str, Any]) -> Any:
    token = submitter.wot("create", alias=body.get("alias") or "x")
    return submitter.http.post(
        submitter.base, content=json.dumps(body), headers=submitter.auth(token)
    )


def body(**overrides: Any) -> dict[str, Any]:
    base = {
        "alias": "x",
        "decrypted_size": 1000,
        "encrypted_size": 1152,
        "part_size": PART_SIZE,
        "overwrite": False,
    }
    return {**base, **overrides}


def test_encrypted_size_must_follow_from_decrypted_size(submitter: Submitter) -> None:
    error = assert_error(
        create_raw(submitter, body(encrypted_size=1151)), 400, "uploadSizeMismatch"
    )
    assert error["data"]["expected_encrypted_size"] == 1152
    assert_error(create_raw(submitter, body(encrypted_size=1000)), 400, "uploadSizeMismatch")


@pytest.mark.parametrize("part_size", [5 * MIB - 1, 5 * GIB + 1, 1])
def test_part_size_must_be_within_s3_limits(submitter: Submitter, part_size: int) -> None:
    assert_error(create_raw(submitter, body(part_size=part_size)), 400, "invalidPartSize")


def test_part_size_limits_are_inclusive(submitter: Submitter) -> None:
    assert create_raw(submitter, body(alias="min", part_size=5 * MIB)).status_code == 201
    assert create_raw(submitter, body(alias="max", part_size=5 * GIB)).status_code == 201


def test_at_most_10000_parts(submitter: Submitter) -> None:
    plain = 10_000 * 5 * MIB  # encrypted it needs a 10,001st part of 5 MiB
    encrypted = plain + -(-plain // 65536) * 28 + 124
    error = assert_error(
        create_raw(
            submitter,
            body(decrypted_size=plain, encrypted_size=encrypted, part_size=5 * MIB),
        ),
        400,
        "invalidPartSize",
    )
    assert error["data"]["part_count"] > 10_000


@pytest.mark.parametrize(
    "alias",
    ["", "a" * 256, "/etc/passwd", "bad\nname", "tab\tname", "nul\x00", " padded", "a/../b"],
)
def test_unacceptable_aliases_are_422(submitter: Submitter, alias: str) -> None:
    response = create_raw(submitter, body(alias=alias))
    assert_error(response, 422, "validationError")


# what a downloader on Windows or POSIX would turn into a path outside its directory, a
# device or another file (shared.multipart.alias_problem, the connector's rules too)
UNSAFE_ON_SOME_SYSTEM = {
    "C:/x": "Windows forbids",
    "c:\\x": "'\\'",
    "con": "device name",
    "sub/NUL.txt": "device name",
    "com1.log": "device name",
    "sub/../f": "'..'",
    "./f": "'.'",
    "a//b": "empty",
    "dir/": "empty",
    "trailing.": "dot",
    "a?b": "Windows forbids",
    "x" * 241: "bytes",
}


@pytest.mark.parametrize("alias", list(UNSAFE_ON_SOME_SYSTEM))
def test_aliases_unsafe_as_file_names_are_refused_and_nothing_is_created(
    submitter: Submitter, alias: str
) -> None:
    error = assert_error(create_raw(submitter, body(alias=alias)), 422, "validationError")
    assert UNSAFE_ON_SOME_SYSTEM[alias] in error["description"], error
    listed = submitter.list()
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == []


def test_relative_paths_are_aliases(submitter: Submitter) -> None:
    """What ``upload -r DIR`` sends: a path below the directory, with '/' between names."""
    alias = "run_1/reads/sample 1.fastq.gz"
    response = create_raw(submitter, body(alias=alias))
    assert response.status_code == 201, response.text
    assert response.json()["alias"] == alias


def test_malformed_bodies_are_refused(submitter: Submitter) -> None:
    assert_error(create_raw(submitter, body(decrypted_size="1000")), 422, "validationError")
    assert_error(create_raw(submitter, body(decrypted_size=-1)), 422, "validationError")
    assert_error(create_raw(submitter, body(overwrite="yes")), 422, "validationError")
    missing = body()
    del missing["part_size"]
    assert_error(create_raw(submitter, missing), 422, "validationError")
    token = submitter.wot("create", alias="x")
    response = submitter.http.post(
        submitter.base, content=b"{not json", headers=submitter.auth(token)
    )
    assert_error(response, 400, "badJson")


def test_unknown_box_is_404(endpoints: dict[str, Any], operator: Any) -> None:
    ghost = Submitter(endpoints, operator, str(uuid.uuid4()))
    assert_error(ghost.create("a", Payload.random(1)), 404, "boxNotFound")


def test_duplicate_alias_is_409_in_any_active_state(submitter: Submitter) -> None:
    payload = Payload.random(100)
    first = submitter.created("dup.txt", payload)
    error = assert_error(submitter.create("dup.txt", payload), 409, "fileUploadAlreadyExists")
    assert error["data"] == {"file_id": first, "state": "init"}
    # a retried create (a lost 201) is refused the same way: the client then lists the box
    submitter.put_parts(first, payload)
    assert submitter.close(first, payload.close_body()).status_code == 204
    assert_error(submitter.create("dup.txt", payload), 409, "fileUploadAlreadyExists")
    assert submitter.status(first)["state"] == "inbox"


def test_alias_of_a_cancelled_upload_is_free_again(submitter: Submitter) -> None:
    payload = Payload.random(100)
    first = submitter.created("again.txt", payload)
    assert submitter.delete(first).status_code == 204
    second = submitter.created("again.txt", payload)
    assert second != first
    assert submitter.box()["upload_count"] == 1


def test_overwrite_replaces_an_open_upload(submitter: Submitter, endpoints: dict[str, Any]) -> None:
    payload = Payload.random(TWO_PARTS)
    old = submitter.created("big.bin", payload)
    submitter.put_parts(old, payload, numbers=[1])
    new = submitter.created("big.bin", payload, overwrite=True)
    assert new != old
    old_status = submitter.status(old)
    assert old_status["state"] == "cancelled"
    assert old_status["state_reason"] == "replaced by a new upload"
    open_keys = open_multipart_keys(endpoints)
    assert old not in open_keys
    assert new in open_keys
    box = submitter.box()
    assert box["open_upload_count"] == 1
    assert box["used_size"] == payload.encrypted_size
    assert box["state_counts"]["cancelled"] == 1


def test_overwrite_replaces_a_file_in_the_inbox(
    submitter: Submitter, endpoints: dict[str, Any], tap: EventTap
) -> None:
    payload = Payload.random(1000)
    old = submitter.uploaded("done.txt", payload)
    assert object_etag(endpoints, old) is not None
    new = submitter.created("done.txt", payload, overwrite=True)
    assert submitter.status(old)["state"] == "cancelled"
    assert object_etag(endpoints, old) is None
    [requested] = tap.of("FileDeletionRequested", old)
    assert requested["payload"] == {
        "file_id": old,
        "requested_by": submitter.user_id(),
        "reason": "replaced by a new upload",
    }
    assert submitter.status(old)["deletion"]["status"] == "deleting"
    assert submitter.status(new)["state"] == "init"
    assert submitter.box()["used_size"] == payload.encrypted_size


def test_interrogated_file_is_never_overwritten(
    submitter: Submitter, endpoints: dict[str, Any]
) -> None:
    payload = Payload.random(1000)
    file_id = submitter.uploaded("final.txt", payload)
    # what UCS's event consumer will do on FileInterrogationSuccess (a later issue)
    bind_tables(endpoints)
    repository = DynamoUcsRepository()
    upload = repository.get_upload(file_id)
    assert upload is not None and upload.state == INBOX
    repository.transition(upload, INTERROGATED, now=datetime.now(UTC))
    error = assert_error(
        submitter.create("final.txt", payload, overwrite=True), 409, "fileUploadAlreadyExists"
    )
    assert error["data"]["state"] == "interrogated"
    assert_error(submitter.delete(file_id), 409, "fileUploadStateError")


def test_too_many_open_uploads_is_429_with_retry_after(submitter: Submitter) -> None:
    payload = Payload.random(1)
    ids = [submitter.created(f"open-{n}", payload) for n in range(10)]  # the stack's limit
    response = submitter.create("one-too-many", payload)
    assert_error(response, 429, "tooManyOpenUploads")
    assert int(response.headers["Retry-After"]) > 0
    # overwriting an open upload does not add one
    assert submitter.create("open-0", payload, overwrite=True).status_code == 201
    # a closed upload no longer counts
    submitter.put_parts(ids[1], payload)
    assert submitter.close(ids[1], payload.close_body()).status_code == 204
    assert submitter.create("now-it-fits", payload).status_code == 201


def test_box_size_limit_is_507(endpoints: dict[str, Any], operator: Any) -> None:
    submitter = Submitter(endpoints, operator, operator.create_box(max_size=2 * 1152))
    payload = Payload.random(1000)  # 1152 bytes encrypted
    first = submitter.created("one", payload)
    submitter.created("two", payload)  # exactly full
    error = assert_error(submitter.create("three", payload), 507, "boxMaxSizeExceeded")
    assert error["data"] == {"max_size": 2304, "used_size": 2304, "requested": 1152}
    # a cancelled upload frees its space
    assert submitter.delete(first).status_code == 204
    assert submitter.create("three", payload).status_code == 201


def test_locked_box_refuses_changes_until_unlocked(submitter: Submitter) -> None:
    payload = Payload.random(1000)
    open_id = submitter.created("open.txt", payload)
    submitter.put_parts(open_id, payload)
    boxes = f"{submitter.endpoints['ucs_url']}/boxes/{submitter.box_id}"
    locked = submitter.operator.http.patch(boxes, json={"locked": True})
    assert locked.status_code == 200 and locked.json()["locked"] is True

    assert_error(submitter.create("new.txt", payload), 409, "boxStateError")
    assert_error(submitter.part_url(open_id, 1), 409, "boxStateError")
    assert_error(submitter.close(open_id, payload.close_body()), 409, "boxStateError")
    assert_error(submitter.delete(open_id), 409, "boxStateError")
    assert submitter.list().status_code == 200  # reading is fine
    assert submitter.status(open_id)["state"] == "init"

    unlocked = submitter.operator.http.patch(boxes, json={"locked": False})
    assert unlocked.json()["locked"] is False
    assert submitter.close(open_id, payload.close_body()).status_code == 204
    assert submitter.create("new.txt", payload).status_code == 201
