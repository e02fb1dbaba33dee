"""In-memory fakes of the ports, for fast unit tests of the service cores (no stack).

Each fake keeps the contract of its port as the real adapter does (errors included), so a
core that passes against a fake fails against the real adapter only where the real
service itself differs. The shared ports' fakes are here; a service's own ports (its
repository) have theirs in ``tests/fakes/<service>.py``. Every behaviour is also proven
over the real stack: these fakes speed up the unit tests, they never replace those.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.crypt import c4gh
from shared.crypt.checksums import multipart_etag
from shared.events import EventSchema, envelope
from shared.ports import (
    FileSecrets,
    KeyStoreRejected,
    KeyStoreUnavailable,
    ObjectInfo,
    ObjectNotFound,
    OpenMultipart,
    PartInfo,
    SecretExists,
    SecretNotFound,
)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class _Multipart:
    key: str
    initiated: datetime
    parts: dict[int, bytes] = field(default_factory=dict)
    stored: dict[int, datetime] = field(default_factory=dict)  # when each part came
    checksum_sha256: bool = False  # every part carries its verified SHA-256 (as on AWS)


@dataclass(frozen=True)
class PresignedPart:
    """What a presigned part URL of InMemoryStorage was signed for."""

    bucket: str
    key: str
    upload_id: str
    part_number: int
    expires_s: int
    content_length: int
    content_md5: str | None
    checksum_sha256: str | None = None


class InMemoryStorage:
    """ObjectStorage: buckets of bytes; multipart uploads with S3's ETags."""

    def __init__(self, reports_part_checksums: bool = True) -> None:
        # False: ListParts never reports a part's SHA-256 (SeaweedFS, moto), True: as AWS
        self.reports_part_checksums = reports_part_checksums
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.uploads: dict[tuple[str, str], _Multipart] = {}  # (bucket, upload id)
        self.presigned_parts: list[PresignedPart] = []  # every part URL handed out

    def put(self, bucket: str, key: str, data: bytes) -> str:
        """An object as a single PUT stores it (also the tests' set-up); its ETag."""
        self.objects[(bucket, key)] = (bytes(data), _md5(data))
        return _md5(data)

    def get(self, bucket: str, key: str) -> bytes:
        found = self.objects.get((bucket, key))
        if found is None:
            raise ObjectNotFound(f"{bucket}/{key}")
        return found[0]

    def data(self, bucket: str, key: str) -> bytes | None:
        found = self.objects.get((bucket, key))
        return None if found is None else found[0]

    def keys(self, bucket: str) -> list[str]:
        return sorted(key for b, key in self.objects if b == bucket)

    def create_multipart(self, bucket: str, key: str, *, checksum_sha256: bool = False) -> str:
        upload_id = uuid.uuid4().hex
        self.uploads[(bucket, upload_id)] = _Multipart(
            key, datetime.now(UTC), checksum_sha256=checksum_sha256
        )
        return upload_id

    def presign_upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        expires_s: int,
        *,
        content_length: int,
        content_md5: str | None = None,
        checksum_sha256: str | None = None,
    ) -> str:
        """A URL naming what S3 would sign; each one is also kept in ``presigned_parts``."""
        self.presigned_parts.append(
            PresignedPart(
                bucket,
                key,
                upload_id,
                part_number,
                expires_s,
                content_length,
                content_md5,
                checksum_sha256,
            )
        )
        url = (
            f"memory://{bucket}/{key}?uploadId={upload_id}&partNumber={part_number}"
            f"&expires={expires_s}&contentLength={content_length}"
        )
        if content_md5 is not None:
            url += f"&contentMD5={content_md5}"
        return url if checksum_sha256 is None else f"{url}&sha256={checksum_sha256}"

    def _upload(self, bucket: str, key: str, upload_id: str) -> _Multipart:
        upload = self.uploads.get((bucket, upload_id))
        if upload is None or upload.key != key:
            raise ObjectNotFound(f"{bucket}/{key} upload")
        return upload

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        data: bytes,
        *,
        checksum_sha256: str | None = None,
    ) -> str:
        """As S3: a checksum upload refuses a part without its SHA-256 (InvalidRequest)
        or with another one (BadDigest)."""
        upload = self._upload(bucket, key, upload_id)
        if upload.checksum_sha256 and checksum_sha256 is None:
            raise ValueError(f"InvalidRequest: part {part_number} lacks its checksum")
        if checksum_sha256 is not None and hashlib.sha256(data).hexdigest() != checksum_sha256:
            raise ValueError(f"BadDigest: part {part_number}")
        upload.parts[part_number] = bytes(data)
        upload.stored[part_number] = datetime.now(UTC)
        return _md5(data)

    def upload_part_copy(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        upload_id: str,
        part_number: int,
        start: int,
        end: int,
    ) -> str:
        source = self.get(src_bucket, src_key)
        return self.upload_part(
            dst_bucket, dst_key, upload_id, part_number, source[start : end + 1]
        )

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        upload = self._upload(bucket, key, upload_id)
        reports = upload.checksum_sha256 and self.reports_part_checksums
        return [
            PartInfo(
                number,
                len(data),
                _md5(data),
                upload.stored.get(number),
                hashlib.sha256(data).hexdigest() if reports else None,
            )
            for number, data in sorted(upload.parts.items())
        ]

    def complete_multipart(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[tuple[int, str]],
        *,
        checksums_sha256: list[str] | None = None,
    ) -> str:
        """As S3: a checksum upload needs every part's SHA-256, and the right one."""
        upload = self._upload(bucket, key, upload_id)
        if upload.checksum_sha256 and checksums_sha256 is None:
            raise ValueError("InvalidRequest: the parts' checksums are missing")
        chunks = []
        for index, (number, etag) in enumerate(parts):
            data = upload.parts.get(number)
            if data is None or _md5(data) != etag:
                raise ValueError(f"InvalidPart: part {number}")
            if checksums_sha256 is not None and (
                hashlib.sha256(data).hexdigest() != checksums_sha256[index]
            ):
                raise ValueError(f"InvalidPart: part {number}'s checksum")
            chunks.append(data)
        etag = multipart_etag([_md5(c) for c in chunks])
        self.objects[(bucket, key)] = (b"".join(chunks), etag)
        del self.uploads[(bucket, upload_id)]
        return etag

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        upload = self.uploads.get((bucket, upload_id))
        if upload is not None and upload.key == key:
            del self.uploads[(bucket, upload_id)]

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[OpenMultipart]:
        return [
            OpenMultipart(upload.key, upload_id, upload.initiated)
            for (b, upload_id), upload in self.uploads.items()
            if b == bucket and upload.key.startswith(prefix)
        ]

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        found = self.objects.get((bucket, key))
        return None if found is None else ObjectInfo(len(found[0]), found[1])

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        found = self.objects.get((bucket, key))
        if found is None:
            raise ObjectNotFound(f"{bucket}/{key}")
        return found[0][start : end + 1]

    def delete(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)

    def presign_get(self, bucket: str, key: str, expires_s: int) -> str:
        return f"memory://{bucket}/{key}?expires={expires_s}"


