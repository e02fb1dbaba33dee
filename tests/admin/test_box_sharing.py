"""fs-admin and ownership inside a box: create-box --shared/--private, share-box,
unshare-box, and create-work-package --user-id (a new package for the same submitter keeps
their uploads theirs in a private box). Real processes against the session stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.crypt.keys import public_key_pem
from shared.crypt.sealedbox import unseal
from tests.admin.test_admin import _admin
from tests.support import Operator, User
from tests.ucs.helpers import Payload, Submitter


def _box(running_stack, box_id: str) -> dict[str, Any]:
    operator = Operator(running_stack.endpoints)
    response = operator.http.get(f"{running_stack.endpoints['ucs_url']}/boxes/{box_id}")
    assert response.status_code == 200, response.text
    return response.json()


def test_boxes_are_private_unless_created_or_made_shared(running_stack) -> None:
    state = running_stack.state_dir
    private = _admin(state, "create-box").stdout.strip()
    shared = _admin(state, "create-box", "--shared").stdout.strip()
    explicit = _admin(state, "create-box", "--private", "--max-size", "5000").stdout.strip()
    assert _box(running_stack, private)["shared"] is False
    assert _box(running_stack, shared)["shared"] is True
    assert _box(running_stack, explicit)["shared"] is False
    assert _box(running_stack, explicit)["max_size"] == 5000

    made = _admin(state, "share-box", private)
    assert made.returncode == 0 and made.stdout.strip() == f"{private} shared", made.stderr
    assert _box(running_stack, private)["shared"] is True
    back = _admin(state, "unshare-box", private)
    assert back.returncode == 0 and back.stdout.strip() == f"{private} private", back.stderr
    assert _box(running_stack, private)["shared"] is False

    unknown = _admin(state, "share-box", "0b7f5a7e-3d59-4c5b-9a43-5b1c7a0e1f22")
    assert unknown.returncode == 1 and "404" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_a_second_package_with_the_same_user_id_keeps_the_uploads_theirs(
    running_stack, tmp_path: Path
) -> None:
    state, endpoints = running_stack.state_dir, running_stack.endpoints
    operator = Operator(endpoints)
    box_id = _admin(state, "create-box").stdout.strip()
    user = User.new()
    key = tmp_path / "user.pub"
    key.write_text(public_key_pem(user.public_key))

    def package(*extra: str) -> tuple[str, str]:
        args = ["create-work-package", "--type", "upload", "--box", box_id]
        made = _admin(state, *args, "--user-public-key", str(key), *extra)
        assert made.returncode == 0, made.stderr
        package_id, _, sealed = made.stdout.strip().partition(":")
        return package_id, unseal(sealed, user.private_key)

    def as_submitter(package_id: str, wpat: str) -> Submitter:
        submitter = Submitter(endpoints, operator, box_id)  # then the package fs-admin made
        submitter.user, submitter.package_id, submitter.wpat = user, package_id, wpat
        return submitter

    first = as_submitter(*package("--user-id", "submitter-7"))
    file_id = first.created("mine.bin", Payload.random(1000))
    again = as_submitter(*package("--user-id", "submitter-7"))
    stranger = as_submitter(*package())  # the same key, but a new user id
    assert [i["id"] for i in again.list().json()["items"]] == [file_id]
    assert stranger.list().json()["items"] == []
    assert stranger.delete(file_id).status_code == 404
    assert again.delete(file_id).status_code == 204
