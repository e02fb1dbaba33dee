"""The operator's upload boxes: create, read, lock, unlock, delete; and file status."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from shared.multipart import MAX_OBJECT_SIZE
from tests.support import Operator, assert_error
from tests.ucs.helpers import Payload, Submitter


@pytest.fixture
def boxes(endpoints: dict[str, Any]) -> str:
    return f"{endpoints['ucs_url']}/boxes"


def test_create_box_with_defaults(operator: Operator, boxes: str) -> None:
    response = operator.http.post(boxes, json={})
    assert response.status_code == 201, response.text
    box = response.json()
    assert uuid.UUID(box["id"]).version == 4
    assert box["max_size"] == MAX_OBJECT_SIZE  # the default holds the largest file
    assert box["locked"] is False
    assert datetime.fromisoformat(box["created"])
    assert box["used_size"] == 0
    assert box["upload_count"] == 0


def test_create_box_with_size_and_description(operator: Operator, boxes: str) -> None:
    response = operator.http.post(boxes, json={"max_size": 12345, "description": "study 7"})
    assert response.status_code == 201
    box_id = response.json()["id"]
    box = operator.http.get(f"{boxes}/{box_id}").json()
    assert box["max_size"] == 12345
    assert box["description"] == "study 7"


@pytest.mark.parametrize(
    "body", [{"max_size": 0}, {"max_size": -5}, {"max_size": "big"}, {"description": "x" * 1001}]
)
def test_create_box_refuses_bad_bodies(operator: Operator, boxes: str, body: Any) -> None:
    assert_error(operator.http.post(boxes, json=body), 422, "validationError")


def test_get_box_counts_its_uploads(submitter: Submitter) -> None:
    payload = Payload.random(1000)
    submitter.uploaded("a.txt", payload)
    submitter.created("b.txt", payload)
    cancelled = submitter.created("c.txt", payload)
    submitter.delete(cancelled)
    box = submitter.box()
    assert box["used_size"] == 2 * 1152
    assert box["upload_count"] == 2
    assert box["open_upload_count"] == 1
    assert box["state_counts"] == {
        "init": 1,
        "inbox": 1,
        "interrogated": 0,
        "failed": 0,
        "cancelled": 1,
        "registered": 0,
        "deleted": 0,
    }


def test_unknown_boxes_are_404(operator: Operator, boxes: str) -> None:
    for box_id in (str(uuid.uuid4()), "not-a-uuid"):
        assert_error(operator.http.get(f"{boxes}/{box_id}"), 404, "boxNotFound")
        patch = operator.http.patch(f"{boxes}/{box_id}", json={"locked": True})
        assert_error(patch, 404, "boxNotFound")
        assert_error(operator.http.delete(f"{boxes}/{box_id}"), 404, "boxNotFound")


def test_lock_and_unlock_are_idempotent(operator: Operator, boxes: str) -> None:
    box_id = operator.create_box()
    for locked in (True, True, False, False):
        response = operator.http.patch(f"{boxes}/{box_id}", json={"locked": locked})
        assert response.status_code == 200
        assert response.json()["locked"] is locked
    assert_error(operator.http.patch(f"{boxes}/{box_id}", json={}), 422, "validationError")
    bad = operator.http.patch(f"{boxes}/{box_id}", json={"locked": "yes"})
    assert_error(bad, 422, "validationError")


def test_box_with_pending_uploads_cannot_be_deleted(submitter: Submitter, boxes: str) -> None:
    payload = Payload.random(10)
    file_id = submitter.created("pending.txt", payload)
    url = f"{boxes}/{submitter.box_id}"
    error = assert_error(submitter.operator.http.delete(url), 409, "boxNotEmpty")
    assert error["data"] == {"init": 1, "inbox": 0}
    submitter.put_parts(file_id, payload)
    submitter.close(file_id, payload.close_body())
    error = assert_error(submitter.operator.http.delete(url), 409, "boxNotEmpty")
    assert error["data"] == {"init": 0, "inbox": 1}
    assert submitter.delete(file_id).status_code == 204

    assert submitter.operator.http.delete(url).status_code == 204
    assert submitter.operator.http.delete(url).status_code == 204  # idempotent
    assert_error(submitter.operator.http.get(url), 404, "boxNotFound")
    assert_error(submitter.create("new.txt", payload), 404, "boxNotFound")
    assert_error(submitter.list(), 404, "boxNotFound")


def test_file_status_for_the_operator(submitter: Submitter, endpoints: dict[str, Any]) -> None:
    payload = Payload.random(1000)
    file_id = submitter.uploaded("status.txt", payload)
    status = submitter.status(file_id)
    close = payload.close_body()
    assert status["id"] == file_id
    assert status["box_id"] == submitter.box_id
    assert status["alias"] == "status.txt"
    assert status["state"] == "inbox"
    assert status["object_id"] == file_id
    assert status["storage_alias"] == endpoints["storage_alias"]
    assert status["decrypted_sha256"] == close["decrypted_sha256"]
    assert status["encrypted_md5"] == close["encrypted_md5"]
    for missing in (str(uuid.uuid4()), "nope"):
        response = submitter.operator.http.get(f"{endpoints['ucs_url']}/uploads/{missing}")
        assert_error(response, 404, "fileUploadNotFound")