@dataclass
class RecordingPublisher:
    """EventPublisher: keeps (event type, payload) in order; ``fail`` makes it raise."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: Exception | None = None

    def publish(self, event: EventSchema, key: str | None = None) -> str:
        if self.fail is not None:
            raise self.fail
        message = envelope(event, key)
        self.events.append((message.type, message.payload))
        return message.event_id

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [payload for kind, payload in self.events if kind == event_type]


@dataclass
class RecordingQueue:
    """MessageSender: keeps what was sent."""

    sent: list[str] = field(default_factory=list)

    def send(self, body: str, delay_s: int = 0) -> str:
        self.sent.append(body)
        return str(uuid.uuid4())


class InMemorySecretStore:
    """SecretStore: write-once paths, as Vault's check-and-set makes them."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, str]] = {}
        self.versions: dict[str, int] = {}

    def create(self, path: str, data: dict[str, str]) -> None:
        if path in self.secrets:
            raise SecretExists(path)
        self.secrets[path] = dict(data)
        self.versions[path] = 1

    def read(self, path: str) -> dict[str, str] | None:
        found = self.secrets.get(path)
        return None if found is None else dict(found)

    def delete(self, path: str) -> None:
        self.secrets.pop(path, None)
        self.versions.pop(path, None)

    def read_versioned(self, path: str) -> tuple[dict[str, str], int] | None:
        found = self.read(path)
        return None if found is None else (found, self.versions.get(path, 1))

    def replace(self, path: str, data: dict[str, str], version: int) -> None:
        if path not in self.secrets or self.versions.get(path, 1) != version:
            raise SecretExists(path)
        self.secrets[path] = dict(data)
        self.versions[path] = version + 1


