"""What interrogation and registration decided, recorded on the upload.

UCS consumes FileInterrogationSuccess (the upload is accepted: ``interrogated``),
FileInterrogationFailure (``failed``, with the reason the submitter reads) and
FileInternallyRegistered (``registered``; the inbox object is then removed, with the
manifest of its declared part checksums: the archive keeps the re-encrypted copy). A
rejected file's inbox object and manifest are removed too. Delivery is at least once
and may be out of order, so each outcome moves the upload only forward and a repeated or
late outcome changes nothing; a registration that overtakes its success passes through
``interrogated`` on the way. An upload that was cancelled or purged (``deleted``) stays
so: its holders remove what the late outcome was about (docs/deletion.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from functions.ucs.errors import StaleState
from functions.ucs.model import (
    CANCELLED,
    DELETED,
    FAILED,
    INBOX,
    INTERROGATED,
    REGISTERED,
    UcsRepository,
    Upload,
)
from shared.manifest import remove_with_manifest
from shared.ports import ObjectStorage

log = logging.getLogger("fs.ucs")

ATTEMPTS = 5


class OutcomeRecorder:
    def __init__(
        self,
        repository: UcsRepository,
        storage: ObjectStorage,
        inbox_bucket: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._repository = repository
        self._storage = storage
        self._inbox = inbox_bucket
        self._clock = clock

    def accepted(self, file_id: str) -> None:
        self._advance(file_id, [INTERROGATED])

    def rejected(self, file_id: str, reason: str) -> None:
        upload = self._advance(file_id, [FAILED], reason=reason)
        if upload is not None and upload.state == FAILED:
            # the submitter must upload again; the rejected bytes are of no use to anyone
            self._remove_inbox_object(upload)

    def registered(self, file_id: str) -> None:
        upload = self._advance(file_id, [INTERROGATED, REGISTERED])
        if upload is not None and upload.state == REGISTERED:
            self._remove_inbox_object(upload)

    def _remove_inbox_object(self, upload: Upload) -> None:
        """The inbox object and its manifest go together (idempotent)."""
        remove_with_manifest(self._storage, self._inbox, upload.object_id)

    def _advance(self, file_id: str, path: list[str], reason: str | None = None) -> Upload | None:
        """Walk the upload along ``path`` as far as it goes; the upload as it ends up."""
        for _ in range(ATTEMPTS):
            upload = self._repository.get_upload(file_id)
            if upload is None:
                log.warning("outcome for an unknown upload ignored", extra={"file_id": file_id})
                return None
            if upload.state in (CANCELLED, DELETED):
                log.warning(
                    "outcome for a cancelled or deleted upload ignored",
                    extra={"file_id": file_id, "state": upload.state, "target_state": path[-1]},
                )
                return upload
            if upload.state == path[-1] or upload.state not in (INBOX, *path[:-1]):
                return upload  # done already, or past this outcome: a duplicate or late event
            target = path[0] if upload.state == INBOX else path[path.index(upload.state) + 1]
            try:
                self._repository.transition(
                    upload, target, now=self._clock(), reason=reason if target == FAILED else None
                )
            except StaleState:
                continue
            log.info("upload state recorded", extra={"file_id": file_id, "state": target})
        return self._repository.get_upload(file_id)
