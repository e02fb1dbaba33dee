"""Upload one file's parts in parallel: encrypt in order, hash and PUT many at once.

Encryption (and the plaintext sha256) runs in one worker thread, part hashing in a small
pool, PUTs on threads of their own (connector/upload/direct.py: the buffer goes to the
socket whole), the part URLs and the rest on the event loop. At most ``concurrency``
parts are in memory, fewer if ``max_memory`` bytes would not hold that many
(``UploadPlan.parts_in_flight``).

Two paths (docs/checksums.md). GHGA's: each part's md5 and sha256 are taken while its URL
is fetched and the part sent, and closing declares both lists. The wire extension (our UCS
agreed to ``part_checksum``): only the sha256 is taken, before the part's URL is asked
for, since the URL signs it and S3 verifies the body against it; closing declares no md5s.
That saves the md5 of every byte.

A resume (``ResumePoint``) starts at its first part: the parts before it are taken from
the resume log, never read. A part after it that the object store already holds, of the
right size, is hashed but not sent again if its checksum matches: on GHGA's path the md5
S3 lists; on the extension's, the sha256 S3 lists where it reports one (AWS), else the
sha256 the old parts log has for it (a line written only after S3 had verified that
sha256), else (a part S3 stored just before a kill, which the log never heard of) the md5
S3 lists as its ETag, taken for such parts alone. Otherwise it is sent again.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from connector.api.ucs import Checksums, StoredPart, UploadClient
from connector.errors import TransferFailed, Unreachable
from connector.http import RETRY_STATUSES
from connector.transfer import STORAGE, BufferPool, run_bounded, storage_detail
from connector.upload.direct import DirectPut
from connector.upload.encrypt import Boundary, PartEncryptor
from connector.upload.plan import UploadPlan
from connector.upload.resume import PartDone
from shared.crypt.checksums import multipart_etag, part_digests, part_sha256, sha256_header

# (part number, its bytes, its sha256 hex on the wire extension's path, else None)
PutPart = Callable[[int, memoryview, str | None], Awaitable[None]]
# S3's answer to a body that does not match the signed x-amz-checksum-sha256
BAD_DIGEST = "BadDigest"


@dataclass(frozen=True)
class ResumePoint:
    """Go on at ``done[-1]``'s end: parts 1..len(done) are in the object store."""

    done: list[PartDone]

    def __post_init__(self) -> None:
        if not self.done or [p.number for p in self.done] != list(range(1, len(self.done) + 1)):
            raise ValueError("a resume point needs parts 1..n")
        if self.done[-1].end is None:
            raise ValueError("the last part kept has no boundary")

    @property
    def first_part(self) -> int:
        return len(self.done) + 1

    @property
    def boundary(self) -> Boundary:
        assert self.done[-1].end is not None
        return self.done[-1].end


@dataclass(frozen=True)
class TransferResult:
    checksums: Checksums
    parts_sent: int
    parts_skipped: int  # already in the object store (read or not)
    parts_not_read: int = 0  # of those, the ones before the resume point
    buffers: int = 0  # part buffers allocated: the memory held is this x the part size


class PartPutter:
    """PUTs parts to presigned URLs (on DirectPut's threads); a 403 (URL expired) gets one
    fresh URL, and so does a 400 BadDigest (the bytes S3 received were not those hashed:
    altered on the way)."""

    def __init__(self, direct: DirectPut, ucs: UploadClient, file_id: str) -> None:
        self._direct = direct
        self._ucs = ucs
        self._file_id = file_id

    async def __call__(self, number: int, data: memoryview, sha256: str | None = None) -> None:
        headers = {}
        if sha256 is not None:
            headers["x-amz-checksum-sha256"] = sha256_header(sha256)
        for attempt in range(2):
            url = await self._ucs.part_url(self._file_id, number, sha256)
            response = await self._direct.put(url, data, headers)
            if response.status_code == 200:
                return
            altered = response.status_code == 400 and BAD_DIGEST in response.text
            if (response.status_code == 403 or altered) and attempt == 0:
                continue
            break
        if response.status_code == 400 and BAD_DIGEST in response.text:
            raise TransferFailed(
                f"{STORAGE} refused part {number} twice: the bytes it received were not "
                "the ones sent (their SHA-256 differs); something on the way alters them."
            )
        detail = storage_detail(response)
        if response.status_code in RETRY_STATUSES:
            raise Unreachable(f"{STORAGE} kept failing for part {number} ({detail}).")
        raise TransferFailed(f"{STORAGE} refused part {number} ({detail}).")


