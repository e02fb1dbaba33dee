"""What each command does, once the CLI has gathered settings, keys and the token.

A session opens one HTTP client, reads the well-known values and the work package, and
offers the UCS client for the package's upload box (or, for downloads, the DCS client).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from connector.api.dcs import DownloadClient
from connector.api.ucs import UploadClient, UploadInfo
from connector.api.wkvs import WellKnownValues, fetch_values
from connector.api.wps import AccessToken, WorkPackageClient
from connector.config import Settings
from connector.download.batch import BatchDownloader
from connector.download.downloader import DownloadOptions, FileDownloader
from connector.errors import BadInput, ServiceError
from connector.http import Http, RetryPolicy, make_client
from connector.keys import KeyPair
from connector.output import BatchResult
from connector.progress import Reporter
from connector.upload.batch import BatchUploader
from connector.upload.inputs import FileToUpload
from connector.upload.resume import ResumeStore


@dataclass(frozen=True)
class UploadSession:
    http: Http
    values: WellKnownValues
    ucs: UploadClient
    box_id: str  # the file upload box (UCS's id)


@asynccontextmanager
async def _connected(settings: Settings) -> AsyncIterator[tuple[Http, WellKnownValues]]:
    """One HTTP client for the whole command, and the well-known values read through it."""
    wkvs_url = settings.require_wkvs_url()
    client = make_client(settings.timeout, settings.connect_timeout, settings.concurrency + 4)
    async with client:
        http = Http(client, RetryPolicy(retries=settings.retries, backoff_max=settings.backoff_max))
        yield http, await fetch_values(http, wkvs_url)


@asynccontextmanager
async def upload_session(
    settings: Settings, keys: KeyPair, access: AccessToken
) -> AsyncIterator[UploadSession]:
    async with _connected(settings) as (http, values):
        wps = WorkPackageClient(http, values.wps_api_url, access, keys)
        _, box_id = await wps.upload_box_ids()
        ucs = UploadClient(http, values.ucs_api_url, wps, settings.part_url_interval)
        yield UploadSession(http, values, ucs, box_id)


async def upload(
    settings: Settings,
    keys: KeyPair,
    access: AccessToken,
    files: list[FileToUpload],
    reporter: Reporter,
) -> BatchResult:
    async with upload_session(settings, keys, access) as session:
        uploader = BatchUploader(
            session.http,
            session.ucs,
            session.values,
            keys,
            ResumeStore(settings.resume_dir),
            reporter,
            session.box_id,
            settings.part_size,
            settings.concurrency,
            settings.max_memory,
        )
        return await uploader.run(files)


async def list_uploads(settings: Settings, keys: KeyPair, access: AccessToken) -> list[UploadInfo]:
    async with upload_session(settings, keys, access) as session:
        return await session.ucs.list_uploads()


async def delete_upload(
    settings: Settings, keys: KeyPair, access: AccessToken, file_id: str
) -> None:
    async with upload_session(settings, keys, access) as session:
        await session.ucs.delete(file_id)
    ResumeStore(settings.resume_dir).delete(file_id)


def _wanted(files: dict[str, str], file_ids: list[str]) -> dict[str, str]:
    """The package's files, or those of them the user named (BadInput for others)."""
    if not file_ids:
        if not files:
            raise ServiceError("The work package names no files to download.")
        return files
    unknown = [f for f in dict.fromkeys(file_ids) if f not in files]
    if unknown:
        raise BadInput(
            f"Not in this work package: {', '.join(unknown)}. It holds: "
            f"{', '.join(files) or 'no files'}."
        )
    return {f: files[f] for f in dict.fromkeys(file_ids)}


async def download(
    settings: Settings,
    keys: KeyPair,
    access: AccessToken,
    options: DownloadOptions,
    file_ids: list[str],
    overwrite: bool,
    reporter: Reporter,
) -> BatchResult:
    async with _connected(settings) as (http, values):
        if not values.dcs_api_url:
            raise ServiceError("The archive publishes no download service (dcs_api_url).")
        wps = WorkPackageClient(http, values.wps_api_url, access, keys)
        wanted = _wanted(await wps.download_files(), file_ids)
        dcs = DownloadClient(http, values.dcs_api_url, wps)
        files = FileDownloader(http.client, http.policy, dcs, keys, options, reporter)
        batch = BatchDownloader(
            dcs,
            files,
            reporter,
            output_dir=options.output_dir,
            decrypt=options.decrypt,
            overwrite=overwrite,
            max_wait=settings.max_wait,
            keep_encrypted=options.keep_encrypted,
        )
        return await batch.run(wanted)
