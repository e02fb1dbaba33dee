"""WPS's audit trail and revocation, on the core with its ports in memory (no stack)."""

from __future__ import annotations

import copy
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.wps.audit import fingerprint
from functions.wps.core import WorkPackageService
from shared.crypt.sealedbox import unseal
from shared.errors import ServiceError
from shared.logs import JsonFormatter
from shared.tokens import (
    AUDIENCE_DOWNLOAD,
    AUDIENCE_UPLOAD,
    TokenSigner,
    TokenVerifier,
    generate_signing_key,
)
from tests.fakes.wps import EnvelopePublisher, InMemoryWorkPackageRepository
from tests.support import User

SIGNING_PRIVATE, SIGNING_PUBLIC = generate_signing_key()
VERIFIER = TokenVerifier(SIGNING_PUBLIC)


class Audited:
    """The core with its repository and publisher, and every secret it handed out."""

    def __init__(self) -> None:
        self.repository = InMemoryWorkPackageRepository()
        self.publisher = EnvelopePublisher()
        self.wps = WorkPackageService(
            self.repository, TokenSigner(SIGNING_PRIVATE), self.publisher, timedelta(days=3)
        )
        self.user = User.new()
        self.secrets: list[str] = []  # sealed and plain tokens, token hashes

    def package(self, **fields) -> tuple[str, str]:
        created = self.wps.create(user_public_crypt4gh_key=self.user.public_b64, **fields)
        wpat = unseal(created.sealed_token, self.user.private_key)
        stored = self.repository.packages[created.id]
        self.secrets += [created.sealed_token, wpat, stored.token_sha256]
        return created.id, wpat

    def unsealed(self, sealed: str) -> str:
        token = unseal(sealed, self.user.private_key)
        self.secrets += [sealed, token]
        return token

    def events(self, event_type: str, key: str) -> list[dict]:
        return [
            e.payload for e in self.publisher.envelopes if e.type == event_type and e.key == key
        ]

    def assert_no_secret_in(self, text: str) -> None:
        assert self.secrets
        for secret in self.secrets:
            assert secret not in text


@pytest.fixture
def audited() -> Audited:
    return Audited()


def _refused(call, exception_id: str, status: int) -> None:
    with pytest.raises(ServiceError) as caught:
        call()
    assert (caught.value.exception_id, caught.value.status) == (exception_id, status)


def _log_lines(caplog: pytest.LogCaptureFixture, message: str) -> list[dict]:
    formatter = JsonFormatter("wps")
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "fs.wps"]
    return [line for line in lines if line["message"] == message]


def _all_logs(caplog: pytest.LogCaptureFixture) -> str:
    formatter = JsonFormatter("wps")
    return "\n".join(formatter.format(r) for r in caplog.records)


