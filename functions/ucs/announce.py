"""FileUploadReceived: rebuilt from the upload's record, published, then marked published.

The close records the declared checksums, the digest of their manifest and
``received_published = False`` in the one conditional write that moves the upload to
``inbox``, then publishes and marks. The record is thus an outbox: if the function dies or
the publish fails in between, a retried close publishes the event, and so does the
scheduled clean-up (``sweep``) for every upload left unannounced past a grace period, so
that no upload waits in the inbox for a client that never retries. Publishing twice is
harmless: every consumer is idempotent.

Nothing in the event grows with the part count: the per-part checksums are in the manifest
beside the object (shared/manifest.py), which the event names by key and digest.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from functions.ucs.model import UcsRepository, Upload
from shared.events import FileUploadReceived, ManifestRef
from shared.manifest import manifest_key
from shared.ports import EventPublisher

log = logging.getLogger("fs.ucs")


class Unannounceable(Exception):
    """The record lacks what the event needs (it was not closed with a manifest)."""


def manifest_ref(upload: Upload, bucket: str) -> ManifestRef:
    """The reference to the upload's manifest of declared part checksums, from its record."""
    if upload.parts_manifest_sha256 is None or upload.parts_manifest_size is None:
        raise Unannounceable(f"upload {upload.id} has no recorded manifest")
    return ManifestRef(
        bucket=bucket,
        key=manifest_key(upload.object_id),
        sha256=upload.parts_manifest_sha256,
        size=upload.parts_manifest_size,
        parts=upload.part_count,
    )


def received_event(upload: Upload, bucket: str) -> FileUploadReceived:
    """FileUploadReceived of a closed upload, from its record alone."""
    if (
        upload.decrypted_sha256 is None
        or upload.encrypted_md5 is None
        or upload.submitter_public_key is None
    ):
        raise Unannounceable(f"upload {upload.id} has no recorded checksums")
    return FileUploadReceived(
        file_id=upload.id,
        box_id=upload.box_id,
        object_id=upload.object_id,
        bucket=bucket,
        decrypted_size=upload.decrypted_size,
        encrypted_size=upload.encrypted_size,
        part_size=upload.part_size,
        submitter_public_key=upload.submitter_public_key,
        decrypted_sha256=upload.decrypted_sha256,
        alias=upload.alias,
        encrypted_md5=upload.encrypted_md5,
        parts_manifest=manifest_ref(upload, bucket),
    )


class ReceivedAnnouncer:
    def __init__(
        self, repository: UcsRepository, publisher: EventPublisher, inbox_bucket: str
    ) -> None:
        self._repository = repository
        self._publisher = publisher
        self._bucket = inbox_bucket

    def announce(self, upload: Upload) -> None:
        """Publish the upload's FileUploadReceived and record that it went out."""
        self._publisher.publish(received_event(upload, self._bucket))
        self._repository.mark_received_published(upload.id)

    def sweep(self, closed_before: datetime, deadline: float | None = None) -> tuple[int, bool]:
        """Announce every upload closed before ``closed_before`` and still unannounced:
        (how many, whether all were done before the monotonic ``deadline``)."""
        announced = 0
        for upload in self._repository.unannounced_uploads(closed_before):
            if deadline is not None and time.monotonic() > deadline:
                return announced, False
            try:
                self.announce(upload)
            except Unannounceable:
                log.warning("closed upload cannot be announced", extra={"file_id": upload.id})
                continue
            except Exception as error:  # the topic is down: the next run retries
                log.warning(
                    "announcing a closed upload failed; the next run retries",
                    extra={"file_id": upload.id, "error": type(error).__name__},
                )
                return announced, False
            log.info("upload announced by the clean-up", extra={"file_id": upload.id})
            announced += 1
        return announced, True
