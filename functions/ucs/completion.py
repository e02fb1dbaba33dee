"""Closing a multipart upload: check with S3 what was really uploaded, then complete it.

The declared checksums are what the interrogation and the archive rely on later, so
nothing is completed unless S3 has every part, each of exactly the size the declared
sizes imply and with the declared md5 as its ETag, and the declared whole-object ETag
is the one S3 will compute. A multipart upload that is already complete (an earlier
close died before recording it, or a racing close won) is accepted if its object has
the declared size and ETag, so that a repeated close converges.

An upload with part checksums (the wire extension, docs/checksums.md) declares no md5s:
each part's SHA-256 was signed into its URL and S3 verified the body against it. Where
ListParts reports the verified SHA-256 (AWS) each part is checked against the declared
list here too; where it does not (SeaweedFS, moto) the signed URLs were the check. The
completion names each part's declared SHA-256, which AWS compares with what it verified,
and the object's ETag is the one S3 computed.

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


def check_declaration(upload: Upload, checksums: Checksums) -> None:
    """The close declares what the upload's path needs: md5s (GHGA's) or none (part
    checksums), one entry per part; a 422 or 400 otherwise."""
    with_md5 = (checksums.encrypted_md5 is not None, checksums.encrypted_parts_md5 is not None)
    if upload.part_checksum is None and with_md5 != (True, True):
        raise errors.close_body_mismatch(
            "encrypted_md5 and encrypted_parts_md5 are required: this upload's parts are "
            "checked by their MD5."
        )
    if upload.part_checksum is not None and with_md5 != (False, False):
        raise errors.close_body_mismatch(
            "This upload verifies each part's SHA-256 (part_checksum): declare "
            "encrypted_parts_sha256 without encrypted_md5 and encrypted_parts_md5."
        )
    count = upload.part_count
    md5_count = len(checksums.encrypted_parts_md5 or []) if with_md5[1] else count
    if md5_count != count or len(checksums.encrypted_parts_sha256) != count:
        raise errors.size_mismatch(
            f"The upload has {count} parts, but checksums for "
            f"{len(checksums.encrypted_parts_md5 or [])} (md5) and "
            f"{len(checksums.encrypted_parts_sha256)} (sha256) parts were declared.",
            part_count=count,
        )


def complete_checked(
    storage: ObjectStorage, bucket: str, upload: Upload, checksums: Checksums
) -> str:
    """Complete ``upload`` in S3 if it is what ``checksums`` declare (a 400 otherwise);
    the object's ETag."""
    check_declaration(upload, checksums)
    try:
        parts = storage.list_parts(bucket, upload.object_id, upload.s3_upload_id)
    except ObjectNotFound:  # completed by an earlier close
        return check_completed(storage, bucket, upload, checksums)
    check_parts(upload, parts, checksums)
    sha256s = checksums.encrypted_parts_sha256 if upload.part_checksum is not None else None
    try:
        etag = storage.complete_multipart(
            bucket,
            upload.object_id,
            upload.s3_upload_id,
            [(p.number, p.etag) for p in parts],
            checksums_sha256=sha256s,
        )
    except ObjectNotFound:  # a racing close completed it
        return check_completed(storage, bucket, upload, checksums)
    if checksums.encrypted_md5 is not None and etag != checksums.encrypted_md5:
        raise errors.checksum_mismatch(
            "The stored object's ETag differs from the declared encrypted_md5."
        )
    return etag


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
    for number, declared in enumerate(checksums.encrypted_parts_sha256, start=1):
        verified = by_number[number].checksum_sha256  # where S3 reports what it verified
        if verified is not None and verified != declared:
            raise errors.checksum_mismatch(
                f"The stored part {number} does not have the declared sha256.", part_no=number
            )
    if checksums.encrypted_parts_md5 is None:
        return  # the wire extension: S3 verified each part's SHA-256 as it came
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
) -> str:
    """The ETag of the object an earlier close completed, if it is the declared one. Of
    an upload with part checksums: if it has the declared size. S3 verified its parts as
    they came, but a HEAD names no part checksums to compare the declared sha256s with;
    IRS compares them with the bytes (functions/irs/declared.py)."""
    info = storage.head(bucket, upload.object_id)
    if info is None:
        raise errors.s3_upload_missing()
    if info.size != upload.encrypted_size:
        raise errors.size_mismatch(
            f"The stored object has {info.size} bytes; {upload.encrypted_size} were declared."
        )
    if checksums.encrypted_parts_md5 is None:
        return info.etag
    if info.etag != checksums.encrypted_md5 or (
        multipart_etag(checksums.encrypted_parts_md5) != checksums.encrypted_md5
    ):
        raise errors.checksum_mismatch("The stored object does not have the declared ETag.")
    return info.etag


def declared_manifest(upload: Upload, checksums: Checksums) -> PartsManifest:
    """The manifest of the part checksums declared at close (checked by complete_checked:
    one sha256 and, on GHGA's path, one md5 per part of ``upload.part_size`` bytes)."""
    return PartsManifest(
        part_size=upload.part_size,
        size=upload.encrypted_size,
        md5=checksums.encrypted_parts_md5,
        sha256=checksums.encrypted_parts_sha256,
    )
