"""An in-process IRS over the stack's S3, DynamoDB and EKSS (its core, on the stack's Vault),
for tests that stop or break it where a Lambda would die or a storage call would fail.

A crash is a BaseException raised inside a storage call or after a part, which no handler
code catches, exactly like a killed process (the lease stays taken). Inbox objects go to a
bucket of the test's own, which notifies nobody, so the stack's IRS never touches them.
Published events and continuation messages are recorded instead of sent, so the test decides
when the next invocation runs.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.ekss.archive_keys import StoredArchiveKey
from functions.ekss.core import SecretKeeper
from functions.irs.core import Interrogator
from functions.irs.deletion import Deletion
from functions.irs.model import Interrogation, Settings, Upload
from functions.irs.store import DynamoInterrogationRepository
from functions.irs.wire import Continuation, parse
from shared.adapters.s3 import S3Storage
from shared.adapters.vault import VaultSecretStore
from shared.clock import utcnow
from shared.crypt.keys import KeyFormatError, decode_key
from shared.errors import ServiceError
from shared.events import FileUploadReceived, ManifestRef
from shared.manifest import PartsManifest, read_manifest
from shared.ports import FileSecrets, KeyStoreRejected, KeyStoreUnavailable
from tests.fakes import RecordingPublisher, RecordingQueue
from tests.irs.helpers import declaration, put_multipart


class Crash(BaseException):
    """A killed invocation: nothing in the handler may catch it."""


class FixedKeyStore:
    """Only for the byte-identity test: the same secrets for every run, as EKSS would give
    them for one file (the submitter's from its header, one new secret)."""

    def __init__(self, submitter_secret: bytes, new_secret: bytes, offset: int = 124) -> None:
        self._submitter, self._new, self._offset = submitter_secret, new_secret, offset

    def create_secret(self, file_id: str, submitter_public_key: str) -> FileSecrets:
        return FileSecrets(self._submitter, self._new, "fixed", self._offset)


class InProcessEkss:
    """KeyStore: EKSS's real core on the stack's Vault, reading headers from the harness's
    own inbox (the stack's EKSS reads only the stack's inbox, which the harness keeps out
    of so that the stack's IRS never sees its objects). Refusals as EkssClient gives them."""

    def __init__(self, endpoints: dict[str, Any], s3: Any, inbox: str) -> None:
        store = VaultSecretStore(endpoints["vault_addr"], endpoints["vault_token"])
        archive = StoredArchiveKey(store, "fs/ekss/archive-keys", "archive")
        self._keeper = SecretKeeper(store, archive, S3Storage(s3), inbox)
        self._store = store

    def create_secret(self, file_id: str, submitter_public_key: str) -> FileSecrets:
        try:
            key = decode_key(submitter_public_key)
            created = self._keeper.create_secret(file_id, key)
        except KeyFormatError as error:
            raise KeyStoreRejected("validationError", "public_key: not a key", {}) from error
        except ServiceError as error:
            if error.status >= 500:
                raise KeyStoreUnavailable(error.exception_id) from error
            raise KeyStoreRejected(error.exception_id, error.description, error.data) from error
        return FileSecrets(
            created.submitter_secret, created.new_secret, created.secret_id, created.offset
        )

    def stored_secret(self, secret_id: str) -> bytes:
        """For tests: the secret as EKSS keeps it in Vault."""
        data = self._store.read(f"fs/ekss/secrets/{secret_id}")
        assert data is not None and "secret" in data, f"no secret {secret_id}"
        return base64.b64decode(data["secret"])


class CrashingStorage(S3Storage):
    """The real S3 adapter that dies right after S3 took part ``part`` (the checkpoint of
    that part is never written, so the part is staged again on resume)."""

    def __init__(self, s3: Any, part: int) -> None:
        super().__init__(s3)
        self._part = part

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: Any) -> str:
        etag = super().upload_part(bucket, key, upload_id, number, data)
        if number == self._part:
            raise Crash(f"killed after uploading part {number}")
        return etag


@dataclass
class Harness:
    endpoints: dict[str, Any]
    s3: Any
    inbox: str
    staging: str
    archive_public: bytes
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    queue: RecordingQueue = field(default_factory=RecordingQueue)
    repository: DynamoInterrogationRepository = field(default_factory=DynamoInterrogationRepository)

    def irs(
        self,
        keys: Any,
        *,
        max_parts: int = 0,
        storage: S3Storage | None = None,
        clock: Callable[[], datetime] | None = None,
        after_part: Callable[[int], None] | None = None,
    ) -> Interrogator:
        return Interrogator(
            storage=storage or S3Storage(self.s3),
            keys=keys,
            publisher=self.publisher,
            repository=self.repository,
            continuations=self.queue,
            settings=Settings(
                inbox_bucket=self.inbox,
                staging_bucket=self.staging,
                max_parts_per_invocation=max_parts,
            ),
            clock=clock or utcnow,
            after_part=after_part,
        )

    def deletion(self) -> Deletion:
        """IRS's deletion handler on the same S3, table and recorded events."""
        return Deletion(
            storage=S3Storage(self.s3),
            publisher=self.publisher,
            repository=self.repository,
            settings=Settings(inbox_bucket=self.inbox, staging_bucket=self.staging),
        )

    def upload(
        self, data: bytes, plain: bytes, submitter_public: bytes, wrong_sha256: tuple[int, ...] = ()
    ) -> Upload:
        """Upload ``data`` to the inbox and declare it (``wrong_sha256``: those parts with
        another sha256, 1-based)."""
        key = str(uuid.uuid4())
        put_multipart(self.s3, self.inbox, key, data)
        declared = declaration(
            file_id=key,
            box_id=str(uuid.uuid4()),
            bucket=self.inbox,
            plain=plain,
            data=data,
            submitter_public=submitter_public,
            storage=S3Storage(self.s3),
            wrong_sha256=wrong_sha256,
        )
        return Upload.from_event(FileUploadReceived(**declared))

    def start(self, irs: Interrogator, upload: Upload, size: int) -> None:
        irs.object_created(upload.object_id, size)
        irs.upload_received(upload)

    def drain(self, irs: Interrogator) -> int:
        """Run queued continuations (as the queue would); returns how many ran."""
        runs = 0
        while self.queue.sent:
            message = parse(self.queue.sent.pop(0))
            assert isinstance(message, Continuation)
            irs.resume(message.object_key)
            runs += 1
        return runs

    def outcome(self, upload: Upload) -> tuple[str, dict[str, Any]]:
        found = [e for e in self.publisher.events if e[1]["file_id"] == upload.file_id]
        assert len(found) == 1, found
        return found[0]

    def record(self, upload: Upload) -> Interrogation:
        item = self.repository.get(upload.object_id)
        assert item is not None
        return item

    def manifest(self, payload: dict[str, Any]) -> PartsManifest:
        """The part manifest an outcome names, read and checked as its readers do."""
        return read_manifest(S3Storage(self.s3), ManifestRef(**payload["parts_manifest"]))

    def staged(self, payload: dict[str, Any]) -> bytes:
        return self.s3.get_object(Bucket=self.staging, Key=payload["staged_object_id"])[
            "Body"
        ].read()


def later() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)  # every lease taken now has expired