def test_creation_is_one_event_and_one_log_line(
    audited: Audited, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    package_id, _ = audited.package(type="download", file_ids=["f1", "f2", "f1"])
    stored = audited.repository.packages[package_id]
    [event] = audited.events("WorkPackageCreated", package_id)
    assert event == {
        "work_package_id": package_id,
        "type": "download",
        "requested_by": "operator",
        "user_id": stored.user_id,
        "user_public_crypt4gh_key": audited.user.public_b64,
        "file_ids": ["f1", "f2"],
        "box_id": None,
        "created": stored.created,
        "expires": stored.expires,
    }
    assert len(audited.publisher.envelopes) == 1
    [line] = _log_lines(caplog, "work package created")
    assert line["work_package_id"] == package_id
    assert line["file_ids"] == ["f1", "f2"] and line["package_type"] == "download"
    assert line["user_fingerprint"] == fingerprint(audited.user.public_b64)
    audited.assert_no_secret_in(
        json.dumps([e.model_dump_json() for e in audited.publisher.envelopes])
    )
    audited.assert_no_secret_in(_all_logs(caplog))


def test_upload_creation_names_the_box(audited: Audited) -> None:
    package_id, _ = audited.package(type="upload", file_upload_box_id="box-1")
    [event] = audited.events("WorkPackageCreated", package_id)
    assert (event["type"], event["box_id"], event["file_ids"]) == ("upload", "box-1", [])


def test_a_refused_creation_is_not_audited(audited: Audited) -> None:
    _refused(
        lambda: audited.wps.create(
            type="download", user_public_crypt4gh_key=audited.user.public_b64
        ),
        "validationError",
        422,
    )
    assert audited.publisher.envelopes == [] and audited.repository.packages == {}


def test_every_wot_is_one_event_with_its_subject(
    audited: Audited, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    down_id, down_wpat = audited.package(type="download", file_ids=["f1"])
    up_id, up_wpat = audited.package(type="upload", file_upload_box_id="box-1")
    down = audited.wps.authorize(down_id, down_wpat)
    up = audited.wps.authorize(up_id, up_wpat)
    file_id = str(uuid.uuid4())

    claims = VERIFIER.verify(
        audited.unsealed(audited.wps.download_token(down, "f1")), AUDIENCE_DOWNLOAD
    )
    [event] = audited.events("WorkOrderTokenIssued", down_id)
    assert event == {
        "work_package_id": down_id,
        "work_type": "download",
        "user_id": down.user_id,
        "user_public_crypt4gh_key": audited.user.public_b64,
        "file_id": "f1",
        "box_id": None,
        "alias": None,
        "expires": datetime.fromtimestamp(claims["exp"], UTC),
    }

    requests = [
        ("create", {"alias": "a.txt"}),
        ("upload", {"file_id": file_id}),
        ("close", {"file_id": file_id}),
        ("delete", {"file_id": file_id}),
        ("view", {}),
    ]
    for work_type, subject in requests:
        sealed = audited.wps.upload_token(up, "box-1", work_type, **subject)
        claims = VERIFIER.verify(audited.unsealed(sealed), AUDIENCE_UPLOAD)
        event = audited.events("WorkOrderTokenIssued", up_id)[-1]
        assert event["work_type"] == work_type
        assert event["box_id"] == "box-1"
        assert (event["file_id"], event["alias"]) == (
            subject.get("file_id"),
            subject.get("alias"),
        )
        assert event["expires"] == datetime.fromtimestamp(claims["exp"], UTC)
    assert [e["work_type"] for e in audited.events("WorkOrderTokenIssued", up_id)] == [
        "create",
        "upload",
        "close",
        "delete",
        "view",
    ]
    assert len(_log_lines(caplog, "work order token issued")) == 6
    audited.assert_no_secret_in(
        json.dumps([e.model_dump_json() for e in audited.publisher.envelopes])
    )
    audited.assert_no_secret_in(_all_logs(caplog))


def test_a_refused_wot_is_not_audited(audited: Audited) -> None:
    up_id, up_wpat = audited.package(type="upload", file_upload_box_id="box-1")
    up = audited.wps.authorize(up_id, up_wpat)
    before = list(audited.publisher.envelopes)
    _refused(lambda: audited.wps.upload_token(up, "other", "view"), "boxNotInPackage", 403)
    _refused(lambda: audited.wps.upload_token(up, "box-1", "create"), "validationError", 422)
    _refused(lambda: audited.wps.download_token(up, "f1"), "wrongWorkPackageType", 403)
    assert audited.publisher.envelopes == before


def test_no_token_leaves_when_its_event_cannot_be_published(audited: Audited) -> None:
    package_id, wpat = audited.package(type="download", file_ids=["f1"])
    package = audited.wps.authorize(package_id, wpat)
    audited.publisher.fail = ConnectionError("SNS is down")
    with pytest.raises(ConnectionError):
        audited.wps.download_token(package, "f1")
    with pytest.raises(ConnectionError):
        audited.wps.create(
            type="download", user_public_crypt4gh_key=audited.user.public_b64, file_ids=["f"]
        )


def test_revocation_refuses_the_access_token_at_once(
    audited: Audited, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    package_id, wpat = audited.package(type="download", file_ids=["f1"])
    other_id, other_wpat = audited.package(type="download", file_ids=["f1"])
    audited.wps.authorize(package_id, wpat)

    first = audited.wps.revoke(package_id)
    assert (first.id, first.revoked_by, first.revoked_now) == (package_id, "operator", True)
    _refused(lambda: audited.wps.authorize(package_id, wpat), "workPackageRevoked", 403)
    # only the holder of the right token learns that it is revoked
    _refused(lambda: audited.wps.authorize(package_id, "x" * 24), "noWorkPackageAccess", 403)
    audited.wps.authorize(other_id, other_wpat)  # another package is untouched

    second = audited.wps.revoke(package_id)
    assert (second.revoked, second.revoked_now) == (first.revoked, False)
    assert audited.repository.packages[package_id].revoked == first.revoked
    events = audited.events("WorkPackageRevoked", package_id)
    assert events == 2 * [
        {"work_package_id": package_id, "revoked_by": "operator", "revoked": first.revoked}
    ]
    assert len(_log_lines(caplog, "work package revoked")) == 1
    assert len(_log_lines(caplog, "work package was already revoked")) == 1
    audited.assert_no_secret_in(_all_logs(caplog))


def test_revoking_unknown_or_malformed_ids_changes_nothing(audited: Audited) -> None:
    package_id, wpat = audited.package(type="download", file_ids=["f1"])
    before = copy.deepcopy(audited.repository.packages)
    events = list(audited.publisher.envelopes)
    _refused(lambda: audited.wps.revoke(str(uuid.uuid4())), "workPackageNotFound", 404)
    _refused(lambda: audited.wps.revoke("not-a-uuid"), "workPackageNotFound", 404)
    assert audited.repository.packages == before
    assert audited.publisher.envelopes == events
    audited.wps.authorize(package_id, wpat)


def test_an_expired_package_can_still_be_revoked(audited: Audited) -> None:
    package_id, wpat = audited.package(
        type="download", file_ids=["f1"], lifetime=timedelta(seconds=-1)
    )
    assert audited.wps.revoke(package_id).revoked_now is True
    _refused(lambda: audited.wps.authorize(package_id, wpat), "workPackageRevoked", 403)
