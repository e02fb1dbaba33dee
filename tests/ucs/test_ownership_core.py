"""Ownership inside a box, on the UCS core with fakes: two submitters of one box.

In a private box (the default) each sees, resumes, closes and deletes only their own
uploads; another's is "not found" (404), its alias is taken but never replaced. In a shared
box both act on every upload. The operator sees all. Proven over HTTP in test_ownership.py.
"""

from __future__ import annotations

import pytest

from functions.ucs.model import CANCELLED, INBOX, INIT, NewUpload
from shared.crypt.c4gh import encrypted_size
from shared.errors import ServiceError
from shared.multipart import MIN_PART_SIZE
from tests.ucs.test_core_fakes import DECRYPTED, Ucs, payload, refusal
from tests.ucs.test_core_fakes import ucs as ucs  # the fixture

ALICE, BOB = "user-alice", "user-bob"


def create(ucs: Ucs, box_id: str, user: str, alias: str, overwrite: bool = False) -> str:
    request = NewUpload(alias, DECRYPTED, encrypted_size(DECRYPTED), MIN_PART_SIZE, overwrite)
    return ucs.uploads.acting_for(user).create_upload(box_id, request, created_by=user).id


def listed(ucs: Ucs, box_id: str, user: str | None) -> tuple[list[str], int]:
    uploads = ucs.uploads if user is None else ucs.uploads.acting_for(user)
    items, total = uploads.list_uploads(box_id, 0, 100)
    return [u.alias for u in items], total


def not_found(call) -> None:
    with pytest.raises(ServiceError) as error:
        call()
    assert refusal(error) == (404, "fileUploadNotFound")


@pytest.fixture
def box(ucs: Ucs) -> tuple[str, str, str]:
    """A private box with one upload of Alice's and one of Bob's."""
    box_id = ucs.new_box()
    return box_id, create(ucs, box_id, ALICE, "alice.bin"), create(ucs, box_id, BOB, "bob.bin")


def test_boxes_are_private_unless_made_shared(ucs: Ucs) -> None:
    assert ucs.boxes.create().shared is False
    assert ucs.boxes.create(shared=True).shared is True
    box_id = ucs.new_box()
    assert ucs.boxes.update(box_id, shared=True).shared is True
    assert ucs.boxes.update(box_id, locked=True).shared is True  # the other setting stays
    assert ucs.boxes.update(box_id, shared=False).locked is True


def test_each_submitter_lists_only_their_own(ucs: Ucs, box: tuple[str, str, str]) -> None:
    box_id, _, _ = box
    assert listed(ucs, box_id, ALICE) == (["alice.bin"], 1)
    assert listed(ucs, box_id, BOB) == (["bob.bin"], 1)
    assert listed(ucs, box_id, "") == ([], 0)  # a token that names nobody owns nothing
    assert sorted(listed(ucs, box_id, None)[0]) == ["alice.bin", "bob.bin"]  # the operator


def test_another_s_upload_is_not_found_for_every_act(ucs: Ucs, box: tuple[str, str, str]) -> None:
    box_id, alice_file, _ = box
    bob = ucs.uploads.acting_for(BOB)
    checksums = ucs.put(alice_file, payload())
    not_found(lambda: bob.part_url(box_id, alice_file, 1))
    not_found(lambda: bob.stored_parts(box_id, alice_file))
    not_found(lambda: bob.close(box_id, alice_file, checksums, "bob-key"))
    not_found(lambda: bob.delete(box_id, alice_file, requested_by=BOB))
    assert ucs.state(alice_file) == INIT  # nothing changed
    alice = ucs.uploads.acting_for(ALICE)
    assert alice.part_url(box_id, alice_file, 1)
    alice.close(box_id, alice_file, checksums, "alice-key")
    assert ucs.state(alice_file) == INBOX
    not_found(lambda: bob.delete(box_id, alice_file, requested_by=BOB))  # closed: still hers
    assert ucs.state(alice_file) == INBOX
    alice.delete(box_id, alice_file, requested_by=ALICE)
    assert ucs.state(alice_file) == CANCELLED


def test_another_s_alias_is_taken_not_replaced(ucs: Ucs, box: tuple[str, str, str]) -> None:
    box_id, alice_file, _ = box
    for overwrite in (False, True):
        with pytest.raises(ServiceError) as taken:
            create(ucs, box_id, BOB, "alice.bin", overwrite=overwrite)
        assert refusal(taken) == (409, "fileUploadAlreadyExists")
        assert alice_file not in str(taken.value.data)  # which upload is hers to know
    assert ucs.state(alice_file) == INIT
    replaced = create(ucs, box_id, ALICE, "alice.bin", overwrite=True)  # her own: replaced
    assert ucs.state(alice_file) == CANCELLED and ucs.state(replaced) == INIT


def test_in_a_shared_box_every_submitter_acts_on_every_upload(
    ucs: Ucs, box: tuple[str, str, str]
) -> None:
    box_id, alice_file, bob_file = box
    ucs.boxes.update(box_id, shared=True)
    assert sorted(listed(ucs, box_id, BOB)[0]) == ["alice.bin", "bob.bin"]
    bob = ucs.uploads.acting_for(BOB)
    assert bob.part_url(box_id, alice_file, 1)
    bob.close(box_id, alice_file, ucs.put(alice_file, payload()), "bob-key")
    assert ucs.state(alice_file) == INBOX
    bob.delete(box_id, alice_file, requested_by=BOB)
    assert ucs.state(alice_file) == CANCELLED
    replaced = create(ucs, box_id, ALICE, "bob.bin", overwrite=True)
    assert ucs.state(bob_file) == CANCELLED and ucs.state(replaced) == INIT
    ucs.boxes.update(box_id, shared=False)  # private again: each their own
    assert listed(ucs, box_id, BOB) == (["bob.bin"], 1)  # his, replaced: not Alice's new one
    not_found(lambda: bob.part_url(box_id, replaced, 1))
