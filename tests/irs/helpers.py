"""Uploads as GHGA's connector makes them, without the connector: encrypt, upload, declare."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
from hvac.exceptions import InvalidPath

from shared.crypt import c4gh
from shared.crypt.keys import encode_key
from shared.manifest import PartsManifest, manifest_key
from shared.ports import ObjectStorage

PART_SIZE = 5245120  # GHGA's smallest part: 80 cipher segments
SECRETS_PATH = "fs/ekss/secrets"
PLAIN_PER_PART = 80 * c4gh.SEGMENT_SIZE  # plaintext behind one staged part of PART_SIZE


def random_bytes(size: int, seed: int | None = None) -> bytes:
    return random.Random(seed).randbytes(size)


def encrypt_file(plain: bytes, writer_private: bytes, recipient_public: bytes) -> bytes:
    """The whole Crypt4GH file: a one-recipient header, then the segments."""
    session_key = c4gh.new_session_key()
    return c4gh.make_header(session_key, writer_private, recipient_public) + c4gh.encrypt_body(
        plain, session_key
    )


def put_multipart(s3: Any, bucket: str, key: str, data: bytes, part_size: int = PART_SIZE) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, start in enumerate(range(0, max(len(data), 1), part_size), start=1):
        response = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data[start : start + part_size],
        )
        parts.append({"PartNumber": number, "ETag": response["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )


def declaration(
    *,
    file_id: str,
    box_id: str,
    bucket: str,
    plain: bytes,
    data: bytes,
    submitter_public: bytes,
    part_size: int = PART_SIZE,
    storage: ObjectStorage | None = None,
    wrong_sha256: Iterable[int] = (),
) -> dict[str, Any]:
    """The FileUploadReceived payload for an upload of ``data`` (checksums as the client
    computes them, in a part manifest beside the object as UCS writes it: stored in
    ``bucket`` when ``storage`` is given: IRS checks the parts' sha256 against it). The
    parts numbered in ``wrong_sha256`` (1-based) are declared with another sha256."""
    parts = [data[i : i + part_size] for i in range(0, max(len(data), 1), part_size)]
    md5s = [hashlib.md5(p, usedforsecurity=False).hexdigest() for p in parts]
    manifest = PartsManifest(
        part_size=part_size,
        size=len(data),
        md5=md5s,
        sha256=[
            hashlib.sha256(p + (b"!" if n in set(wrong_sha256) else b"")).hexdigest()
            for n, p in enumerate(parts, start=1)
        ],
    )
    encoded = manifest.encode()
    if storage is not None:
        storage.put(bucket, manifest_key(file_id), encoded)
    return {
        "file_id": file_id,
        "box_id": box_id,
        "alias": f"{file_id[:8]}.bin",
        "object_id": file_id,
        "bucket": bucket,
        "decrypted_size": len(plain),
        "encrypted_size": len(data),
        "part_size": part_size,
        "submitter_public_key": encode_key(submitter_public),
        "decrypted_sha256": hashlib.sha256(plain).hexdigest(),
        "encrypted_md5": hashlib.md5(
            b"".join(bytes.fromhex(m) for m in md5s), usedforsecurity=False
        ).hexdigest()
        + f"-{len(parts)}",
        "parts_manifest": {
            "bucket": bucket,
            "key": manifest_key(file_id),
            "sha256": hashlib.sha256(encoded).hexdigest(),
            "size": len(encoded),
            "parts": manifest.parts,
        },
    }


@dataclass
class Submission:
    file_id: str
    box_id: str
    plain: bytes
    data: bytes  # the inbox object as uploaded
    declared: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, plain: bytes, data: bytes) -> Submission:
        return cls(str(uuid.uuid4()), str(uuid.uuid4()), plain, data)


def list_secrets(vault: hvac.Client) -> set[str]:
    try:
        listed = vault.secrets.kv.v2.list_secrets(path=SECRETS_PATH, mount_point="secret")
    except InvalidPath:
        return set()
    return set(listed["data"]["keys"])


def secret_exists(vault: hvac.Client, secret_id: str) -> bool:
    try:
        vault.secrets.kv.v2.read_secret_version(
            path=f"{SECRETS_PATH}/{secret_id}",
            mount_point="secret",
            raise_on_deleted_version=True,
        )
    except InvalidPath:
        return False
    return True


def unseal_key(state_dir: Path) -> str:
    """The dev server prints its one unseal key at start-up; the stack keeps it in a file
    of its own (its log never holds it)."""
    from testbed.stack import UNSEAL_KEY_FILE

    path = state_dir / UNSEAL_KEY_FILE
    assert path.exists(), "the stack did not keep the OpenBao dev server's unseal key"
    assert path.stat().st_mode & 0o777 == 0o600
    return path.read_text().strip()
