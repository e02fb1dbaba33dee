"""The streaming half of an interrogation: secrets, size checks, and the part loop.

Reads the inbox object in ranges of whole cipher segments (one staged part at a time, so
memory is bounded by the part size), re-encrypts them into a header-less multipart object
in the staging bucket, and saves a checkpoint after every part: staged part checksums,
plaintext size and the SHA-256 state. Anything wrong with the upload raises Rejected with
the reason for the submitter; anything wrong with the archive raises for a retry.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from functions.irs.keystore import (
    FileSecrets,
    KeyStoreRejected,
    KeyStoreUnavailable,
    SecretNotFound,
    UnwrapError,
    unwrap_secret,
    wrap_secret,
)
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
    part_count,
    staging_part_size,
)
from shared.crypt.c4gh import CIPHER_SEGMENT_SIZE, encrypted_body_size
from shared.crypt.resumable_sha256 import ResumableSha256
from shared.ports import ObjectNotFound

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
    assert item.staging_part_size
    total = part_count(item.object_size - item.offset, item.staging_part_size)
    hasher = ResumableSha256.from_state(item.hash_state) if item.hash_state else ResumableSha256()
    reencryptor = Reencryptor(secrets.submitter_secret, secrets.new_secret)
    # the next part is read while this one is re-encrypted and staged: reading and writing
    # overlap instead of adding up (one more part in memory)
    with ThreadPoolExecutor(1, thread_name_prefix="irs-read") as reader:
        ahead: Future[bytes] | None = None
        while len(item.parts) < total:
            if invocation.parts_done and invocation.should_hand_on():
                irs.hand_on(item)
                return
            index = len(item.parts)
            cipher = ahead.result() if ahead is not None else _read_part(irs, item, index)
            ahead = reader.submit(_read_part, irs, item, index + 1) if index + 1 < total else None
            _stage_part(irs, item, reencryptor, hasher, cipher)
            del cipher
            invocation.parts_done += 1
            if irs.after_part is not None:
                irs.after_part(len(item.parts))
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


def _stage_part(
    irs: Interrogator,
    item: Interrogation,
    reencryptor: Reencryptor,
    hasher: ResumableSha256,
    cipher: bytes,
) -> None:
    assert item.staging_part_size and item.staged_object_id and item.staging_upload_id
    index = len(item.parts)
    try:
        chunk = reencryptor.part(
            cipher, index * (item.staging_part_size // CIPHER_SEGMENT_SIZE), hasher
        )
    except SegmentDamaged as error:
        raise Rejected(damaged(error.index + 1)) from error
    del cipher
    irs.storage.upload_part(
        irs.settings.staging_bucket,
        item.staged_object_id,
        item.staging_upload_id,
        index + 1,
        chunk.data,  # type: ignore[arg-type]  # a bytearray, uploaded without a copy
    )
    item.parts.append(StagedPart(chunk.md5, chunk.sha256))
    item.plain_size += chunk.plain_size
    item.hash_state = hasher.state()
    irs.save(item)
    log.info(
        "part staged",
        extra={"inbox_object_id": item.object_key, "part": index + 1, "bytes": len(chunk.data)},
    )
