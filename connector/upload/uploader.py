"""Upload one file's parts in parallel: encrypt in order, hash and PUT many at once.

Encryption (and the plaintext sha256) runs in one worker thread, part hashing (md5 and
sha256) in a small pool, PUTs on the event loop; at most ``concurrency`` parts are in
memory, fewer if ``max_memory`` bytes would not hold that many (``UploadPlan.
parts_in_flight``). A resume (``ResumePoint``) starts at its first part: the parts before
it are taken from the resume log, never read. Parts after it that the object store
already holds with the same md5 are hashed but not sent again.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from connector.api.ucs import Checksums, StoredPart, UploadClient
from connector.errors import TransferFailed, Unreachable
from connector.http import RETRY_STATUSES, Http
from connector.transfer import STORAGE, BufferPool, run_bounded, storage_detail
from connector.upload.encrypt import Boundary, PartEncryptor
from connector.upload.plan import UploadPlan
from connector.upload.resume import PartDone
from shared.crypt.checksums import multipart_etag, part_digests

PutPart = Callable[[int, memoryview], Awaitable[None]]


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


class PartBody:
    """A part's bytes as a body httpx can send more than once (on retries) without
    copying the part: it yields slices of the buffer; Content-Length is set by the
    caller, so no chunked encoding is used (S3 needs the length)."""

    CHUNK = 1024 * 1024

    def __init__(self, data: memoryview) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    async def __aiter__(self) -> AsyncIterator[memoryview]:
        for start in range(0, len(self.data), self.CHUNK):
            yield self.data[start : start + self.CHUNK]


class PartPutter:
    """PUTs parts to presigned URLs; a 403 (URL expired) gets one fresh URL."""

    def __init__(self, http: Http, ucs: UploadClient, file_id: str) -> None:
        self._http = http
        self._ucs = ucs
        self._file_id = file_id

    async def __call__(self, number: int, data: memoryview) -> None:
        body = PartBody(data)
        for attempt in range(2):
            url = await self._ucs.part_url(self._file_id, number)
            response = await self._http.request(
                "PUT",
                url,
                service=STORAGE,
                content=body,
                headers={"Content-Length": str(len(body))},
                request_id=False,
            )
            if response.status_code == 200:
                return
            if response.status_code == 403 and attempt == 0:
                continue
            break
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
    concurrency: int = 8,
    max_memory: int | None = None,
    start: ResumePoint | None = None,
    on_part: Callable[[PartDone], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> TransferResult:
    """Encrypt ``path`` (from ``start`` on) and upload every part the store does not
    already hold; ``on_part`` hears of each part once the store has it."""
    stored = stored or {}
    loop = asyncio.get_running_loop()
    done = start.done if start else []
    md5s: dict[int, str] = {p.number: p.md5 for p in done}
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

    async def handle(item: tuple[int, memoryview, bytearray, Boundary | None]) -> None:
        number, data, buffer, end = item
        try:
            digest = loop.run_in_executor(digests, part_digests, data)
            known = stored.get(number)
            if known is None:  # hash while the part URL is fetched and the part sent
                try:
                    await put_part(number, data)
                finally:
                    md5, sha256 = await digest
                counts["sent"] += 1
            else:  # stored before: send again only if it differs
                md5, sha256 = await digest
                if known.size == len(data) and known.etag == md5:
                    counts["skipped"] += 1
                else:
                    await put_part(number, data)
                    counts["sent"] += 1
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
    if sorted(md5s) != numbers:
        raise TransferFailed(f"Only {len(md5s)} of {plan.part_count} parts were produced.")
    parts_md5 = [md5s[n] for n in numbers]
    checksums = Checksums(
        decrypted_sha256=encryptor.decrypted_sha256,
        encrypted_md5=multipart_etag(parts_md5),
        encrypted_parts_md5=parts_md5,
        encrypted_parts_sha256=[sha256s[n] for n in numbers],
    )
    return TransferResult(checksums, counts["sent"], counts["skipped"], len(done), pool.created)
