"""The operator's purge over the real stack: the route, UCS's event consumer, its tables.

The holders' consumers are paused; the tests confirm in their place by publishing
FileDeletionConfirmed on the stack's topic, as a holder does (shared/deletion.py), so
UCS's side is proven whatever the holders do.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from functions.ucs.model import INBOX, INTERROGATED
from functions.ucs.store import DynamoUcsRepository
from shared.events import FileDeletionConfirmed
from tests.support import assert_error
from tests.ucs.helpers import (
    EventTap,
    Payload,
    Submitter,
    bind_tables,
    confirm_deletion,
    holders_paused,
    local_coordinator,
    object_etag,
    open_multipart_keys,
)

HOLDERS = ["dcs", "ekss", "ifrs", "irs"]


@pytest.fixture
def paused_holders(endpoints: dict[str, Any]) -> Iterator[None]:
    with holders_paused(endpoints):
        yield


def _deleted(submitter: Submitter, file_id: str, timeout: float = 30) -> dict[str, Any]:
    """The upload once UCS's consumer recorded every confirmation (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        status = submitter.status(file_id)
        if (status["deletion"] or {}).get("status") == "deleted":
            return status
        assert time.monotonic() < deadline, status["deletion"]
        time.sleep(0.3)


def test_purge_of_a_file_in_the_inbox_until_every_holder_confirmed(
    submitter: Submitter, endpoints: dict[str, Any], tap: EventTap, paused_holders: None
) -> None:
    file_id = submitter.uploaded("purged.txt", Payload.random(1000))
    assert object_etag(endpoints, file_id) is not None

    response = submitter.purge(file_id, reason="consent withdrawn")
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["file_id"], body["state"], body["requested_now"]) == (file_id, "deleted", True)
    deletion = body["deletion"]
    assert (deletion["status"], deletion["requested_by"]) == ("deleting", "operator")
    assert (deletion["reason"], deletion["confirmed"]) == ("consent withdrawn", {})
    assert deletion["awaited"] == HOLDERS and deletion["deleted"] is None
    assert object_etag(endpoints, file_id) is None
    assert submitter.status(file_id)["deletion"] == deletion
    [requested] = tap.of("FileDeletionRequested", file_id)
    assert requested["payload"] == {
        "file_id": file_id,
        "requested_by": "operator",
        "reason": "consent withdrawn",
    }
    box = submitter.box()
    assert (box["state_counts"]["deleted"], box["state_counts"]["inbox"]) == (1, 0)
    assert box["used_size"] == 0

    again = submitter.purge(file_id)  # asked again: the request goes out again
    assert again.status_code == 202 and again.json()["requested_now"] is False
    assert len(tap.of("FileDeletionRequested", file_id)) == 2

    confirm_deletion(endpoints, file_id, "irs", ["interrogation record"])
    confirm_deletion(endpoints, file_id, "irs", ["interrogation record"])  # redelivered
    for service in ("ekss", "dcs", "ifrs"):
        confirm_deletion(endpoints, file_id, service, [f"{service} record"])
    status = _deleted(submitter, file_id)
    assert status["deletion"]["confirmed"] == {
        "dcs": ["dcs record"],
        "ekss": ["ekss record"],
        "ifrs": ["ifrs record"],
        "irs": ["interrogation record"],
    }
    assert status["deletion"]["awaited"] == []
    [deleted] = tap.of("FileDeleted", file_id)
    assert deleted["payload"] == {
        "file_id": file_id,
        "requested_by": "operator",
        "confirmed_by": HOLDERS,
    }

    done = submitter.purge(file_id)
    assert done.status_code == 200, done.text
    assert done.json()["deletion"]["status"] == "deleted"
    assert len(tap.of("FileDeletionRequested", file_id)) == 2  # complete: not asked again
    assert submitter.box()["state_counts"]["deleted"] == 1


