"""Deletion over the whole stack: nothing of a deleted or replaced file is left anywhere,
whenever the deletion arrives (issue 12; docs/deletion.md).

Each test uploads a real Crypt4GH file through UCS and lets the stack's own IRS, IFRS, DCS
and EKSS work on it; pausing a function's consumer holds its events in its queue, which is
how a deletion overtakes the file's other events. UCS's consumer is paused where the
submitter must still see the upload as closed-but-not-accepted (so the delete is allowed),
as it would while UCS lags behind the pipeline. At the end every bucket, table and Vault is
searched for the file (tests/deletion/helpers.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.crypt.keys import decode_key
from tests.connector.download_helpers import wait_until
from tests.dcs.helpers import Requester
from tests.deletion.helpers import TRAIL, Archive, RealUpload, fs_admin, upload
from tests.support import EventStream, Operator, RunningStack, consumers_paused
from tests.ucs.helpers import Submitter

TWO_PARTS = 80 * 65_536 + 1_000  # plaintext of two upload parts (and two staged parts)
FOUR_PARTS = 3 * 80 * 65_536 + 1_000  # IRS hands on after two staged parts (the stack's setting)


@pytest.fixture
def archive(endpoints: dict[str, Any]) -> Archive:
    return Archive(endpoints)


@pytest.fixture
def trail(endpoints: dict[str, Any]) -> Iterator[EventStream]:
    stream = EventStream(endpoints, TRAIL)
    try:
        yield stream
    finally:
        stream.close()


@pytest.fixture
def submitter(endpoints: dict[str, Any], operator: Operator) -> Submitter:
    return Submitter(endpoints, operator, operator.create_box())


@pytest.fixture
def real(endpoints: dict[str, Any], submitter: Submitter) -> RealUpload:
    return RealUpload.new(submitter, decode_key(endpoints["archive_public_key"]), TWO_PARTS, 12)


def _gone(archive: Archive, trail: EventStream, file_id: str, known: tuple[set, set]) -> None:
    """Wait for FileDeleted, then nothing of the file may be left anywhere."""
    deleted = trail.wait_for("FileDeleted", file_id, timeout=120)
    assert sorted(deleted.payload["confirmed_by"]) == ["dcs", "ekss", "ifrs", "irs"]
    keys, secrets = known
    more_keys, more_secrets = archive.ids_of(file_id, trail)
    assert archive.traces(file_id, keys | more_keys, secrets | more_secrets) == []


def _served(requester: Requester, file_id: str) -> list[int]:
    token = requester.wot(file_id)
    return [
        requester.drs(file_id, token).status_code,
        requester.envelope(file_id, token).status_code,
        requester.assembled(file_id, "bytes=0-99", token=token).status_code,
    ]


# ------------------------------------------------------------------ the operator's purge


def test_operator_purge_of_a_served_file_leaves_nothing(
    endpoints: dict[str, Any],
    operator: Operator,
    running_stack: RunningStack,
    submitter: Submitter,
    real: RealUpload,
    archive: Archive,
    trail: EventStream,
) -> None:
    file_id = upload(submitter, "served.bam", real)
    trail.wait_for("FileInternallyRegistered", file_id, timeout=120)
    requester = Requester(endpoints, operator, [file_id])
    requester.wait_for(file_id, 200)  # staged to the outbox
    assert requester.envelope(file_id).status_code == 200  # DCS keeps an envelope
    known = archive.ids_of(file_id, trail)

    purged = fs_admin(running_stack.state_dir, "delete-file", file_id, "--wait", "120")
    assert purged.returncode == 0, purged.stderr
    assert "deleted" in purged.stdout
    _gone(archive, trail, file_id, known)
    assert _served(requester, file_id) == [404, 404, 404]

    status = fs_admin(running_stack.state_dir, "file-status", file_id)
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[0].startswith("deleted")
    again = fs_admin(running_stack.state_dir, "delete-file", file_id)
    assert again.returncode == 0, again.stderr
    assert "deleted" in again.stdout


def test_purge_refuses_bad_input_and_changes_nothing(
    running_stack: RunningStack, submitter: Submitter, real: RealUpload, trail: EventStream
) -> None:
    file_id = upload(submitter, "kept.bam", real)
    trail.wait_for("FileInternallyRegistered", file_id, timeout=120)
    for bad in ("not-a-uuid", "00000000-0000-4000-8000-000000000000"):
        result = fs_admin(running_stack.state_dir, "delete-file", bad)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr and result.stderr.strip()
    response = submitter.http.delete(
        f"{submitter.endpoints['ucs_url']}/uploads/{file_id}",
        headers={"Authorization": "Bearer not-the-operator"},
    )
    assert response.status_code in (401, 403)
    assert response.json()["exception_id"]
    trail.settle(quiet_polls=2)
    assert trail.events("FileDeletionRequested", file_id) == []
    assert submitter.status(file_id)["state"] == "registered"


# ------------------------------------------------------------------ the submitter's delete


def test_delete_before_interrogation_starts(
    endpoints: dict[str, Any],
    submitter: Submitter,
    real: RealUpload,
    archive: Archive,
    trail: EventStream,
) -> None:
    with consumers_paused(endpoints, "ucs", "irs"):
        file_id = upload(submitter, "early.bam", real)
        assert submitter.delete(file_id).status_code == 204
        trail.wait_for("FileDeletionRequested", file_id, timeout=30)
    _gone(archive, trail, file_id, archive.ids_of(file_id, trail))
    assert trail.events("FileInternallyRegistered", file_id) == []


def test_delete_while_interrogation_runs(
    endpoints: dict[str, Any],
    submitter: Submitter,
    archive: Archive,
    trail: EventStream,
) -> None:
    real = RealUpload.new(submitter, decode_key(endpoints["archive_public_key"]), FOUR_PARTS, 13)
    with consumers_paused(endpoints, "ucs"):
        file_id = upload(submitter, "during.bam", real)

        def staging() -> bool:
            item = archive.item("interrogations", {"object_key": file_id}) or {}
            return int(item.get("parts_staged", {}).get("N", "0")) > 0

        wait_until(staging, timeout=90, what="IRS staging the first part")
        known = archive.ids_of(file_id, trail)  # the staged object's key, the secret id
        assert submitter.delete(file_id).status_code == 204
    _gone(archive, trail, file_id, known)


def test_delete_between_interrogation_and_registration(
    endpoints: dict[str, Any],
    submitter: Submitter,
    real: RealUpload,
    archive: Archive,
    trail: EventStream,
) -> None:
    with consumers_paused(endpoints, "ucs", "ifrs"):
        file_id = upload(submitter, "between.bam", real)
        trail.wait_for("FileInterrogationSuccess", file_id, timeout=120)
        known = archive.ids_of(file_id, trail)
        assert submitter.delete(file_id).status_code == 204
    _gone(archive, trail, file_id, known)


def test_delete_after_registration_while_ucs_lags(
    endpoints: dict[str, Any],
    operator: Operator,
    submitter: Submitter,
    real: RealUpload,
    archive: Archive,
    trail: EventStream,
) -> None:
    with consumers_paused(endpoints, "ucs"):
        file_id = upload(submitter, "late.bam", real)
        trail.wait_for("FileInternallyRegistered", file_id, timeout=120)
        requester = Requester(endpoints, operator, [file_id])
        requester.wait_for(file_id, 200)  # registered, staged: served
        known = archive.ids_of(file_id, trail)
        assert submitter.delete(file_id).status_code == 204  # UCS still sees it closed
    _gone(archive, trail, file_id, known)
    assert _served(requester, file_id) == [404, 404, 404]


def test_accepted_upload_is_purged_by_the_operator_only(
    submitter: Submitter, real: RealUpload, trail: EventStream
) -> None:
    file_id = upload(submitter, "accepted.bam", real)
    trail.wait_for("FileInternallyRegistered", file_id, timeout=120)
    wait_until(
        lambda: submitter.status(file_id)["state"] == "registered", timeout=90, what="registered"
    )
    refused = submitter.delete(file_id)
    assert refused.status_code == 409
    assert refused.json()["exception_id"]


# ------------------------------------------------------------------ replacing an upload


def test_replaced_upload_is_purged_and_the_new_one_registered(
    endpoints: dict[str, Any],
    operator: Operator,
    submitter: Submitter,
    real: RealUpload,
    archive: Archive,
    trail: EventStream,
) -> None:
    with consumers_paused(endpoints, "ucs"):
        old = upload(submitter, "same.bam", real)
        trail.wait_for("FileInternallyRegistered", old, timeout=120)
        known = archive.ids_of(old, trail)
        newer = RealUpload.new(
            submitter, decode_key(endpoints["archive_public_key"]), TWO_PARTS, 14
        )
        new = upload(submitter, "same.bam", newer, overwrite=True)
    _gone(archive, trail, old, known)
    trail.wait_for("FileInternallyRegistered", new, timeout=120)
    requester = Requester(endpoints, operator, [old, new])
    assert requester.drs(old).status_code == 404
    requester.wait_for(new, 200)