class InMemoryKeyStore:
    """KeyStore: EKSS's behaviour with the archive's private key in memory.

    As EKSS: ``create_secret`` reads the header of the file's object in ``storage``'s
    inbox (none there: ``noInterrogation``) and keeps one secret per file (the same id and
    secret on every call); ``envelope`` needs a work order token (not verified here: EKSS's
    own tests do that) and a registered file (``mark_registered``, EKSS's part of
    FileInternallyRegistered); ``forget_file`` is EKSS's part of a deletion or failure
    (the secret goes, and the file is refused from then on).
    """

    def __init__(
        self,
        archive_private_key: bytes,
        storage: InMemoryStorage | None = None,
        inbox_bucket: str = "inbox",
    ) -> None:
        self._private = archive_private_key
        self._storage = storage
        self._inbox = inbox_bucket
        self.secrets: dict[str, bytes] = {}
        self.registered: set[str] = set()  # secret ids of registered files
        self.deleted_files: set[str] = set()  # EKSS's tombstones
        self.tokens: list[str] = []  # the work order tokens envelopes were asked with
        self._file_secret_ids: dict[str, str] = {}
        self._ids = itertools.count(1)

    def create_secret(self, file_id: str, submitter_public_key: str) -> FileSecrets:
        start = None if self._storage is None else self._storage.data(self._inbox, file_id)
        if start is None:
            raise KeyStoreRejected(
                "noInterrogation", "The file is not in the inbox: no interrogation.", {}
            )
        try:
            keys, offset = c4gh.parse_header(start[: 1024 * 1024], self._private)
        except c4gh.HeaderError as error:
            raise KeyStoreRejected("invalidHeader", str(error), {}) from error
        if len(keys) != 1:
            raise KeyStoreRejected("invalidHeader", "one data key expected", {})
        if file_id in self.deleted_files:
            raise KeyStoreRejected(
                "fileDeleted",
                "The file was deleted from the archive; no secret is created for it again.",
                {"file_id": file_id},
            )
        secret_id = self.secret_id_of(file_id)
        if secret_id not in self.secrets:
            self.secrets[secret_id] = c4gh.new_session_key()
        return FileSecrets(keys[0], self.secrets[secret_id], secret_id, offset)

    def secret_id_of(self, file_id: str) -> str:
        """The file's one secret id (as EKSS derives it from the file id)."""
        if file_id not in self._file_secret_ids:
            self._file_secret_ids[file_id] = f"secret-{next(self._ids)}"
        return self._file_secret_ids[file_id]

    def stored_secret(self, secret_id: str) -> bytes:
        """For tests: what EKSS keeps (no caller of the port can ask for it)."""
        if secret_id not in self.secrets:
            raise SecretNotFound(secret_id)
        return self.secrets[secret_id]

    def mark_registered(self, file_id: str) -> None:
        secret_id = self._file_secret_ids.get(file_id)
        if secret_id in self.secrets:
            self.registered.add(secret_id)

    def envelope(self, secret_id: str, reader_public_key: bytes, work_order_token: str) -> bytes:
        if not work_order_token:
            raise KeyStoreRejected("workOrderRefused", "no work order token", {})
        self.tokens.append(work_order_token)
        secret = self.stored_secret(secret_id)
        if secret_id not in self.registered:
            raise KeyStoreUnavailable("EKSS answered 404 fileNotRegistered")
        return c4gh.make_header(secret, self._private, reader_public_key)

    def forget_file(self, file_id: str) -> bool:
        """EKSS's FileDeletionRequested or FileInterrogationFailure: True if the file had a
        secret (now gone)."""
        self.deleted_files.add(file_id)
        secret_id = self._file_secret_ids.get(file_id)
        return secret_id is not None and self.secrets.pop(secret_id, None) is not None
