"""Upload a batch of files, one after the other, resuming what an interruption left open.

For each file the box listing decides: already complete → skip; open with a matching local
resume record → resume (only the parts S3 lacks are sent); open without one, or the file
changed size → delete that upload and start over; otherwise create a new upload.

A resume seeks to the first part that the parts log and S3 do not both hold, if the file
is unchanged (size and modification time): the parts before it are not read again. A
changed modification time makes it read (and compare) from the start, as before.

Every new upload asks our UCS for the wire extension (``part_checksum``: parts verified by
S3 against their SHA-256, no md5s; docs/checksums.md); a UCS that does not confirm it
(GHGA's) gets GHGA's md5s. The resume record keeps which path the upload is on.
"""

from __future__ import annotations

from connector.api.ucs import PART_CHECKSUM_SHA256, StoredPart, UploadClient, UploadInfo
from connector.api.wkvs import WellKnownValues
from connector.errors import ConnectorError, NotAuthorized, ServiceError, Unreachable
from connector.http import Http
from connector.keys import KeyPair
from connector.output import BatchResult, FileOutcome, human_size, report_outcome, state_words
from connector.progress import Reporter
from connector.upload.direct import DirectPut
from connector.upload.inputs import FileToUpload
from connector.upload.plan import UploadPlan, aligned_part_size, plan_upload
from connector.upload.resume import PartDone, ResumeRecord, ResumeStore
from connector.upload.uploader import PartPutter, ResumePoint, TransferResult, upload_parts
from shared.crypt.c4gh import make_header, new_session_key

COMPLETE_STATES = frozenset({"inbox", "interrogated", "registered"})
OPEN_STATE = "init"
ACTIVE_STATES = COMPLETE_STATES | {OPEN_STATE}


def resume_point(
    record: ResumeRecord,
    item: FileToUpload,
    logged: dict[int, PartDone],
    stored: dict[int, StoredPart],
) -> ResumePoint | None:
    """Where a resume goes on without reading what lies before: after the longest run of
    parts 1..n that the log and the object store agree on, if the file is the one the log
    describes (same size, modification and change time, inode); else None, and the
    resume reads the file from the start.

    Agree: the same length and, on GHGA's path, the same md5. On the wire extension's path
    a log line means S3 verified that sha256 before answering 200; where S3 lists the
    part's verified sha256 (AWS) it must be the same, where it does not (SeaweedFS, moto)
    the line and the length are the evidence (and IRS checks every Crypt4GH MAC and the
    plaintext SHA-256 later)."""
    if item.identity != record.identity:
        return None
    plan = UploadPlan(item.size, record.part_size)
    done: list[PartDone] = []
    for number in range(1, plan.part_count + 1):
        part, held = logged.get(number), stored.get(number)
        if part is None or part.end is None or held is None:
            break
        if held.size != plan.part_length(number):
            break
        if record.part_checksum == PART_CHECKSUM_SHA256:
            if held.checksum_sha256 not in (None, part.sha256):
                break
        elif part.md5 is None or held.etag != part.md5:
            break
        done.append(part)
    return ResumePoint(done) if done else None


def by_alias(infos: list[UploadInfo]) -> dict[str, UploadInfo]:
    """One upload per alias: the active one (at most one holds an alias), else the latest
    listed (a cancelled or rejected one, which leaves the alias free)."""
    chosen: dict[str, UploadInfo] = {}
    for info in infos:
        current = chosen.get(info.alias)
        if current is None or current.state not in ACTIVE_STATES:
            chosen[info.alias] = info
    return chosen


