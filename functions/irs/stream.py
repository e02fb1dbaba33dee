"""The streaming half of an interrogation: secrets, size checks, and the part loop.

Reads the inbox object in ranges of whole cipher segments, re-encrypts them into a
header-less multipart object in the staging bucket, and saves a checkpoint after every
part: staged part checksums, plaintext size and the SHA-256 state. Anything wrong with the
upload raises Rejected with the reason for the submitter; anything wrong with the archive
raises for a retry.

The work on consecutive parts overlaps, each kind in a thread of its own, so that their
times do not add up: reading part N+2 from the inbox, re-encrypting part N+1 (this thread),
and uploading part N to staging while another thread takes its md5 and SHA-256 (hashlib
releases the GIL). Memory is therefore about four staged parts at most (the one uploading,
the cipher and the result of the one being built, the one being read), each at most the
staging part size. Checkpoints are written here alone, strictly in order, and only
once a part's upload returned; whatever goes wrong, the outcome is the one the plain
one-part-at-a-time loop would have had (see _stage_parts).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from functions.irs.keystore import UnwrapError, unwrap_secret, wrap_secret
from functions.irs.model import COMPLETING, Interrogation, StagedPart
from functions.irs.outcome import (
    CHECKSUM_MISMATCH,
    HEADER_CUT,
    KEY_LOST,
    OBJECT_GONE,
    Rejected,
    damaged,
    rejected_header,
    size_mismatch,
    success_payload,
    too_long,
    truncated,
)
from functions.irs.reencrypt import (
    Reencryptor,
    SegmentDamaged,
    StagedChunk,
    staging_part_size,
)
from shared.crypt.c4gh import CIPHER_SEGMENT_SIZE, encrypted_body_size
from shared.crypt.checksums import part_digests
from shared.crypt.resumable_sha256 import ResumableSha256
from shared.multipart import part_count
from shared.ports import (
    FileSecrets,
    KeyStoreRejected,
    KeyStoreUnavailable,
    ObjectNotFound,
    SecretNotFound,
)

if TYPE_CHECKING:
    from functions.irs.core import Interrogator, Invocation

log = logging.getLogger("fs.irs")


def stream(irs: Interrogator, item: Interrogation, invocation: Invocation) -> None:
    """Stage parts until the file is done (then finish) or the invocation must hand on."""
    secrets = _secrets(irs, item)
    if item.staging_upload_id is None:
        _check_sizes(item)
        _open_staging(irs, item)
    assert item.upload and item.object_size is not None and item.offset is not None
    hasher = ResumableSha256.from_state(item.hash_state) if item.hash_state else ResumableSha256()
    reencryptor = Reencryptor(secrets.submitter_secret, secrets.new_secret)
    with (
        ThreadPoolExecutor(1, thread_name_prefix="irs-read") as reader,
        ThreadPoolExecutor(1, thread_name_prefix="irs-stage") as stager,
        ThreadPoolExecutor(1, thread_name_prefix="irs-checksum") as summer,
    ):
        pipe = _Pipeline(reencryptor, hasher, reader, stager, summer)
        staged = _stage_parts(irs, item, invocation, pipe)
    # leaving the executors waited for their threads: nothing is read or uploaded any more
    if not staged:
        irs.hand_on(item)
        return
    digest = hasher.hexdigest()
    if digest != item.upload.decrypted_sha256.lower():
        raise Rejected(CHECKSUM_MISMATCH)
    if item.plain_size != item.upload.decrypted_size:  # implied by the size checks; cheap
        raise Rejected(size_mismatch(item.upload.encrypted_size, item.object_size))
    item.outcome = success_payload(item, digest, irs.settings.staging_bucket)
    item.state = COMPLETING
    item.hash_state = item.wrapped_secret = None
    irs.save(item)
    irs.finish_success(item)


def _context(item: Interrogation) -> bytes:
    return f"{item.object_key}:{item.secret_id}".encode()


def _secrets(irs: Interrogator, item: Interrogation) -> FileSecrets:
    """Both secrets: created on the first turn, recovered on every later one."""
    if item.secret_id is not None:
        assert item.offset is not None
        try:
            new_secret = irs.keys.new_secret(item.secret_id)
            submitter_secret = unwrap_secret(item.wrapped_secret or "", new_secret, _context(item))
        except (SecretNotFound, UnwrapError, ValueError) as error:
            raise Rejected(KEY_LOST) from error
        return FileSecrets(submitter_secret, new_secret, item.secret_id, item.offset)
    info = irs.storage.head(irs.settings.inbox_bucket, item.object_key)
    if info is None:
        raise Rejected(OBJECT_GONE)
    item.object_size = info.size  # the object itself, not the notification, is the truth
    secrets = _create_secret(irs, item)
    item.secret_id, item.offset = secrets.secret_id, secrets.offset
    item.wrapped_secret = wrap_secret(secrets.submitter_secret, secrets.new_secret, _context(item))
    try:
        irs.save(item)
    except Exception:
        # nobody else knows this secret id: take the secret back
        with contextlib.suppress(KeyStoreUnavailable):
            irs.keys.delete_secret(secrets.secret_id)
        raise
    return secrets


def _create_secret(irs: Interrogator, item: Interrogation) -> FileSecrets:
    assert item.upload is not None and item.object_size is not None
    for probe in irs.settings.header_probes:
        size = min(probe, item.object_size)
        first = _read(irs, item, 0, size)
        try:
            return irs.keys.create_secret(item.upload.submitter_public_key, first)
        except KeyStoreRejected as error:
            if error.exception_id == "headerTruncated" and size < item.object_size:
                continue
            raise Rejected(rejected_header(error)) from error
    raise Rejected(HEADER_CUT)


def _check_sizes(item: Interrogation) -> None:
    assert item.upload and item.object_size is not None and item.offset is not None
    expected = item.offset + encrypted_body_size(item.upload.decrypted_size)
    found = item.object_size
    if found < expected:
        raise Rejected(truncated(expected, found))
    if found > expected:
        raise Rejected(too_long(expected, found))
    if item.upload.encrypted_size != found:
        raise Rejected(size_mismatch(item.upload.encrypted_size, found))


def _open_staging(irs: Interrogator, item: Interrogation) -> None:
    assert item.upload is not None
    item.staging_part_size = staging_part_size(
        item.upload.part_size, irs.settings.max_staging_part_size
    )
    item.staged_object_id = str(uuid.uuid4())
    item.staging_upload_id = irs.storage.create_multipart(
        irs.settings.staging_bucket, item.staged_object_id
    )
    try:
        irs.save(item)
    except Exception:
        with contextlib.suppress(Exception):
            irs.storage.abort_multipart(
                irs.settings.staging_bucket, item.staged_object_id, item.staging_upload_id
            )
        raise


def _read(irs: Interrogator, item: Interrogation, start: int, end: int) -> bytes:
    """Inbox bytes [start, end); Rejected if the object is gone or shorter than it was."""
    if end <= start:
        return b""
    try:
        data = irs.storage.get_range(irs.settings.inbox_bucket, item.object_key, start, end - 1)
    except ObjectNotFound as error:
        raise Rejected(OBJECT_GONE) from error
    if len(data) != end - start:
        raise Rejected(truncated(item.object_size or end, start + len(data)))
    return data


def _read_part(irs: Interrogator, item: Interrogation, index: int) -> bytes:
    """The inbox bytes behind staged part ``index`` (0-based)."""
    assert item.object_size is not None and item.offset is not None
    assert item.staging_part_size
    start = item.offset + index * item.staging_part_size
    return _read(irs, item, start, min(start + item.staging_part_size, item.object_size))


class StagedPartMismatch(RuntimeError):
    """The staging bucket holds other bytes for a part than IRS sent: its ETag (the MD5 of
    what S3 received; the staging bucket is SSE-S3, infra/shared_terraform.py) is not the
    part's MD5. An archive fault: the part is not checkpointed, and the retry stages it
    again. Checked after the upload instead of sending Content-MD5, so that the MD5 is
    taken while the part is on its way rather than delaying it."""

    def __init__(self, number: int) -> None:
        super().__init__(f"staged part {number}: the object store's ETag is not its MD5")
        self.number = number


@dataclass(frozen=True)
class _Pipeline:
    reencryptor: Reencryptor
    hasher: ResumableSha256
    reader: ThreadPoolExecutor  # reads the part after the one being built
    stager: ThreadPoolExecutor  # uploads the part before it
    summer: ThreadPoolExecutor  # meanwhile takes that part's checksums


@dataclass(frozen=True)
class _InFlight:
    """A part on its way to staging and the checkpoint it completes (taken when it was
    built, before the next part touched the hasher)."""

    number: int  # 1-based
    size: int
    plain_size: int
    hash_state: bytes
    upload: Future[str]  # the ETag
    checksums: Future[tuple[str, str]]  # (md5, sha256)


def _stage_parts(
    irs: Interrogator, item: Interrogation, invocation: Invocation, pipe: _Pipeline
) -> bool:
    """Stage and checkpoint parts; True when all are, False when the invocation must hand on
    (its checkpoint is then saved, nothing is in flight).

    While part N uploads, part N+1 is built. N's checkpoint is written after N+1 was built
    and before N+1's upload starts, so at most one upload is ever in flight. If reading or
    building N+1 fails (a damaged segment, the object gone, a crash), N is settled first,
    exactly as the sequential loop had done before it got to N+1: its checkpoint is written
    if its upload succeeded, and if that upload failed, its error is the one raised.
    """
    assert item.object_size is not None and item.offset is not None
    assert item.staging_part_size and item.staged_object_id and item.staging_upload_id
    total = part_count(item.object_size - item.offset, item.staging_part_size)
    index = len(item.parts)  # 0-based: the next part to build
    ahead: Future[bytes] | None = None
    flying: _InFlight | None = None
    while index < total:
        if invocation.parts_done and invocation.should_hand_on():
            break
        try:
            cipher = ahead.result() if ahead is not None else _read_part(irs, item, index)
            ahead = (
                pipe.reader.submit(_read_part, irs, item, index + 1) if index + 1 < total else None
            )
            chunk = _reencrypt(item, pipe, cipher, index)
            del cipher
        except BaseException:
            _settle(irs, item, flying)
            raise
        _settle(irs, item, flying)
        flying = _InFlight(
            number=index + 1,
            size=len(chunk.data),
            plain_size=chunk.plain_size,
            hash_state=pipe.hasher.state(),
            upload=pipe.stager.submit(
                _upload, irs, item.staged_object_id, item.staging_upload_id, index + 1, chunk.data
            ),
            checksums=pipe.summer.submit(part_digests, chunk.data),
        )
        del chunk  # the upload holds the bytes until it is done
        invocation.parts_done += 1  # parts this invocation took on, counted for hand-on
        index += 1
    _settle(irs, item, flying)
    return index == total


def _reencrypt(item: Interrogation, pipe: _Pipeline, cipher: bytes, index: int) -> StagedChunk:
    assert item.staging_part_size
    first_segment = index * (item.staging_part_size // CIPHER_SEGMENT_SIZE)
    try:
        return pipe.reencryptor.part(cipher, first_segment, pipe.hasher)
    except SegmentDamaged as error:
        raise Rejected(damaged(error.index + 1)) from error


def _upload(irs: Interrogator, key: str, upload_id: str, number: int, data: bytearray) -> str:
    """Stage one part; its ETag."""
    return irs.storage.upload_part(
        irs.settings.staging_bucket,
        key,
        upload_id,
        number,
        data,  # type: ignore[arg-type]  # a bytearray, uploaded without a copy
    )


def _settle(irs: Interrogator, item: Interrogation, flying: _InFlight | None) -> None:
    """Wait for the part in flight (its error propagates), then save its checkpoint."""
    if flying is None:
        return
    etag = flying.upload.result()
    md5, sha256 = flying.checksums.result()
    if etag.lower() != md5:
        raise StagedPartMismatch(flying.number)
    assert len(item.parts) + 1 == flying.number, "checkpoints are written in order"
    item.parts.append(StagedPart(md5, sha256))
    item.plain_size += flying.plain_size
    item.hash_state = flying.hash_state
    irs.save(item)
    log.info(
        "part staged",
        extra={"inbox_object_id": item.object_key, "part": flying.number, "bytes": flying.size},
    )
    if irs.after_part is not None:
        irs.after_part(len(item.parts))
