"""The ports the service cores talk to. Adapters in ``shared.adapters`` implement them.

A core receives these as constructor arguments and never imports boto3,
hvac or chalice, so the same core runs on AWS, LocalStack, the embedded
stack and under moto.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.events import EventSchema


@dataclass(frozen=True)
class PartInfo:
    number: int
    size: int
    etag: str  # without quotes
    # when the part was stored (ListParts' LastModified): the last sign of life of an
    # upload whose client talks to S3 alone (None where the store does not say)
    last_modified: datetime | None = None
    # the part's SHA-256 (hex) as S3 verified it, for a multipart upload created with
    # checksum_sha256 (None where the store does not report it: SeaweedFS, moto)
    checksum_sha256: str | None = None


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str  # without quotes


@dataclass(frozen=True)
class OpenMultipart:
    key: str
    upload_id: str
    initiated: datetime


class ObjectNotFound(Exception):
    """The object or multipart upload does not exist."""


class ObjectStorage(Protocol):
    def create_multipart(self, bucket: str, key: str, *, checksum_sha256: bool = False) -> str:
        """Start a multipart upload; with ``checksum_sha256`` every part must carry its
        SHA-256, which the store verifies (S3's ChecksumAlgorithm=SHA256)."""
        ...

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
        """A URL to PUT exactly ``content_length`` bytes as this part (the length is
        signed: the store refuses a body of any other size), and, where ``content_md5``
        (base64) is given, exactly those bytes (the client must send that Content-MD5);
        likewise ``checksum_sha256`` (hex), which the client sends as
        ``x-amz-checksum-sha256`` (base64: shared.crypt.checksums.sha256_header) and the
        store verifies."""
        ...

    def upload_part(
        self, bucket: str, key: str, upload_id: str, part_number: int, data: bytes
    ) -> str: ...
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
        """Copy bytes ``start`` to ``end`` (inclusive) of the source object into one part
        of an open multipart upload, server-side; the part's ETag. Repeating it replaces
        the part, so a copy resumed after a crash simply copies the part again."""
        ...

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]: ...
    def complete_multipart(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[tuple[int, str]],
        *,
        checksums_sha256: list[str] | None = None,
    ) -> str:
        """Complete from (number, ETag) pairs; the object's ETag. A multipart upload
        created with ``checksum_sha256`` needs each part's SHA-256 (hex, in ``parts``'
        order), which the store checks against what it verified."""
        ...

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None: ...
    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[OpenMultipart]:
        """The multipart uploads open in the bucket (those whose key starts with ``prefix``)."""
        ...

    def head(self, bucket: str, key: str) -> ObjectInfo | None: ...
    def put(self, bucket: str, key: str, data: bytes) -> str:
        """Store a small object in one PUT (a manifest, say); its ETag."""
        ...

    def get(self, bucket: str, key: str) -> bytes:
        """A small object whole (ObjectNotFound if absent)."""
        ...

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes: ...
    def delete(self, bucket: str, key: str) -> None: ...
    def presign_get(self, bucket: str, key: str, expires_s: int) -> str: ...


class EventPublisher(Protocol):
    def publish(self, event: EventSchema, key: str | None = None) -> str:
        """Publish one event on the topic of its type (its class); the key is the event's
        file id unless given. Returns the event id."""
        ...


class SecretExists(Exception):
    """A secret was already written at this path (check-and-set refused)."""


class SecretStoreUnavailable(Exception):
    """The secret store cannot be reached or refused the request."""


class SecretStore(Protocol):
    def create(self, path: str, data: dict[str, str]) -> None:
        """Write once: raises SecretExists if the path holds a secret."""
        ...

    def read(self, path: str) -> dict[str, str] | None: ...
    def delete(self, path: str) -> None: ...

    def read_versioned(self, path: str) -> tuple[dict[str, str], int] | None:
        """The current data and its version number (for ``replace``), or None."""
        ...

    def replace(self, path: str, data: dict[str, str], version: int) -> None:
        """Write a new version if ``version`` is still the current one (check-and-set);
        SecretExists if another write came first."""
        ...


class MessageSender(Protocol):
    def send(self, body: str, delay_s: int = 0) -> str:
        """Put one message on a queue (e.g. a function's continuation of its own work);
        returns the message id."""
        ...


# ---------------------------------------------------------------- the key store (EKSS)


@dataclass(frozen=True)
class FileSecrets:
    """What the key store returns for an upload's header: both secrets, the new one's id,
    and where the file's body starts."""

    submitter_secret: bytes = field(repr=False)
    new_secret: bytes = field(repr=False)
    secret_id: str
    offset: int


class KeyStoreRejected(Exception):
    """The key store refused the request for what it carries (a 4xx other than refused
    credentials or throttling): the caller's input is at fault, a retry will not help."""

    def __init__(self, exception_id: str, description: str, data: dict[str, Any]) -> None:
        super().__init__(f"{exception_id}: {description}")
        self.exception_id = exception_id
        self.description = description
        self.data = data


class KeyStoreUnavailable(Exception):
    """The key store or its secret store cannot serve now (5xx, network, refused
    credentials, an unusable answer): retry later."""


class SecretNotFound(Exception):
    """The key store has no secret under this id."""


class KeyStore(Protocol):
    """The archive's key store as the services call it (EKSS's HTTP API on AWS); each
    caller with its own credential may use only its own calls."""

    def create_secret(self, file_id: str, submitter_public_key: str) -> FileSecrets:
        """IRS: open the header of the file's inbox object (EKSS reads it), both secrets
        back. The file has one secret however often this is called (the same id and new
        secret each time: every turn of an interrogation asks again); a file not in the
        inbox is refused (KeyStoreRejected ``noInterrogation``), a deleted or failed one
        too (``fileDeleted``).
        """
        ...

    def envelope(self, secret_id: str, reader_public_key: bytes, work_order_token: str) -> bytes:
        """DCS: the secret of a registered file in a Crypt4GH header (one recipient) for
        the reader's key, which the reader's download work order token must name."""
        ...