async def upload_parts(
    path: Path,
    plan: UploadPlan,
    session_key: bytes,
    header: bytes,
    put_part: PutPart,
    *,
    stored: dict[int, StoredPart] | None = None,
    logged: dict[int, PartDone] | None = None,
    verified_parts: bool = False,
    concurrency: int = 8,
    max_memory: int | None = None,
    start: ResumePoint | None = None,
    on_part: Callable[[PartDone], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> TransferResult:
    """Encrypt ``path`` (from ``start`` on) and upload every part the store does not
    already hold; ``on_part`` hears of each part once the store has it.

    ``verified_parts``: the wire extension (part sha256s signed into the URLs, no md5s);
    ``logged``: the parts log as it was before this run (what S3 verified earlier)."""
    stored = stored or {}
    logged = logged or {}
    loop = asyncio.get_running_loop()
    done = start.done if start else []
    md5s: dict[int, str | None] = {p.number: p.md5 for p in done}
    sha256s: dict[int, str] = {p.number: p.sha256 for p in done}
    counts = {"sent": 0, "skipped": len(done)}
    if max_memory is not None:
        concurrency = plan.parts_in_flight(concurrency, max_memory)
    pool = BufferPool(plan.buffer_size)
    if on_progress and done:
        on_progress(sum(plan.part_length(p.number) for p in done))

    def produce() -> tuple[int, memoryview, bytearray, Boundary | None] | None:
        buffer = pool.take()
        part = encryptor.next_part(buffer)
        if part is None:
            pool.give(buffer)
            return None
        return part[0], part[1], buffer, encryptor.boundary()

    async def verified(number: int, data: memoryview) -> tuple[None, str]:
        """The extension's path: the sha256 first, since the part's URL signs it."""
        sha256 = await loop.run_in_executor(digests, part_sha256, data)
        known, earlier = stored.get(number), logged.get(number)
        held = False
        if known is not None and known.size == len(data):
            if known.checksum_sha256 is not None:  # what S3 reports it verified (AWS)
                held = known.checksum_sha256 == sha256
            elif earlier is not None:  # S3 verified the logged sha256 before its 200
                held = earlier.sha256 == sha256
            else:  # stored, but killed before the log heard of it: S3's ETag is its md5
                md5, _ = await loop.run_in_executor(digests, part_digests, data)
                held = known.etag == md5
        if held:
            counts["skipped"] += 1
        else:
            await put_part(number, data, sha256)
            counts["sent"] += 1
        return None, sha256

    async def hashed(number: int, data: memoryview) -> tuple[str, str]:
        """GHGA's path: md5 and sha256, taken while the part URL is fetched and sent."""
        digest = loop.run_in_executor(digests, part_digests, data)
        known = stored.get(number)
        if known is None:
            try:
                await put_part(number, data, None)
            finally:
                md5, sha256 = await digest
            counts["sent"] += 1
        else:  # stored before: send again only if it differs
            md5, sha256 = await digest
            if known.size == len(data) and known.etag == md5:
                counts["skipped"] += 1
            else:
                await put_part(number, data, None)
                counts["sent"] += 1
        return md5, sha256

    async def handle(item: tuple[int, memoryview, bytearray, Boundary | None]) -> None:
        number, data, buffer, end = item
        md5: str | None
        try:
            if verified_parts:
                md5, sha256 = await verified(number, data)
            else:
                md5, sha256 = await hashed(number, data)
            md5s[number], sha256s[number] = md5, sha256
        finally:
            pool.give(buffer)
        if on_part:
            on_part(PartDone(number, md5, sha256, end))
        if on_progress:
            on_progress(len(data))

    hashers = max(1, min(concurrency, os.cpu_count() or 1))
    try:
        handle_file = path.open("rb")
    except OSError as error:
        raise TransferFailed(f"Cannot read {path}: {error.strerror}.") from None
    # the pools shut down (waiting for a part being encrypted) before the file closes
    with (
        handle_file,
        ThreadPoolExecutor(1, thread_name_prefix="fs-encrypt") as producer,
        ThreadPoolExecutor(hashers, thread_name_prefix="fs-digest") as digests,
    ):
        if start is None:
            encryptor = PartEncryptor(handle_file, plan, session_key, header)
        else:
            encryptor = PartEncryptor(
                handle_file, plan, session_key, header, start.boundary, start.first_part
            )
        await run_bounded(produce, handle, concurrency, producer)
    numbers = list(range(1, plan.part_count + 1))
    if sorted(sha256s) != numbers:
        raise TransferFailed(f"Only {len(sha256s)} of {plan.part_count} parts were produced.")
    parts_sha256 = [sha256s[n] for n in numbers]
    if verified_parts:
        checksums = Checksums(encryptor.decrypted_sha256, None, None, parts_sha256)
    else:
        parts_md5 = [md5s[n] for n in numbers]
        if any(md5 is None for md5 in parts_md5):
            raise TransferFailed("The resume log has parts without md5 for an MD5 upload.")
        known_md5 = [md5 for md5 in parts_md5 if md5 is not None]
        checksums = Checksums(
            encryptor.decrypted_sha256, multipart_etag(known_md5), known_md5, parts_sha256
        )
    return TransferResult(checksums, counts["sent"], counts["skipped"], len(done), pool.created)
