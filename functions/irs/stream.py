"""The streaming half of an interrogation: part size, secrets, size checks, the part loop.

Reads the inbox object in ranges of whole cipher segments, re-encrypts them into a
header-less multipart object in the staging bucket, and after every part stores its
checksums as an item of its own, then saves a checkpoint (how many parts are staged, the
plaintext size, the SHA-256 states). As the inbox bytes are read, the SHA-256 the
submitter declared for each upload part is checked (declared.py). When every part is
staged, their items become the staged object's part manifest (shared/manifest.py), beside
it in staging, which the success names. Anything wrong with the upload raises Rejected
with the reason for the submitter; anything wrong with the archive raises for a retry. A
file too large to stage in MAX_PARTS parts (sizing.py) is rejected before anything else is
done, a secret asked for included.

The work on consecutive parts overlaps, each kind in a thread of its own, so that their
times do not add up: reading part N+2 from the inbox, re-encrypting part N+1 (this thread),
and uploading part N to staging while another thread takes its md5 and SHA-256 (hashlib
releases the GIL). Memory is therefore about four staged parts at most (the one uploading,
the cipher and the result of the one being built, the one being read), each the staging
part size. Where four do not fit in the function's memory, the read-ahead goes, then the
upload in the background (sizing.parts_in_memory). Checkpoints are written here alone,
strictly in order, and only once a part's upload returned; whatever goes wrong, the outcome
is the one the plain one-part-at-a-time loop would have had (see _stage_parts).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from functions.irs.declared import DeclaredParts
from functions.irs.errors import (
    CHECKSUM_MISMATCH,
    KEY_LOST,
    OBJECT_GONE,
    Rejected,
    StagedPartMismatch,
    StagingIncomplete,
    damaged,
    rejected_header,
    size_mismatch,
    too_large,
    too_long,
    truncated,
)
from functions.irs.model import COMPLETING, Interrogation, Invocation, StagedPart, Workshop
from functions.irs.outcome import success_payload
from functions.irs.sizing import (
    FULL_OVERLAP,
    LEAST_OVERLAP,
    largest_body,
    parts_in_memory,
    staging_part_size,
)
from shared.crypt.c4gh import CIPHER_SEGMENT_SIZE, encrypted_body_size
from shared.crypt.checksums import part_digests
from shared.crypt.reencrypt import Reencryptor, SegmentDamaged, StagedChunk
from shared.crypt.resumable_sha256 import ResumableSha256
from shared.events import ManifestRef
from shared.manifest import PartsManifest, write_manifest
from shared.multipart import part_count
from shared.ports import FileSecrets, KeyStoreRejected, ObjectNotFound
from shared.storage import abort_open_uploads

log = logging.getLogger("fs.irs")


def stream(shop: Workshop, item: Interrogation, invocation: Invocation) -> bool:
    """Stage parts until the file is done or the invocation must hand on.

    True: every part is staged and checked, and the record is saved as COMPLETING (the
    caller finishes). False: the checkpoint is saved and the rest is for a next invocation.
    """
    if item.staging_part_size is None:
        _plan(shop, item)
    secrets = _secrets(shop, item)
    if item.staging_upload_id is None:
        _check_sizes(item)
    declared = _declared(shop, item)  # the header is read before anything is staged
    if item.staging_upload_id is None:
        _open_staging(shop, item)
    assert item.upload and item.object_size is not None and item.offset is not None
    hasher = ResumableSha256.from_state(item.hash_state) if item.hash_state else ResumableSha256()
    reencryptor = Reencryptor(secrets.submitter_secret, secrets.new_secret)
    with (
        ThreadPoolExecutor(1, thread_name_prefix="irs-read") as reader,
        ThreadPoolExecutor(1, thread_name_prefix="irs-stage") as stager,
        ThreadPoolExecutor(1, thread_name_prefix="irs-checksum") as summer,
    ):
        pipe = _Pipeline(reencryptor, hasher, declared, reader, stager, summer)
        staged = _stage_parts(shop, item, invocation, pipe)
    # leaving the executors waited for their threads: nothing is read or uploaded any more
    if not staged:
        return False
    if not declared.complete:  # implied by the part loop; cheap
        raise StagingIncomplete(f"not every declared part of {item.object_key} was checked")
    digest = hasher.hexdigest()
    if digest != item.upload.decrypted_sha256.lower():
        raise Rejected(CHECKSUM_MISMATCH)
    if item.plain_size != item.upload.decrypted_size:  # implied by the size checks; cheap
        raise Rejected(size_mismatch(item.upload.encrypted_size, item.object_size))
    manifest = _write_manifest(shop, item)
    item.outcome = success_payload(item, digest, shop.settings.staging_bucket, manifest)
    item.state = COMPLETING
    item.hash_state = item.parts_hash_state = None
    shop.save(item)
    return True


def _plan(shop: Workshop, item: Interrogation) -> None:
    """Choose the staged part size from the declaration (saved with the next checkpoint);
    Rejected if the file cannot be staged in MAX_PARTS parts."""
    assert item.upload is not None
    body = encrypted_body_size(item.upload.decrypted_size)
    size = staging_part_size(item.upload.part_size, body, shop.settings)
    if size is None:
        raise Rejected(too_large(item.upload.decrypted_size, body, largest_body(shop.settings)))
    item.staging_part_size = size


def _secrets(shop: Workshop, item: Interrogation) -> FileSecrets:
    """Both secrets, from EKSS on every turn: it reads the header of the file's inbox
    object itself and keeps one secret per file, so a later turn (or a retry after a
    crash) gets the same secret id, secret and offset back."""
    first_turn = item.secret_id is None
    if first_turn:
        info = shop.storage.head(shop.settings.inbox_bucket, item.object_key)
        if info is None:
            raise Rejected(OBJECT_GONE)
        item.object_size = info.size  # the object itself, not the notification, is the truth
    assert item.upload is not None
    try:
        secrets = shop.keys.create_secret(item.upload.file_id, item.upload.submitter_public_key)
    except KeyStoreRejected as error:
        if error.exception_id == "noInterrogation":
            raise Rejected(OBJECT_GONE) from error
        if error.exception_id == "fileDeleted":  # not the header's fault
            raise Rejected(error.description) from error
        raise Rejected(KEY_LOST if not first_turn else rejected_header(error)) from error
    if first_turn:
        item.secret_id, item.offset = secrets.secret_id, secrets.offset
        # a failed save keeps the secret: it is the file's one secret (EKSS derives its id
        # from the file id), so the retry gets the same one back
        shop.save(item)
    elif (secrets.secret_id, secrets.offset) != (item.secret_id, item.offset):
        raise Rejected(KEY_LOST)  # not the secret the staged parts were made with
    return secrets


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


def _open_staging(shop: Workshop, item: Interrogation) -> None:
    bucket = shop.settings.staging_bucket
    if item.staged_object_id is None:
        # the key is recorded before anything is created under it, so that no crash can
        # leave a multipart upload that no record names
        item.staged_object_id = str(uuid.uuid4())
        shop.save(item)
    else:
        # an earlier turn chose the key and may have died after opening an upload under it
        abort_open_uploads(shop.storage, bucket, item.staged_object_id)
    item.staging_upload_id = shop.storage.create_multipart(bucket, item.staged_object_id)
    try:
        shop.save(item)
    except Exception:
        with contextlib.suppress(Exception):
            shop.storage.abort_multipart(
                shop.settings.staging_bucket, item.staged_object_id, item.staging_upload_id
            )
        raise


def _read(shop: Workshop, item: Interrogation, start: int, end: int) -> bytes:
    """Inbox bytes [start, end); Rejected if the object is gone or shorter than it was."""
    if end <= start:
        return b""
    try:
        data = shop.storage.get_range(shop.settings.inbox_bucket, item.object_key, start, end - 1)
    except ObjectNotFound as error:
        raise Rejected(OBJECT_GONE) from error
    if len(data) != end - start:
        raise Rejected(truncated(item.object_size or end, start + len(data)))
    return data


def _declared(shop: Workshop, item: Interrogation) -> DeclaredParts:
    """The check of the declared part SHA-256s, brought to where the checkpoint is (the
    header, on the first turn: the staged parts begin after it)."""
    assert item.upload and item.object_size is not None and item.offset is not None
    assert item.staging_part_size
    position = min(item.object_size, item.offset + item.parts_staged * item.staging_part_size)
    declared = DeclaredParts.of_upload(
        shop.storage,
        item.upload.parts_manifest,
        item.object_size,
        position,
        item.parts_hash_state,
    )
    declared.catch_up(
        lambda start, end: _read(shop, item, start, end), position, item.staging_part_size
    )
    return declared


@dataclass(frozen=True)
class _Cipher:
    """The inbox bytes behind one staged part, and the declared parts' check after them."""

    data: bytes
    declared_state: bytes


