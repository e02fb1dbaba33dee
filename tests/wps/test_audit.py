"""WPS's audit events and revocation over real HTTP, the events seen on the stack's topics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.tokens import AUDIENCE_DOWNLOAD, AUDIENCE_UPLOAD, TokenVerifier
from tests.support import EventStream, Operator, User, download_wot, upload_wot

AUDIT_EVENTS = ["WorkPackageCreated", "WorkOrderTokenIssued", "WorkPackageRevoked"]


@pytest.fixture
def stream(endpoints: dict[str, Any]) -> Iterator[EventStream]:
    events = EventStream(endpoints, AUDIT_EVENTS)
    try:
        yield events
    finally:
        events.close()


def _stack_logs(running_stack: Any) -> str:
    state_dir = Path(running_stack.state_dir)
    files = [state_dir.parent / f"{state_dir.name}.out", *sorted((state_dir / "logs").glob("*"))]
    return "\n".join(f.read_text(errors="replace") for f in files if f.is_file())


def _logs_with(running_stack: Any, needle: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while needle not in (logs := _stack_logs(running_stack)):
        assert time.monotonic() < deadline, f"no log line with {needle}"
        time.sleep(0.2)
    return logs


def _created(operator: Operator, user: User, **body: Any) -> tuple[str, str, str]:
    """(package id, sealed WPAT as the operator received it, plain WPAT)."""
    from shared.crypt.sealedbox import unseal

    response = operator.http.post(
        f"{operator.endpoints['wps_url']}/work-packages",
        json={"user_public_crypt4gh_key": user.public_b64, **body},
    )
    assert response.status_code == 201, response.text
    data = response.json()
    return data["id"], data["token"], unseal(data["token"], user.private_key)


def test_creation_and_every_wot_are_one_audit_event_each(
    endpoints: dict[str, Any],
    operator: Operator,
    user: User,
    stream: EventStream,
    running_stack: Any,
) -> None:
    verifier = TokenVerifier(endpoints["wot_public_key"])
    box_id = str(uuid.uuid4())
    down_id, down_sealed, down_wpat = _created(operator, user, type="download", file_ids=["f1"])
    up_id, up_sealed, up_wpat = _created(operator, user, type="upload", file_upload_box_id=box_id)
    file_id = str(uuid.uuid4())
    tokens = [down_sealed, down_wpat, up_sealed, up_wpat]

    wot = download_wot(endpoints, user, down_id, down_wpat, "f1")
    download_exp = verifier.verify(wot, AUDIENCE_DOWNLOAD)["exp"]
    tokens.append(wot)
    requests = [
        ("create", {"alias": "a.txt"}),
        ("upload", {"file_id": file_id}),
        ("close", {"file_id": file_id}),
        ("delete", {"file_id": file_id}),
        ("view", {}),
    ]
    upload_exps = []
    for work_type, body in requests:
        wot = upload_wot(endpoints, user, up_id, up_wpat, box_id, work_type, **body)
        upload_exps.append(verifier.verify(wot, AUDIENCE_UPLOAD)["exp"])
        tokens.append(wot)

    stream.wait_for("WorkPackageCreated", down_id)
    stream.wait_for("WorkPackageCreated", up_id)
    stream.wait_for("WorkOrderTokenIssued", down_id)
    deadline = time.monotonic() + 30
    while len(stream.events("WorkOrderTokenIssued", up_id)) < len(requests):
        assert time.monotonic() < deadline, [(e.type, e.key) for e in stream.seen]
        stream.poll()
    stream.settle()  # and no duplicate comes late

    [down_created] = [e.parsed() for e in stream.events("WorkPackageCreated", down_id)]
    assert (down_created.type, down_created.requested_by) == ("download", "operator")
    assert down_created.user_public_crypt4gh_key == user.public_b64
    assert (down_created.file_ids, down_created.box_id) == (["f1"], None)
    assert down_created.expires > datetime.now(UTC)
    [up_created] = [e.parsed() for e in stream.events("WorkPackageCreated", up_id)]
    assert (up_created.type, up_created.box_id, up_created.file_ids) == ("upload", box_id, [])

    [down_issued] = [e.parsed() for e in stream.events("WorkOrderTokenIssued", down_id)]
    assert (down_issued.work_type, down_issued.file_id) == ("download", "f1")
    assert down_issued.user_public_crypt4gh_key == user.public_b64
    assert down_issued.expires == datetime.fromtimestamp(download_exp, UTC)
    issued = [e.parsed() for e in stream.events("WorkOrderTokenIssued", up_id)]
    assert [(e.work_type, e.box_id, e.file_id, e.alias) for e in issued] == [
        ("create", box_id, None, "a.txt"),
        ("upload", box_id, file_id, None),
        ("close", box_id, file_id, None),
        ("delete", box_id, file_id, None),
        ("view", box_id, None, None),
    ]
    assert sorted(e.expires for e in issued) == [
        datetime.fromtimestamp(exp, UTC) for exp in sorted(upload_exps)
    ]

    # never a token in an event, nor in a log line; and the log line is there
    seen = "\n".join(e.model_dump_json() for e in stream.seen)
    logs = _logs_with(running_stack, up_id)
    assert "work package created" in logs and "work order token issued" in logs
    for token in tokens:
        assert token not in seen
        assert token not in logs


def test_refused_requests_are_not_audited(
    endpoints: dict[str, Any], operator: Operator, user: User, stream: EventStream
) -> None:
    wps = endpoints["wps_url"]
    package_id, _, wpat = _created(operator, user, type="download", file_ids=["f1"])
    stream.wait_for("WorkPackageCreated", package_id)
    refused = [
        httpx.post(
            f"{wps}/work-packages/{package_id}/files/other/work-order-tokens",
            headers={"Authorization": f"Bearer {wpat}"},
        ),
        httpx.post(
            f"{wps}/work-packages/{package_id}/files/f1/work-order-tokens",
            headers={"Authorization": "Bearer " + "x" * 24},
        ),
        httpx.post(
            f"{wps}/work-packages",
            json={"type": "download", "user_public_crypt4gh_key": user.public_b64},
            headers={"Authorization": f"Bearer {endpoints['operator_token']}"},
        ),
    ]
    assert [r.status_code for r in refused] == [403, 403, 422]
    stream.settle()
    assert stream.events("WorkOrderTokenIssued", package_id) == []
    assert len(stream.events("WorkPackageCreated")) == 1


def _revoke(endpoints: dict[str, Any], package_id: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.delete(f"{endpoints['wps_url']}/work-packages/{package_id}", headers=headers)


def _every_route(
    endpoints: dict[str, Any], package_id: str, wpat: str, box_id: str
) -> list[httpx.Response]:
    wps, auth = endpoints["wps_url"], {"Authorization": f"Bearer {wpat}"}
    return [
        httpx.get(f"{wps}/work-packages/{package_id}", headers=auth),
        httpx.post(f"{wps}/work-packages/{package_id}/files/f1/work-order-tokens", headers=auth),
        httpx.post(
            f"{wps}/work-packages/{package_id}/boxes/{box_id}/work-order-tokens",
            json={"work_type": "view"},
            headers=auth,
        ),
    ]


@pytest.mark.parametrize("kind", ["download", "upload"])
def test_revocation_refuses_the_access_token_on_every_route(
    endpoints: dict[str, Any],
    operator: Operator,
    user: User,
    stream: EventStream,
    running_stack: Any,
    kind: str,
) -> None:
    box_id = str(uuid.uuid4())
    body = {"file_ids": ["f1"]} if kind == "download" else {"file_upload_box_id": box_id}
    package_id, _, wpat = _created(operator, user, type=kind, **body)
    other_id, _, other_wpat = _created(operator, user, type=kind, **body)
    # a WOT issued before the revocation lives out its short lifetime
    if kind == "download":
        before = download_wot(endpoints, user, package_id, wpat, "f1")
        claims = TokenVerifier(endpoints["wot_public_key"]).verify(before, AUDIENCE_DOWNLOAD)
    else:
        before = upload_wot(endpoints, user, package_id, wpat, box_id, "view")
        claims = TokenVerifier(endpoints["wot_public_key"]).verify(before, AUDIENCE_UPLOAD)
    assert claims["exp"] - claims["iat"] == 30

    first = _revoke(endpoints, package_id, endpoints["operator_token"])
    assert first.status_code == 200, first.text
    assert first.json()["id"] == package_id
    assert (first.json()["revoked_now"], first.json()["revoked_by"]) == (True, "operator")
    for response in _every_route(endpoints, package_id, wpat, box_id):
        assert response.status_code == 403, response.request.url
        assert response.json()["exception_id"] == "workPackageRevoked"
        assert wpat not in response.text

    second = _revoke(endpoints, package_id, endpoints["operator_token"])
    assert second.status_code == 200, second.text
    assert second.json()["revoked_now"] is False
    assert second.json()["revoked"] == first.json()["revoked"]
    assert _every_route(endpoints, package_id, wpat, box_id)[0].status_code == 403
    # another package of the same user is untouched
    assert _every_route(endpoints, other_id, other_wpat, box_id)[0].status_code == 200

    event = stream.wait_for("WorkPackageRevoked", package_id).parsed()
    assert event.revoked_by == "operator"
    assert event.revoked == datetime.fromisoformat(first.json()["revoked"])
    logs = _logs_with(running_stack, "work package revoked")
    assert wpat not in logs and before not in logs


def test_bad_revocations_change_nothing(
    endpoints: dict[str, Any], operator: Operator, user: User, stream: EventStream
) -> None:
    package_id, _, wpat = _created(operator, user, type="download", file_ids=["f1"])
    cases = [
        (str(uuid.uuid4()), endpoints["operator_token"], 404, "workPackageNotFound"),
        ("not-a-uuid", endpoints["operator_token"], 404, "workPackageNotFound"),
        (package_id, None, 401, "notAuthorized"),
        (package_id, "wrong", 401, "notAuthorized"),
        (package_id, wpat, 401, "notAuthorized"),  # the user cannot revoke (nor un-revoke)
    ]
    for target, token, status, exception_id in cases:
        response = _revoke(endpoints, target, token)
        assert response.status_code == status, (target, response.text)
        assert response.json()["exception_id"] == exception_id
        if token:
            assert token not in response.text
    assert _every_route(endpoints, package_id, wpat, "box")[0].status_code == 200
    stream.settle()
    assert stream.events("WorkPackageRevoked") == []
