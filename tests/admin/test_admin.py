"""fs-admin as the operator runs it: real processes against the session stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.crypt.keys import public_key_pem
from shared.crypt.sealedbox import unseal
from tests.support import Operator, User
from tests.ucs.helpers import Payload, Submitter, confirm_deletion, holders_paused

FS_ADMIN = str(Path(sys.executable).parent / "fs-admin")


def _admin(state_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FS_ADMIN, "--state-dir", str(state_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def _key_file(tmp_path: Path, user: User) -> Path:
    path = tmp_path / "user.pub"
    path.write_text(public_key_pem(user.public_key))
    return path


def test_download_work_package_prints_what_the_user_pastes(
    running_stack, tmp_path: Path, user: User
) -> None:
    result = _admin(
        running_stack.state_dir,
        "create-work-package",
        "--type",
        "download",
        "--file-id",
        "f1",
        "--file-id",
        "f2",
        "--user-public-key",
        str(_key_file(tmp_path, user)),
    )
    assert result.returncode == 0, result.stderr
    package_id, _, sealed = result.stdout.strip().partition(":")
    wpat = unseal(sealed, user.private_key)
    described = httpx.get(
        f"{running_stack.endpoints['wps_url']}/work-packages/{package_id}",
        headers={"Authorization": f"Bearer {wpat}"},
    ).json()
    assert described["files"] == {"f1": "", "f2": ""}


def test_box_lifecycle_and_listing(running_stack, tmp_path: Path, user: User) -> None:
    state = running_stack.state_dir
    created = _admin(state, "create-box", "--max-size", "1000000")
    assert created.returncode == 0, created.stderr
    box_id = created.stdout.strip()
    assert len(box_id) == 36
    package = _admin(
        state,
        "create-work-package",
        "--type",
        "upload",
        "--box",
        box_id,
        "--user-public-key",
        str(_key_file(tmp_path, user)),
    )
    assert package.returncode == 0, package.stderr
    listed = _admin(state, "list-box", box_id, "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert "(no uploads)" in _admin(state, "list-box", box_id).stdout
    assert _admin(state, "lock-box", box_id).returncode == 0
    assert _admin(state, "unlock-box", box_id).returncode == 0


def test_unknown_file_status_is_a_clear_error(running_stack) -> None:
    result = _admin(running_stack.state_dir, "file-status", "0b7f5a7e-3d59-4c5b-9a43-5b1c7a0e1f22")
    assert result.returncode == 1
    assert "404" in result.stderr and "Traceback" not in result.stderr


def test_bad_inputs_exit_non_zero_without_traceback(
    running_stack, tmp_path: Path, user: User
) -> None:
    state = running_stack.state_dir
    key = str(_key_file(tmp_path, user))
    bad_key = tmp_path / "bad.pub"
    bad_key.write_text("not a key\n")
    cases = [
        (["create-work-package", "--type", "upload", "--user-public-key", key], 2, "--box"),
        (["create-work-package", "--type", "download", "--user-public-key", key], 2, "--file-id"),
        (
            ["create-work-package", "--type", "both", "--user-public-key", key],
            2,
            "upload or download",
        ),
        (
            [
                "create-work-package",
                "--type",
                "download",
                "--file-id",
                "f",
                "--user-public-key",
                str(tmp_path / "missing.pub"),
            ],
            2,
            "cannot read",
        ),
        (
            [
                "create-work-package",
                "--type",
                "download",
                "--file-id",
                "f",
                "--user-public-key",
                str(bad_key),
            ],
            2,
            "not a Crypt4GH public key",
        ),
        (["create-box", "--max-size", "many"], 2, "Usage: fs-admin create-box"),
    ]
    for args, code, message in cases:
        result = _admin(state, *args)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_no_stack_and_wrong_operator_token(running_stack, tmp_path: Path) -> None:
    missing = _admin(tmp_path / "nowhere", "create-box")
    assert missing.returncode == 2 and "no running stack" in missing.stderr
    wrong = _admin(running_stack.state_dir, "create-box", env={"FS_ADMIN_TOKEN": "wrong"})
    assert wrong.returncode == 1 and "401" in wrong.stderr
    assert "wrong" not in wrong.stderr.replace("401", "")  # the token is not echoed


def test_wkvs_url_mode_needs_the_operator_token(running_stack) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FS_ADMIN_TOKEN"}
    result = subprocess.run(
        [FS_ADMIN, "--wkvs-url", running_stack.endpoints["wkvs_url"], "create-box"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2 and "FS_ADMIN_TOKEN" in result.stderr
    ok = subprocess.run(
        [FS_ADMIN, "--wkvs-url", running_stack.endpoints["wkvs_url"], "create-box"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "FS_ADMIN_TOKEN": running_stack.endpoints["operator_token"]},
    )
    assert ok.returncode == 0, ok.stderr


# ---------------------------------------------------------------- delete-file


@pytest.fixture
def paused_holders(running_stack) -> Iterator[Submitter]:
    """A submitter with a box; the holders paused, so that the test confirms in their place."""
    endpoints = running_stack.endpoints
    operator = Operator(endpoints)
    with holders_paused(endpoints):
        yield Submitter(endpoints, operator, operator.create_box())


def test_delete_file_twice_then_waits_until_deleted(running_stack, paused_holders) -> None:
    state, endpoints, submitter = running_stack.state_dir, running_stack.endpoints, paused_holders
    file_id = submitter.uploaded("wrong-sample.txt", Payload.random(100))
    first = _admin(state, "delete-file", file_id, "--reason", "wrong sample")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        f"deletion of {file_id} requested; waiting for dcs, ekss, ifrs, irs"
    )
    second = _admin(state, "delete-file", file_id)
    assert second.returncode == 0, second.stderr
    assert "already requested" in second.stdout and "asked again" in second.stdout
    assert "by operator" in second.stdout

    status = _admin(state, "file-status", file_id).stdout.splitlines()
    assert status[0] == "deleting (waiting for dcs, ekss, ifrs, irs)"
    assert status[1].startswith("  requested: ")
    assert status[1].endswith("by operator (wrong sample)")
    assert "  upload: deleted: deleted by the archive" in status

    for service in ("dcs", "ekss", "ifrs"):
        confirm_deletion(endpoints, file_id, service, [f"{service} record"])
    waiting = subprocess.Popen(
        [FS_ADMIN, "--state-dir", str(state), "delete-file", file_id, "--wait", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    confirm_deletion(endpoints, file_id, "irs", ["staged object"])
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert out.splitlines()[-1] == (
        f"{file_id} deleted: dcs removed dcs record; ekss removed ekss record; "
        "ifrs removed ifrs record; irs removed staged object"
    )

    again = _admin(state, "delete-file", file_id)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"{file_id} already deleted: dcs removed dcs record")
    status = _admin(state, "file-status", file_id).stdout.splitlines()
    assert status[0] == "deleted"
    assert "  irs removed: staged object" in status


def test_delete_file_says_when_the_wait_ran_out(running_stack, paused_holders) -> None:
    file_id = paused_holders.uploaded("slow.txt", Payload.random(10))
    result = _admin(running_stack.state_dir, "delete-file", file_id, "--wait", "1")
    assert result.returncode == 3
    assert result.stdout.startswith(f"deletion of {file_id} requested")
    [line] = result.stderr.splitlines()
    assert line == (
        f"fs-admin: {file_id} is not deleted after 1 s; still waiting for dcs, ekss, ifrs, irs "
        "(run delete-file again to ask again)"
    )


def test_delete_file_bad_inputs_are_one_line_and_change_nothing(
    running_stack, paused_holders
) -> None:
    state = running_stack.state_dir
    file_id = paused_holders.uploaded("kept.txt", Payload.random(10))
    cases = [
        (["delete-file", str(uuid.uuid4())], {}, 1, "no upload with this file id"),
        (["delete-file", "not-a-file-id"], {}, 1, "UUID"),
        (["delete-file", file_id], {"FS_ADMIN_TOKEN": "wrong"}, 1, "401"),
        (["delete-file", file_id, "--wait", "-1"], {}, 2, "Usage: fs-admin delete-file"),
        (["file-status", "not-a-file-id"], {}, 1, "UUID"),
    ]
    for args, env, code, message in cases:
        result = _admin(state, *args, env=env)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert paused_holders.status(file_id)["deletion"] is None
    assert paused_holders.status(file_id)["state"] == "inbox"


# ---------------------------------------------------------------- revoke-work-package


def test_revoke_work_package_twice_and_the_token_is_refused(
    running_stack, operator: Operator, user: User
) -> None:
    state, wps = running_stack.state_dir, running_stack.endpoints["wps_url"]
    package_id, wpat = operator.download_package(user, ["f1"])
    first = _admin(state, "revoke-work-package", package_id)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"{package_id} revoked\n"
    auth = {"Authorization": f"Bearer {wpat}"}
    for response in (
        httpx.get(f"{wps}/work-packages/{package_id}", headers=auth),
        httpx.post(f"{wps}/work-packages/{package_id}/files/f1/work-order-tokens", headers=auth),
    ):
        assert response.status_code == 403
        assert response.json()["exception_id"] == "workPackageRevoked"
    again = _admin(state, "revoke-work-package", package_id)
    assert again.returncode == 0, again.stderr
    [line] = again.stdout.splitlines()
    assert line.startswith(f"{package_id} already revoked (") and line.endswith(" by operator)")


def test_revoke_work_package_errors_are_one_line_and_change_nothing(
    running_stack, operator: Operator, user: User, tmp_path: Path
) -> None:
    state, wps = running_stack.state_dir, running_stack.endpoints["wps_url"]
    package_id, wpat = operator.download_package(user, ["f1"])
    cases = [
        ([str(uuid.uuid4())], {}, 1, "404"),
        (["not-a-package-id"], {}, 1, "workPackageNotFound"),
        ([package_id], {"FS_ADMIN_TOKEN": "wrong"}, 1, "401"),
        ([], {}, 2, "Usage: fs-admin revoke-work-package"),
    ]
    for args, env, code, message in cases:
        result = _admin(state, "revoke-work-package", *args, env=env)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stdout == ""
        if code == 1:
            assert len(result.stderr.splitlines()) == 1
    missing = _admin(tmp_path / "nowhere", "revoke-work-package", package_id)
    assert missing.returncode == 2 and "no running stack" in missing.stderr
    described = httpx.get(
        f"{wps}/work-packages/{package_id}", headers={"Authorization": f"Bearer {wpat}"}
    )
    assert described.status_code == 200
