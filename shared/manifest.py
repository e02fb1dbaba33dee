"""Part manifests: the per-part checksums of a multipart object, in S3 beside it.

A file of 10,000 parts has 10,000 part MD5s and SHA-256s, about 1 MB of hex: more than an
SNS message (256 KiB) or a DynamoDB item (400 KB) holds. So no event, record or response
carries them. They are written once, as one JSON object under ``manifests/<object id>.json``
in the bucket of the object they describe, and events name that object by a ManifestRef:
its key and the SHA-256 of its bytes, which every reader checks. The manifest does not name
its object, so a copy of the object (staging to permanent) takes a byte-identical copy of its
manifest, with the same digest.

The checksums are of consecutive ranges of ``part_size`` bytes, so they describe any copy of
the object's bytes, whatever part size the copy was made with.

An inbox manifest of an upload with part checksums (the wire extension, docs/checksums.md)
has no md5s (``md5`` absent): S3 verified each part's SHA-256 instead. Every other manifest
(GHGA's uploads, IRS's staged objects, their permanent copies) has both lists.

Whoever removes an object removes its manifest with it (``remove_with_manifest``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import ManifestRef
from shared.multipart import MAX_PARTS, part_count
from shared.ports import ObjectNotFound, ObjectStorage

__all__ = [
    "MANIFEST_PREFIX",
    "ManifestDamaged",
    "ManifestRef",
    "PartsManifest",
    "copy_manifest",
    "is_manifest_key",
    "manifest_key",
    "read_manifest",
    "remove_with_manifest",
    "write_manifest",
]

MANIFEST_PREFIX: Final = "manifests/"
FORMAT_VERSION: Final = 1


class ManifestDamaged(Exception):
    """The manifest is missing, or its bytes are not the ones its reference names."""


class PartsManifest(BaseModel):
    """The checksums of every part of one multipart object, in part order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = FORMAT_VERSION
    part_size: int = Field(gt=0)  # every part but the last
    size: int = Field(ge=0)  # of the whole object
    # hex, one per part; None (absent): the parts' SHA-256s were verified by S3 instead
    md5: list[str] | None = Field(default=None, max_length=MAX_PARTS)
    sha256: list[str] = Field(max_length=MAX_PARTS)

    @model_validator(mode="after")
    def _one_entry_per_part(self) -> PartsManifest:
        count = part_count(self.size, self.part_size)
        md5s = count if self.md5 is None else len(self.md5)
        if md5s != count or len(self.sha256) != count:
            raise ValueError(
                f"an object of {self.size} bytes in parts of {self.part_size} has {count} "
                f"parts; the manifest lists {md5s} md5 and {len(self.sha256)} sha256"
            )
        return self

    @property
    def parts(self) -> int:
        return len(self.sha256)

    def encode(self) -> bytes:
        """Compact, canonical JSON: the same manifest always has the same bytes (an absent
        md5 list is left out, so GHGA's manifests keep the bytes they always had)."""
        data = self.model_dump(exclude_none=True)
        return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def manifest_key(object_id: str) -> str:
    """The key of an object's manifest (in the object's own bucket)."""
    return f"{MANIFEST_PREFIX}{object_id}.json"


def is_manifest_key(key: str) -> bool:
    return key.startswith(MANIFEST_PREFIX)


def write_manifest(
    storage: ObjectStorage, bucket: str, object_id: str, manifest: PartsManifest
) -> ManifestRef:
    """Store the manifest of ``object_id`` (idempotent: the same manifest, the same bytes)."""
    data = manifest.encode()
    key = manifest_key(object_id)
    storage.put(bucket, key, data)
    return ManifestRef(
        bucket=bucket,
        key=key,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        parts=manifest.parts,
    )


def read_manifest(storage: ObjectStorage, ref: ManifestRef) -> PartsManifest:
    """The manifest ``ref`` names, checked against its digest (ManifestDamaged if absent,
    altered or not a manifest)."""
    try:
        data = storage.get(ref.bucket, ref.key)
    except ObjectNotFound as error:
        raise ManifestDamaged(f"manifest {ref.key} is missing") from error
    if hashlib.sha256(data).hexdigest() != ref.sha256 or len(data) != ref.size:
        raise ManifestDamaged(f"manifest {ref.key} is not the one the event names")
    try:
        manifest = PartsManifest.model_validate_json(data)
    except ValueError as error:
        raise ManifestDamaged(f"manifest {ref.key} is not a manifest") from error
    if manifest.parts != ref.parts:
        raise ManifestDamaged(f"manifest {ref.key} lists {manifest.parts} parts, not {ref.parts}")
    return manifest


def copy_manifest(
    storage: ObjectStorage, ref: ManifestRef, bucket: str, object_id: str
) -> ManifestRef:
    """The manifest, checked, copied to describe ``object_id`` (a copy of its object) in
    ``bucket``: byte-identical, so the reference has the same digest."""
    manifest = read_manifest(storage, ref)
    return write_manifest(storage, bucket, object_id, manifest)


def remove_with_manifest(storage: ObjectStorage, bucket: str, object_id: str) -> None:
    """Delete the object and its manifest, which go together (idempotent)."""
    storage.delete(bucket, object_id)
    storage.delete(bucket, manifest_key(object_id))
