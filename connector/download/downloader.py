"""Download one file: envelope, missing ranges in parallel, check while they arrive, rename.

Only what the user asked for is written. Without ``decrypt``, or with ``keep_encrypted``,
the content goes into ``<name>.c4gh.part`` (the envelope first), ranges by position; a
verifier thread follows the contiguous prefix on disk: it decrypts each segment (AEAD)
and hashes the plaintext, and with ``decrypt`` writes the plaintext to ``<name>.part``.
With ``decrypt`` alone, each range is decrypted as it arrives and only the plaintext is
written (``connector.download.plain``). Only when every byte is there and the hash equals
the archive's sha-256 are the files renamed to their final names; a mismatch leaves
``<name>.c4gh.corrupt`` (or nothing, when no ciphertext was kept) and no plaintext.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from connector.api.dcs import DownloadClient, DrsObject
from connector.download.direct import RangeConnections
from connector.download.fetch import CHUNK, ContentUrl, RangeFetcher, fetch_ranges
from connector.download.partial import PartialFile
from connector.download.paths import DownloadPaths, place
from connector.download.plain import PlainPartialFile, aligned_range_size, hash_plaintext
from connector.download.ranges import Aborted, Intervals, Written, plan_ranges
from connector.download.verify import (
    BackgroundWriter,
    SessionDecryptor,
    decrypt_stream,
    file_reader,
)
from connector.errors import ConnectorError, TransferFailed
from connector.files import discard_own, open_own, open_private
from connector.http import RetryPolicy
from connector.keys import KeyPair
from connector.output import FileOutcome, human_size
from connector.progress import Reporter
from connector.transfer import BufferPool, in_flight, leaf_errors
from shared.crypt.c4gh import CIPHER_SEGMENT_SIZE, HeaderError, SegmentAuthError, parse_header

CHECKPOINT_INTERVAL = 1.0  # seconds between two records of the progress


@dataclass(frozen=True)
class DownloadOptions:
    output_dir: Path
    range_size: int
    concurrency: int
    verify: bool = True
    decrypt: bool = False
    max_memory: int | None = None  # bytes of buffers for ranges in flight (CHUNK each)
    keep_encrypted: bool = False  # with decrypt: keep the .c4gh as well
    overwrite: bool = False  # final names may replace existing files

    @property
    def plain_only(self) -> bool:
        """The plaintext is the only output: no ciphertext is written."""
        return self.decrypt and not self.keep_encrypted

    def ranges_in_flight(self) -> int:
        """Ranges fetched at once: each holds one CHUNK buffer, whatever the range size."""
        if self.max_memory is None:
            return self.concurrency
        return in_flight(self.concurrency, self.max_memory, CHUNK)


class Checkpoints:
    """Records progress in the background, at most once per CHECKPOINT_INTERVAL: each
    record costs an fsync, and a rerun loses at most that much of the work."""

    def __init__(self, partial: PartialFile, written: Written, pool: ThreadPoolExecutor):
        self._partial, self._written, self._pool = partial, written, pool
        self._wake = asyncio.Event()

    def note(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            await loop.run_in_executor(self._pool, self._partial.checkpoint, self._written.snapshot)
            await asyncio.sleep(CHECKPOINT_INTERVAL)


class FileDownloader:
    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        dcs: DownloadClient,
        keys: KeyPair,
        options: DownloadOptions,
        reporter: Reporter,
    ) -> None:
        self._client, self._policy, self._dcs = client, policy, dcs
        self._keys, self._options, self._reporter = keys, options, reporter
        self._pool = BufferPool(CHUNK)

    async def download(
        self,
        name: str,
        paths: DownloadPaths,
        drs: DrsObject,
        renew: Callable[[], Awaitable[DrsObject]],
        envelope_request: Awaitable[bytes] | None = None,
    ) -> FileOutcome:
        """Download one staged file (``envelope_request``: its envelope, already asked for)."""
        envelope = await (envelope_request or self._dcs.envelope(drs.file_id))
        decryptor = None
        options = self._options
        if options.verify or options.decrypt:
            try:
                decryptor = SessionDecryptor(parse_header(envelope, self._keys.private_key)[0])
            except HeaderError:
                raise TransferFailed(
                    "the archive's envelope for this file cannot be opened with your private key"
                ) from None
        identity = (paths, drs.file_id, drs.size, envelope, drs.sha256)
        if options.plain_only:
            assert decryptor is not None
            try:
                partial: PartialFile = PlainPartialFile(*identity, decryptor=decryptor)
            except SegmentAuthError as error:
                raise TransferFailed(f"the download is damaged: {error}") from None
        else:
            partial = PartialFile(*identity)
        done = partial.open()
        if partial.restart_reason:
            self._reporter.warn(f"{name}: {partial.restart_reason}; starting over.")
        resumed = done.covered()
        try:
            sha256 = await self._transfer(name, partial, drs, renew, decryptor, Written(done))
        except SegmentAuthError as error:
            self._corrupt(partial, f"its content does not decrypt ({error})")
        except BaseException as error:  # unverified plaintext is not left behind...
            if not options.plain_only:  # ...unless it is what a rerun resumes from
                discard_own(paths.plain_partial)
            if isinstance(error, OSError):
                raise TransferFailed(f"cannot write to {paths.partial.parent}: {error}") from None
            raise
        finally:
            partial.close()
        if sha256 is not None and drs.sha256 is not None and sha256 != drs.sha256:
            self._corrupt(
                partial,
                f"its content does not match the archive's checksum (sha-256 {sha256[:16]}... "
                f"instead of {drs.sha256[:16]}...)",
            )
        try:
            partial.finish(options.overwrite)
            if options.decrypt and not options.plain_only:
                place(paths.plain_partial, paths.plain, options.overwrite)
        except FileExistsError as error:
            raise TransferFailed(
                f"another file took its name meanwhile ({error}); --overwrite replaces it"
            ) from None
        except OSError as error:
            raise TransferFailed(f"cannot name the finished files: {error}") from None
        detail = self._detail(drs, paths, resumed)
        return FileOutcome(name, "resumed" if resumed else "downloaded", detail, drs.file_id)

    def _detail(self, drs: DrsObject, paths: DownloadPaths, resumed: int) -> str:
        parts = [] if self._options.plain_only else [f"saved as {paths.encrypted}"]
        if resumed:
            parts.append(f"{human_size(resumed)} of {human_size(drs.size)} were already there")
        if self._options.decrypt:
            parts.append(f"decrypted to {paths.plain}")
        if not (self._options.verify or self._options.decrypt):
            parts.append("not verified")
        elif drs.sha256:
            parts.append("sha-256 verified")
        else:
            parts.append("decrypts, but the archive gave no checksum to compare")
        return "; ".join(parts)

    async def _transfer(
        self,
        name: str,
        partial: PartialFile,
        drs: DrsObject,
        renew: Callable[[], Awaitable[DrsObject]],
        decryptor: SessionDecryptor | None,
        written: Written,
    ) -> str | None:
        """Fetch the missing ranges while the verifier follows; its sha256 (or None).

        Raises the first real failure (SegmentAuthError if the data does not decrypt);
        every worker thread has stopped when it returns or raises.
        """
        loop = asyncio.get_running_loop()
        advance = self._reporter.bar(name, drs.size)
        advance(written.covered())
        plain_only = isinstance(partial, PlainPartialFile)
        range_size = self._options.range_size
        if plain_only:  # each range decrypts on its own: whole segments
            range_size = aligned_range_size(range_size)
        ranges = plan_ranges(Intervals(written.snapshot()), drs.size, range_size)
        in_flight = self._options.ranges_in_flight()
        verify: asyncio.Future | None = None
        connections = RangeConnections.like(self._client)
        try:
            with (
                ThreadPoolExecutor(in_flight, thread_name_prefix="fs-range") as range_pool,
                ThreadPoolExecutor(1, thread_name_prefix="fs-record") as record_pool,
                ThreadPoolExecutor(1, thread_name_prefix="fs-verify") as verify_pool,
            ):
                checkpoints = Checkpoints(partial, written, record_pool)

                def write(offset: int, data: memoryview) -> None:  # on a range thread
                    partial.write_at(offset, data)
                    written.add(offset, offset + len(data))
                    advance(len(data))
                    loop.call_soon_threadsafe(checkpoints.note)

                fetcher = RangeFetcher(
                    connections,
                    range_pool,
                    self._policy,
                    ContentUrl(drs, renew),
                    write,
                    self._pool,
                    granule=CIPHER_SEGMENT_SIZE if plain_only else 1,
                )

                if isinstance(partial, PlainPartialFile):
                    verify = loop.run_in_executor(verify_pool, hash_plaintext, partial, written)
                elif decryptor is not None:
                    verify = loop.run_in_executor(
                        verify_pool, self._verify, partial, written, decryptor, drs.size
                    )
                recorder = asyncio.create_task(checkpoints.run())
                try:
                    async with asyncio.TaskGroup() as group:
                        fetching = fetch_ranges(ranges, fetcher.fetch, in_flight)
                        group.create_task(_aborting(fetching, written))
                        if verify is not None:
                            group.create_task(_aborting(verify, written))
                except BaseExceptionGroup as errors:
                    raise _telling(errors) from None
                finally:
                    written.abort()  # the verifier stops waiting, whatever happened
                    fetcher.stop()  # reads still in flight end, so their threads can be joined
                    recorder.cancel()
                    with contextlib.suppress(BaseException):
                        await recorder
        except BaseException:  # every thread has stopped: record what is on disk, for a rerun
            partial.checkpoint(written.snapshot)
            raise
        return verify.result() if verify is not None else None

    def _verify(
        self, partial: PartialFile, written: Written, decryptor: SessionDecryptor, size: int
    ) -> str:
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(os.fdopen(open_own(partial.path), "rb", buffering=0))
            writer = None
            if self._options.decrypt:
                with contextlib.suppress(FileNotFoundError):  # a plaintext-only download's
                    partial.paths.plain_record.unlink()
                plain = stack.enter_context(open_private(partial.paths.plain_partial))
                writer = BackgroundWriter(plain)
                stack.callback(writer.close)
            return decrypt_stream(
                file_reader(source, len(partial.envelope)),
                size,
                decryptor,
                sink=writer,
                wait=written.wait_for_prefix,
                buffers=writer.depth + 1 if writer else 1,
            )

    def _corrupt(self, partial: PartialFile, why: str) -> None:
        partial.discard_as_corrupt()
        discard_own(partial.paths.plain_partial)
        if isinstance(partial, PlainPartialFile):
            raise TransferFailed(
                f"the download is damaged: {why}; nothing of it was kept, run the command "
                "again to download it anew"
            )
        raise TransferFailed(
            f"the download is damaged: {why}; it was kept as {partial.paths.corrupt.name} "
            "(not a usable file), run the command again to download it anew"
        )


async def _aborting(work: Awaitable, written: Written) -> None:
    """Run ``work``; if it fails, the other side stops waiting for bytes."""
    try:
        await work
    except BaseException:
        written.abort()
        raise


def _telling(group: BaseExceptionGroup) -> BaseException:
    """The error that explains a failed download (not the ones it caused)."""
    flat = [e for e in leaf_errors(group) if not isinstance(e, Aborted | asyncio.CancelledError)]
    for kind in (SegmentAuthError, ConnectorError, Exception):
        for error in flat:
            if isinstance(error, kind):
                return error
    return flat[0] if flat else asyncio.CancelledError()