def _read_part(shop: Workshop, item: Interrogation, index: int, declared: DeclaredParts) -> _Cipher:
    """The inbox bytes behind staged part ``index`` (0-based), checked against the declared
    part SHA-256s (Rejected when an upload part they end differs)."""
    assert item.object_size is not None and item.offset is not None
    assert item.staging_part_size
    start = item.offset + index * item.staging_part_size
    data = _read(shop, item, start, min(start + item.staging_part_size, item.object_size))
    declared.update(data, start)
    return _Cipher(data, declared.state())


@dataclass(frozen=True)
class _Pipeline:
    reencryptor: Reencryptor
    hasher: ResumableSha256
    declared: DeclaredParts  # touched by one thread at a time: reads are in order
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
    declared_state: bytes
    upload: Future[str]  # the ETag
    checksums: Future[tuple[str, str]]  # (md5, sha256)


def _stage_parts(
    shop: Workshop, item: Interrogation, invocation: Invocation, pipe: _Pipeline
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
    index = item.parts_staged  # 0-based: the next part to build
    depth = parts_in_memory(shop.settings, item.staging_part_size)
    read_ahead, upload_behind = depth >= FULL_OVERLAP, depth > LEAST_OVERLAP
    ahead: Future[_Cipher] | None = None
    flying: _InFlight | None = None
    while index < total:
        if invocation.parts_done and invocation.should_hand_on():
            break
        try:
            cipher = (
                ahead.result()
                if ahead is not None
                else _read_part(shop, item, index, pipe.declared)
            )
            ahead = (
                pipe.reader.submit(_read_part, shop, item, index + 1, pipe.declared)
                if read_ahead and index + 1 < total
                else None
            )
            chunk = _reencrypt(item, pipe, cipher.data, index)
            declared_state = cipher.declared_state
            del cipher
        except BaseException:
            _settle(shop, item, flying)
            raise
        _settle(shop, item, flying)
        flying = _InFlight(
            number=index + 1,
            size=len(chunk.data),
            plain_size=chunk.plain_size,
            hash_state=pipe.hasher.state(),
            declared_state=declared_state,
            upload=pipe.stager.submit(
                _upload, shop, item.staged_object_id, item.staging_upload_id, index + 1, chunk.data
            ),
            checksums=pipe.summer.submit(part_digests, chunk.data),
        )
        del chunk  # the upload holds the bytes until it is done
        if not upload_behind:  # no memory for the next part while this one uploads
            _settle(shop, item, flying)
            flying = None
        invocation.parts_done += 1  # parts this invocation took on, counted for hand-on
        index += 1
    _settle(shop, item, flying)
    return index == total


def _reencrypt(item: Interrogation, pipe: _Pipeline, cipher: bytes, index: int) -> StagedChunk:
    assert item.staging_part_size
    first_segment = index * (item.staging_part_size // CIPHER_SEGMENT_SIZE)
    try:
        return pipe.reencryptor.part(cipher, first_segment, pipe.hasher)
    except SegmentDamaged as error:
        raise Rejected(damaged(error.index + 1)) from error


def _upload(shop: Workshop, key: str, upload_id: str, number: int, data: bytearray) -> str:
    """Stage one part; its ETag."""
    return shop.storage.upload_part(
        shop.settings.staging_bucket,
        key,
        upload_id,
        number,
        data,  # type: ignore[arg-type]  # a bytearray, uploaded without a copy
    )


def _settle(shop: Workshop, item: Interrogation, flying: _InFlight | None) -> None:
    """Wait for the part in flight (its error propagates), then save its checkpoint."""
    if flying is None:
        return
    etag = flying.upload.result()
    md5, sha256 = flying.checksums.result()
    if etag.lower() != md5:
        raise StagedPartMismatch(flying.number)
    assert item.parts_staged + 1 == flying.number, "checkpoints are written in order"
    item.parts_staged = flying.number
    item.plain_size += flying.plain_size
    item.hash_state = flying.hash_state
    item.parts_hash_state = flying.declared_state
    # with the part's item, in one write: a checkpoint never counts a part whose checksums
    # are not stored
    shop.checkpoint(item, StagedPart(flying.number, md5, sha256))
    log.info(
        "part staged",
        extra={"inbox_object_id": item.object_key, "part": flying.number, "bytes": flying.size},
    )
    if shop.after_part is not None:
        shop.after_part(item.parts_staged)


def _write_manifest(shop: Workshop, item: Interrogation) -> ManifestRef:
    """The staged parts' items, read back, as the staged object's manifest in staging
    (idempotent: the same parts give the same bytes); its reference."""
    assert item.object_size is not None and item.offset is not None
    assert item.staging_part_size and item.staged_object_id
    parts = shop.repository.parts(item.object_key)
    if [part.number for part in parts] != list(range(1, item.parts_staged + 1)):
        raise StagingIncomplete(f"part records of {item.staged_object_id} are incomplete")
    manifest = PartsManifest(
        part_size=item.staging_part_size,
        size=item.object_size - item.offset,
        md5=[part.md5 for part in parts],
        sha256=[part.sha256 for part in parts],
    )
    return write_manifest(
        shop.storage, shop.settings.staging_bucket, item.staged_object_id, manifest
    )
