"""Upload one file's parts in parallel: encrypt in order, hash and PUT many at once.

Encryption (and the plaintext sha256) runs in one worker thread, part hashing (md5 and
sha256) in a small pool, PUTs on the event loop; at most ``concurrency`` parts are in
memory. Parts the object store already holds with the same md5 (after an interruption)
are hashed but not sent again.
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
from connector.upload.encrypt import PartEncryptor
from connector.upload.plan import UploadPlan
from shared.crypt.checksums import multipart_etag, part_digests

PutPart = Callable[[int, memoryview], Awaitable[None]]


@dataclass(frozen=True)
class TransferResult:
    checksums: Checksums
    parts_sent: int
    parts_skipped: int


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
    on_progress: Callable[[int], None] | None = None,
) -> TransferResult:
    """Encrypt ``path`` and upload every part the store does not already hold."""
    stored = stored or {}
    loop = asyncio.get_running_loop()
    md5s: dict[int, str] = {}
    sha256s: dict[int, str] = {}
    counts = {"sent": 0, "skipped": 0}
    pool = BufferPool(min(plan.part_size, plan.encrypted_size))

    def produce() -> tuple[int, memoryview, bytearray] | None:
        buffer = pool.take()
        part = encryptor.next_part(buffer)
        if part is None:
            pool.give(buffer)
            return None
        return part[0], part[1], buffer

    async def handle(item: tuple[int, memoryview, bytearray]) -> None:
        number, data, buffer = item
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
        encryptor = PartEncryptor(handle_file, plan, session_key, header)
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
    return TransferResult(checksums, counts["sent"], counts["skipped"])