class BatchUploader:
    def __init__(
        self,
        http: Http,
        ucs: UploadClient,
        values: WellKnownValues,
        keys: KeyPair,
        store: ResumeStore,
        reporter: Reporter,
        box_id: str,
        part_size: int,
        concurrency: int,
        max_memory: int,
    ) -> None:
        self.http, self.ucs, self.values, self.keys = http, ucs, values, keys
        self.store, self.reporter, self.box_id = store, reporter, box_id
        self.part_size, self.concurrency, self.max_memory = part_size, concurrency, max_memory

    async def run(self, files: list[FileToUpload]) -> BatchResult:
        self.direct = DirectPut(self.http.client, self.http.policy, self.concurrency)
        try:
            return await self._run(files)
        finally:
            self.direct.close()

    async def _run(self, files: list[FileToUpload]) -> BatchResult:
        listing = by_alias(await self.ucs.list_uploads())
        result = BatchResult([])
        with self.reporter.progress():
            for index, item in enumerate(files):
                try:
                    outcome = await self.upload(item, listing.get(item.alias))
                except ConnectorError as error:
                    outcome = FileOutcome(item.alias, "failed", error.message)
                    if isinstance(error, NotAuthorized | Unreachable) or (
                        isinstance(error, ServiceError) and error.status == 507
                    ):
                        result.fatal = error  # the rest would fail the same way
                result.outcomes.append(outcome)
                if result.fatal is not None:
                    result.outcomes += [
                        FileOutcome(rest.alias, "not attempted") for rest in files[index + 1 :]
                    ]
                    break
                report_outcome(outcome, self.reporter)
        return result

    async def upload(self, item: FileToUpload, existing: UploadInfo | None) -> FileOutcome:
        for attempt in range(2):
            outcome = await self._reconcile(item, existing)
            if outcome is not None:
                return outcome
            try:
                return await self._fresh(item)
            except ServiceError as error:
                if error.exception_id != "fileUploadAlreadyExists" or attempt:
                    raise
            # created meanwhile (e.g. a create whose answer got lost): look again
            existing = by_alias(await self.ucs.list_uploads()).get(item.alias)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _reconcile(self, item: FileToUpload, existing: UploadInfo | None):
        """Skip, resume or clear away what the box already has under this alias."""
        if existing is None:
            return None
        if existing.state in COMPLETE_STATES:
            if existing.decrypted_size not in (None, item.size):
                return FileOutcome(
                    item.alias,
                    "failed",
                    f"the box already holds another file ({existing.decrypted_size} bytes, "
                    f"{state_words(existing)}) under this alias; delete it with "
                    f"'fs-connector delete --file-id {existing.id}' or choose another alias",
                    existing.id,
                )
            return FileOutcome(
                item.alias, "skipped", f"already in the box: {state_words(existing)}", existing.id
            )
        if existing.state != OPEN_STATE:  # rejected or cancelled before: upload anew
            self.store.delete(existing.id)  # e.g. an open upload the archive cleaned up
            return None
        record = self.store.load(existing.id)
        problem = self._stale(record, existing, item)
        if problem is None:
            try:
                part_size, stored = await self.ucs.stored_parts(existing.id)
            except ServiceError as error:  # e.g. the storage lost the multipart upload
                part_size, stored, problem = None, [], error.message
            if part_size == record.part_size:
                parts = {p.part_number: p for p in stored}
                return await self._transfer(item, record, parts, resumed=True)
            problem = problem or "the upload's part size differs from the local record"
        self.reporter.warn(
            f"{item.alias}: an unfinished upload exists but cannot be resumed ({problem}); "
            "deleting it and starting over."
        )
        await self.ucs.delete(existing.id)
        self.store.delete(existing.id)
        return None

    def _stale(
        self, record: ResumeRecord | None, existing: UploadInfo, item: FileToUpload
    ) -> str | None:
        if record is None:
            return "there is no local resume record for it"
        if record.box_id != self.box_id or record.alias != item.alias:
            return "the local record belongs to another box or alias"
        if record.size != item.size or existing.decrypted_size not in (None, item.size):
            return "the file changed size"
        if existing.part_size not in (None, record.part_size):
            return "the upload's part size differs from the local record"
        return None

    async def _fresh(self, item: FileToUpload) -> FileOutcome:
        plan = plan_upload(item.size, self.part_size)
        if plan.part_size > aligned_part_size(self.part_size, 0):
            self.reporter.info(
                f"{item.alias}: parts of {human_size(plan.part_size)} (more than --part-size) "
                f"so that the file fits in {plan.part_count} parts"
            )
        created = await self.ucs.create(
            item.alias,
            plan.decrypted_size,
            plan.encrypted_size,
            plan.part_size,
            part_checksum=PART_CHECKSUM_SHA256,
        )
        archive_key = self.values.archive_key(created.storage_alias)
        session_key = new_session_key()
        record = ResumeRecord(
            file_id=created.file_id,
            box_id=self.box_id,
            alias=item.alias,
            storage_alias=created.storage_alias,
            path=str(item.path.resolve()),
            size=item.size,
            mtime_ns=item.mtime_ns,
            part_size=plan.part_size,
            session_key=session_key,
            header=make_header(session_key, self.keys.private_key, archive_key),
            ctime_ns=item.ctime_ns,
            inode=item.inode,
            device=item.device,
            part_checksum=created.part_checksum,
        )
        self.store.save(record)  # before the first part: an interruption can resume
        return await self._transfer(item, record, {}, resumed=False)

    async def _transfer(
        self,
        item: FileToUpload,
        record: ResumeRecord,
        stored: dict[int, StoredPart],
        resumed: bool,
    ) -> FileOutcome:
        plan = UploadPlan(item.size, record.part_size)
        start = None
        logged = self.store.parts(record.file_id) if resumed else {}
        if resumed:
            start = resume_point(record, item, logged, stored)
            where = (
                f"; going on at part {start.first_part} (the parts before are not read again)"
                if start
                else ""
            )
            self.reporter.info(
                f"{item.alias}: resuming; {len(stored)} of {plan.part_count} part(s) are "
                f"already uploaded{where}"
            )
        in_flight = plan.parts_in_flight(self.concurrency, self.max_memory)
        if in_flight < self.concurrency:
            self.reporter.info(
                f"{item.alias}: {in_flight} part(s) of {human_size(plan.part_size)} in flight "
                f"at once, within --max-memory {human_size(self.max_memory)}"
            )
        advance = self.reporter.bar(item.alias, plan.encrypted_size)
        with self.store.start_log(record.file_id, start.done if start else []) as log:
            result = await upload_parts(
                item.path,
                plan,
                record.session_key,
                record.header,
                PartPutter(self.direct, self.ucs, record.file_id),
                stored=stored,
                logged=logged,
                verified_parts=record.part_checksum == PART_CHECKSUM_SHA256,
                concurrency=self.concurrency,
                max_memory=self.max_memory,
                start=start,
                on_part=log.append,
                on_progress=advance,
            )
        await self._close(item, record, result)
        self.store.delete(record.file_id)
        status = "resumed" if resumed else "uploaded"
        detail = f"file id {record.file_id}"
        if resumed:
            detail += (
                f"; {result.parts_skipped} part(s) were already there "
                f"({result.parts_not_read} not read again), {result.parts_sent} sent"
            )
        return FileOutcome(item.alias, status, detail, record.file_id)

    async def _close(self, item: FileToUpload, record: ResumeRecord, result: TransferResult):
        try:
            await self.ucs.close(record.file_id, result.checksums)
        except ServiceError as error:
            if error.status == 409:  # a close whose answer got lost, replayed
                infos = await self.ucs.list_uploads()
                if any(i.id == record.file_id and i.state in COMPLETE_STATES for i in infos):
                    return
            if error.status == 400:  # the archive disagrees with what was sent: start over
                await self.ucs.delete(record.file_id)
                self.store.delete(record.file_id)
                raise ServiceError(
                    f"the archive rejected the upload ({error.message}); it was removed, "
                    "run the command again to upload the file anew",
                    error.status,
                    error.exception_id,
                ) from None
            raise
