"""The payloads of the outcome events, decided once and kept in the record until published.

Both are small whatever the file's size: the staged parts' checksums are in the staged
object's manifest, which the success names by a ManifestRef."""

from __future__ import annotations

from typing import Any

from functions.irs.model import Interrogation
from shared.events import FileInterrogationFailure, FileInterrogationSuccess, ManifestRef


def success_payload(
    item: Interrogation, decrypted_sha256: str, staging_bucket: str, parts_manifest: ManifestRef
) -> dict[str, Any]:
    """FileInterrogationSuccess. ``offset`` is the header length of the inbox object; the
    staged object itself is header-less, its content starts at byte 0."""
    upload = item.upload
    assert upload is not None and item.staged_object_id and item.staging_part_size
    assert item.secret_id is not None and item.offset is not None
    return FileInterrogationSuccess(
        file_id=upload.file_id,
        box_id=upload.box_id,
        staged_object_id=item.staged_object_id,
        staging_bucket=staging_bucket,
        secret_id=item.secret_id,
        offset=item.offset,
        encrypted_part_size=item.staging_part_size,
        parts_manifest=parts_manifest,
        decrypted_sha256=decrypted_sha256,
        decrypted_size=item.plain_size,
        encrypted_size=(item.object_size or 0) - item.offset,
    ).model_dump()


def failure_payload(item: Interrogation, reason: str) -> dict[str, Any]:
    upload = item.upload
    assert upload is not None
    return FileInterrogationFailure(
        file_id=upload.file_id, box_id=upload.box_id, reason=reason
    ).model_dump()
