"""Closing a multipart upload: check with S3 what was really uploaded, then complete it.

The declared checksums are what the interrogation and the archive rely on later, so
nothing is completed unless S3 has every part, each of exactly the size the declared
sizes imply and with the declared md5 as its ETag, and the declared whole-object ETag
is the one S3 will compute. A multipart upload that is already complete (an earlier
close died before recording it, or a racing close won) is accepted if its object has
the declared size and ETag, so that a repeated close converges.

The declared part checksums then go into a manifest beside the object (``declared_manifest``;
shared/manifest.py): up to 10,000 md5s and sha256s, about 1 MB, which no event or record
could carry.
"""

from __future__ import annotations

from functions.ucs import errors
from functions.ucs.model import Checksums, Upload
from shared.crypt.checksums import multipart_etag
from shared.manifest import PartsManifest
from shared.multipart import part_sizes
from shared.ports import ObjectNotFound, ObjectStorage, PartInfo


def complete_checked(
    storage: ObjectStorage, bucket: str, upload: Upload, checksums: Checksums
) -> None:
    """Complete ``upload`` in S3 if it is what ``checksums`` declare; a 400 otherwise."""
    count = upload.part_count
    if len(checksums.encrypted_parts_md5) != count or (
        len(checksums.encrypted_parts_sha256) != count
    ):
        raise errors.size_mismatch(
            f"The upload has {count} parts, but checksums for "
            f"{len(checksums.encrypted_parts_md5)} (md5) and "
            f"{len(checksums.encrypted_parts_sha256)} (sha256) parts were declared.",
            part_count=count,
        )
    try:
        parts = storage.list_parts(bucket, upload.object_id, upload.s3_upload_id)
    except ObjectNotFound:
        check_completed(storage, bucket, upload, checksums)  # completed by an earlier close
        return
    check_parts(upload, parts, checksums)
    try:
        etag = storage.complete_multipart(
            bucket, upload.object_id, upload.s3_upload_id, [(p.number, p.etag) for p in parts]
        )
    except ObjectNotFound:
        check_completed(storage, bucket, upload, checksums)  # a racing close completed it
        return
    if etag != checksums.encrypted_md5:
        raise errors.checksum_mismatch(
            "The stored object's ETag differs from the declared encrypted_md5."
        )


def check_parts(upload: Upload, parts: list[PartInfo], checksums: Checksums) -> None:
    by_number = {part.number: part for part in parts}
    sizes = part_sizes(upload.encrypted_size, upload.part_size)
    for number, size in enumerate(sizes, start=1):
        part = by_number.get(number)
        if part is None:
            raise errors.size_mismatch(f"Part {number} has not been uploaded.", part_no=number)
        if part.size != size:
            raise errors.size_mismatch(
                f"Part {number} has {part.size} bytes; {size} were expected.",
                part_no=number,
                expected=size,
                actual=part.size,
            )
    extra = sorted(set(by_number) - set(range(1, len(sizes) + 1)))
    if extra:
        raise errors.size_mismatch(
            f"Parts beyond the declared {len(sizes)} were uploaded.", part_no=extra[0]
        )
    for number, declared in enumerate(checksums.encrypted_parts_md5, start=1):
        if by_number[number].etag.lower() != declared:
            raise errors.checksum_mismatch(
                f"The stored part {number} does not have the declared md5.", part_no=number
            )
    if checksums.encrypted_md5 != multipart_etag(checksums.encrypted_parts_md5):
        raise errors.checksum_mismatch(
            "encrypted_md5 is not the multipart ETag of the declared part md5s."
        )


def check_completed(
    storage: ObjectStorage, bucket: str, upload: Upload, checksums: Checksums
) -> None:
    info = storage.head(bucket, upload.object_id)
    if info is None:
        raise errors.s3_upload_missing()
    if info.size != upload.encrypted_size:
        raise errors.size_mismatch(
            f"The stored object has {info.size} bytes; {upload.encrypted_size} were declared."
        )
    if info.etag != checksums.encrypted_md5 or (
        multipart_etag(checksums.encrypted_parts_md5) != checksums.encrypted_md5
    ):
        raise errors.checksum_mismatch("The stored object does not have the declared ETag.")


def declared_manifest(upload: Upload, checksums: Checksums) -> PartsManifest:
    """The manifest of the part checksums declared at close (checked by complete_checked:
    one md5 and one sha256 per part of ``upload.part_size`` bytes)."""
    return PartsManifest(
        part_size=upload.part_size,
        size=upload.encrypted_size,
        md5=checksums.encrypted_parts_md5,
        sha256=checksums.encrypted_parts_sha256,
    )
