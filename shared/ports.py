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
    def create_multipart(self, bucket: str, key: str) -> str: ...
    def presign_upload_part(
        self, bucket: str, key: str, upload_id: str, part_number: int, expires_s: int
    ) -> str: ...
    def upload_part(
        self, bucket: str, key: str, upload_id: str, part_number: int, data: bytes
    ) -> str: ...
    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]: ...
    def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> str: ...
    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None: ...
    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[OpenMultipart]:
        """The multipart uploads open in the bucket (those whose key starts with ``prefix``)."""
        ...

    def head(self, bucket: str, key: str) -> ObjectInfo | None: ...
    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes: ...
    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None: ...
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
    """The archive's key store as the services call it (EKSS's HTTP API on AWS)."""

    def create_secret(
        self, submitter_public_key: str, file_part: bytes, file_id: str | None = None
    ) -> FileSecrets:
        """Open the header at the start of ``file_part``, keep a new secret; both back.

        With ``file_id`` the file has one secret however often this is called (the same id
        and new secret each time: a retried interrogation reuses it), and a deleted file is
        refused (KeyStoreRejected ``fileDeleted``). Without, a new secret every call.
        """
        ...

    def envelope(self, secret_id: str, reader_public_key: bytes) -> bytes:
        """The secret in a Crypt4GH header (one recipient) for the reader's key."""
        ...

    def new_secret(self, secret_id: str) -> bytes:
        """The stored secret itself (through an envelope for a throw-away key pair)."""
        ...

    def delete_secret(self, secret_id: str) -> None:
        """Remove the secret for good; an unknown id is no error."""
        ...
