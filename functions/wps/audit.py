"""The audit trail of work packages: one event and one log line per act.

Who was granted what (which files or box, to which Crypt4GH public key), every work order
token handed out, and every revocation, as events on their own topics (keyed by the work
package id) and as log lines. Neither ever holds a token, nor the hash of one; the log
line names the user's key by its sha256 fingerprint only (the formatter would redact the
key itself, shared/logs.py).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from functions.wps.model import WorkPackage
from shared.crypt.keys import decode_key
from shared.events import WorkOrderTokenIssued, WorkPackageCreated, WorkPackageRevoked
from shared.ports import EventPublisher

log = logging.getLogger("fs.wps")


def fingerprint(public_key_b64: str) -> str:
    """The sha256 (hex) of the raw 32-byte public key: names the key in a log line."""
    return hashlib.sha256(decode_key(public_key_b64)).hexdigest()


class Audit:
    """Publishes and logs each act; a publishing failure propagates, so that the caller
    hands out nothing whose event was not published."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    def created(self, package: WorkPackage, requested_by: str) -> None:
        event = WorkPackageCreated(
            work_package_id=package.id,
            type=package.type,
            requested_by=requested_by,
            user_id=package.user_id,
            user_public_crypt4gh_key=package.user_public_crypt4gh_key,
            file_ids=package.file_ids,
            box_id=package.file_upload_box_id,
            created=package.created,
            expires=package.expires,
        )
        self._publisher.publish(event, key=package.id)
        log.info(
            "work package created",
            extra={
                "work_package_id": package.id,
                "package_type": package.type,
                "requested_by": requested_by,
                "user_id": package.user_id,
                "user_fingerprint": fingerprint(package.user_public_crypt4gh_key),
                "file_ids": package.file_ids,
                "box_id": package.file_upload_box_id,
                "expires": package.expires.isoformat(),
            },
        )

    def token_issued(
        self,
        package: WorkPackage,
        *,
        work_type: str,
        expires: datetime,
        file_id: str | None = None,
        box_id: str | None = None,
        alias: str | None = None,
    ) -> None:
        event = WorkOrderTokenIssued(
            work_package_id=package.id,
            work_type=work_type,
            user_id=package.user_id,
            user_public_crypt4gh_key=package.user_public_crypt4gh_key,
            file_id=file_id,
            box_id=box_id,
            alias=alias,
            expires=expires,
        )
        self._publisher.publish(event, key=package.id)
        log.info(
            "work order token issued",
            extra={
                "work_package_id": package.id,
                "work_type": work_type,
                "user_id": package.user_id,
                "user_fingerprint": fingerprint(package.user_public_crypt4gh_key),
                "file_id": file_id,
                "box_id": box_id,
                "alias": alias,
                "expires": expires.isoformat(),
            },
        )

    def revoked(self, package_id: str, revoked: datetime, revoked_by: str, now: bool) -> None:
        event = WorkPackageRevoked(
            work_package_id=package_id, revoked_by=revoked_by, revoked=revoked
        )
        self._publisher.publish(event, key=package_id)
        log.info(
            "work package revoked" if now else "work package was already revoked",
            extra={
                "work_package_id": package_id,
                "revoked_by": revoked_by,
                "revoked": revoked.isoformat(),
            },
        )
