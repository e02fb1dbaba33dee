"""Ownership inside a box over HTTP: two submitters (two upload work packages, two users)
of one box. In a private box (the default) each lists, resumes, closes and deletes only
their own uploads; another's is 404 fileUploadNotFound, its alias 409 without naming it.
In a box the operator made shared, both act on every upload. The operator sees all.
"""

from __future__ import annotations

from typing import Any

from tests.support import Operator, assert_error
from tests.ucs.helpers import Payload, Submitter

SMALL = 1000  # one part


def _box(operator: Operator, **body: Any) -> dict[str, Any]:
    response = operator.http.post(f"{operator.endpoints['ucs_url']}/boxes", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _aliases(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total_count"] == len(body["items"])
    return sorted(item["alias"] for item in body["items"])


def _state(submitter: Submitter, file_id: str) -> str:
    listing = submitter.operator.http.get(submitter.base)  # the operator's view: every upload
    assert listing.status_code == 200, listing.text
    return {i["id"]: i["state"] for i in listing.json()["items"]}[file_id]


def test_a_box_is_private_by_default_and_each_submitter_acts_on_their_own(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    box = _box(operator)
    assert box["shared"] is False
    alice, bob = (
        Submitter(endpoints, operator, box["id"]),
        Submitter(endpoints, operator, box["id"]),
    )
    payload = Payload.random(SMALL)
    alice_file = alice.created("alice.bin", payload)
    bob.created("bob.bin", payload)

    assert _aliases(alice.list()) == ["alice.bin"]
    assert _aliases(bob.list()) == ["bob.bin"]
    assert _aliases(operator.http.get(alice.base)) == ["alice.bin", "bob.bin"]

    # every act on Alice's upload, with Bob's own valid tokens for that file: not found
    assert_error(bob.part_url(alice_file, 1), 404, "fileUploadNotFound")
    assert_error(bob.stored_parts(alice_file), 404, "fileUploadNotFound")
    assert_error(bob.close(alice_file, payload.close_body()), 404, "fileUploadNotFound")
    assert_error(bob.delete(alice_file), 404, "fileUploadNotFound")
    for overwrite in (False, True):
        taken = bob.create("alice.bin", payload, overwrite=overwrite)
        assert_error(taken, 409, "fileUploadAlreadyExists")
        assert alice_file not in taken.text
    assert _state(alice, alice_file) == "init"

    alice.put_parts(alice_file, payload)
    assert alice.close(alice_file, payload.close_body()).status_code == 204
    assert_error(bob.delete(alice_file), 404, "fileUploadNotFound")  # closed: still hers
    assert _state(alice, alice_file) == "inbox"
    assert alice.delete(alice_file).status_code == 204
    assert _state(alice, alice_file) == "cancelled"


def test_in_a_shared_box_every_submitter_acts_on_every_upload(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    box = _box(operator, shared=True)
    assert box["shared"] is True
    alice, bob = (
        Submitter(endpoints, operator, box["id"]),
        Submitter(endpoints, operator, box["id"]),
    )
    payload = Payload.random(SMALL)
    alice_file = alice.created("alice.bin", payload)
    bob.created("bob.bin", payload)
    assert _aliases(bob.list()) == ["alice.bin", "bob.bin"]
    bob.put_parts(alice_file, payload)
    assert bob.stored_parts(alice_file).status_code == 200
    assert bob.close(alice_file, payload.close_body()).status_code == 204
    assert bob.delete(alice_file).status_code == 204
    assert _state(alice, alice_file) == "cancelled"

    # the operator makes it private again: from then on each their own
    url = f"{endpoints['ucs_url']}/boxes/{box['id']}"
    changed = operator.http.patch(url, json={"shared": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["shared"] is False and changed.json()["locked"] is False
    assert _aliases(alice.list()) == ["alice.bin"]
    assert_error(operator.http.patch(url, json={}), 422, "validationError")
    assert_error(operator.http.patch(url, json={"shared": "yes"}), 422, "validationError")