def test_purge_of_an_accepted_and_of_an_open_upload_frees_alias_and_space(
    submitter: Submitter, endpoints: dict[str, Any], paused_holders: None
) -> None:
    payload = Payload.random(1000)
    accepted = submitter.uploaded("accepted.txt", payload)
    bind_tables(endpoints)
    repository = DynamoUcsRepository()
    upload = repository.get_upload(accepted)
    assert upload is not None and upload.state == INBOX
    repository.transition(upload, INTERROGATED, now=datetime.now(UTC))  # as IRS's success would
    opened = submitter.created("open.txt", payload)
    assert opened in open_multipart_keys(endpoints)

    for file_id in (accepted, opened):
        response = submitter.purge(file_id)
        assert response.status_code == 202, response.text
        assert response.json()["state"] == "deleted"
    assert opened not in open_multipart_keys(endpoints)
    box = submitter.box()
    assert (box["used_size"], box["upload_count"], box["state_counts"]["deleted"]) == (0, 0, 2)
    assert submitter.created("accepted.txt", payload)  # the alias is free again
    [item] = [i for i in submitter.list().json()["items"] if i["id"] == accepted]
    assert (item["state"], item["state_reason"]) == ("deleted", "deleted by the archive")


def test_bad_purges_are_clear_errors_and_change_nothing(
    submitter: Submitter, endpoints: dict[str, Any], tap: EventTap, paused_holders: None
) -> None:
    file_id = submitter.uploaded("kept.txt", Payload.random(10))
    before = submitter.status(file_id)
    url = f"{endpoints['ucs_url']}/uploads"
    unknown = str(uuid.uuid4())
    error = assert_error(submitter.purge(unknown), 404, "fileUploadNotFound")
    assert "no upload" in error["description"]
    error = assert_error(submitter.purge("not-a-file-id"), 404, "fileUploadNotFound")
    assert "UUID" in error["description"]
    assert_error(httpx.delete(f"{url}/{file_id}"), 401, "notAuthorized")
    wrong = {"Authorization": "Bearer not-the-operator"}
    assert_error(httpx.delete(f"{url}/{file_id}", headers=wrong), 401, "notAuthorized")
    submitters = submitter.auth(submitter.wot("delete", file_id=file_id))
    assert_error(httpx.delete(f"{url}/{file_id}", headers=submitters), 401, "notAuthorized")
    bad_body = submitter.operator.http.request("DELETE", f"{url}/{file_id}", content=b"{")
    assert_error(bad_body, 400, "badJson")
    assert submitter.status(file_id) == before
    assert object_etag(endpoints, file_id) is not None
    for key in (file_id, unknown):
        assert tap.of("FileDeletionRequested", key) == []


def test_confirmations_on_the_real_tables_are_recorded_once(
    submitter: Submitter, endpoints: dict[str, Any], tap: EventTap, paused_holders: None
) -> None:
    """The consumer's core in this process, on the stack's DynamoDB: duplicates and
    confirmations for files nobody asked to delete change nothing."""
    coordinator = local_coordinator(endpoints)
    file_id = submitter.uploaded("confirmed.txt", Payload.random(10))
    not_purged = submitter.uploaded("not-purged.txt", Payload.random(10))

    def confirmation(key: str, service: str, removed: list[str]) -> FileDeletionConfirmed:
        return FileDeletionConfirmed(
            file_id=key, service=service, requested_by="operator", removed=removed
        )

    coordinator.confirmed(confirmation(not_purged, "irs", ["all"]))
    assert submitter.status(not_purged)["deletion"] is None
    _, recorded = coordinator.purge(file_id, "test")
    assert recorded
    coordinator.confirmed(confirmation(file_id, "ekss", ["secret"]))
    coordinator.confirmed(confirmation(file_id, "ekss", ["another"]))
    assert submitter.status(file_id)["deletion"]["confirmed"] == {"ekss": ["secret"]}
    for service in HOLDERS:
        coordinator.confirmed(confirmation(file_id, service, []))
    deletion = submitter.status(file_id)["deletion"]
    assert deletion["status"] == "deleted"
    assert deletion["confirmed"] == {"dcs": [], "ekss": ["secret"], "ifrs": [], "irs": []}
    assert len(tap.of("FileDeleted", file_id)) == 1
    coordinator.confirmed(confirmation(file_id, "irs", []))
    assert len(tap.of("FileDeleted", file_id)) == 1
