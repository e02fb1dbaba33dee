"""The ports the service cores talk to. Adapters in ``shared.adapters`` implement them.

A core receives these as constructor arguments and never imports boto3,
hvac or chalice, so the same core runs on AWS, LocalStack, the embedded
stack and under moto.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


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
    def list_multipart_uploads(self, bucket: str) -> list[OpenMultipart]: ...
    def head(self, bucket: str, key: str) -> ObjectInfo | None: ...
    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes: ...
    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None: ...
    def delete(self, bucket: str, key: str) -> None: ...
    def presign_get(self, bucket: str, key: str, expires_s: int) -> str: ...


class EventPublisher(Protocol):
    def publish(self, event_type: str, payload: dict[str, Any], key: str) -> str:
        """Publish one event; returns its event id."""
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
