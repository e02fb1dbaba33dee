"""Large files on the client: memory bounded in bytes, resumes that seek, the real maximum.

Unit level (no stack): the plan and the scheduler decide how many parts are in flight, the
encryptor goes on from a part boundary kept in the resume log, and a file above what one
object can hold is refused before anything is sent. The same resume over real HTTP is in
test_resume_e2e.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import http.server
import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

import connector.upload.encrypt as encrypt_module
from connector.api.ucs import StoredPart
from connector.cli import app
from connector.config import load_settings
from connector.errors import BadInput, ExitCode
from connector.transfer import in_flight
from connector.upload.batch import resume_point
from connector.upload.encrypt import PartEncryptor
from connector.upload.inputs import FileToUpload
from connector.upload.plan import (
    MAX_PLAIN_SIZE,
    MIN_PART_SIZE,
    UploadPlan,
    plan_upload,
    size_problem,
)
from connector.upload.resume import LOG_LINE_BYTES, PartDone, ResumeRecord, ResumeStore
from connector.upload.uploader import ResumePoint, upload_parts
from shared.crypt.c4gh import encrypted_size, new_session_key
from shared.crypt.resumable_sha256 import ResumableHashUnavailable
from shared.multipart import MAX_OBJECT_SIZE, MAX_PARTS, MIB
from tests.connector.helpers import make_keys

GIB = 1024 * MIB
HEADER = b"H" * 124


# ------------------------------------------------------------ memory in flight


def test_large_parts_mean_fewer_parts_in_flight() -> None:
    """Parts in flight = min(concurrency, max(1, budget // part size)), per file."""
    usual = plan_upload(10 * GIB, 64 * MIB)  # 64 MiB parts (aligned: 67,137,536 bytes)
    assert usual.parts_in_flight(8, 2 * GIB) == 8  # 8 x 64 MiB = 512 MiB: within
    largest = plan_upload(MAX_PLAIN_SIZE, 64 * MIB)  # grown to fit 10,000 parts
    assert largest.part_count <= MAX_PARTS and largest.part_size == 549_819_704
    assert largest.parts_in_flight(8, 2 * GIB) == 3  # not 8 x 550 MB = 4.4 GB
    assert largest.parts_in_flight(8, 1 * GIB) == 1
    assert largest.parts_in_flight(8, 1) == 1  # never none: one part is held whole
    assert largest.parts_in_flight(8, 64 * GIB) == 8  # concurrency still caps it
    tiny = plan_upload(1000, 64 * MIB)  # one small part: its buffer is the whole file
    assert tiny.buffer_size == encrypted_size(1000) and tiny.parts_in_flight(8, MIB) == 8
    # downloads hold one 1 MiB buffer per range, whatever the range size
    assert in_flight(8, 2 * GIB, MIB) == 8 and in_flight(8, 3 * MIB, MIB) == 3


def test_the_uploader_holds_no_more_parts_than_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(os.urandom(5 * MIN_PART_SIZE))
    plan = UploadPlan(path.stat().st_size, MIN_PART_SIZE)
    active, peak = [0], [0]

    async def put(number: int, data: memoryview, sha256: str | None = None) -> None:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        for _ in range(20):  # let the scheduler start whatever else it may
            await asyncio.sleep(0)
        active[0] -= 1

    budget = 2 * MIN_PART_SIZE + MIN_PART_SIZE // 2  # room for two parts, not three
    result = asyncio.run(
        upload_parts(path, plan, new_session_key(), HEADER, put, concurrency=8, max_memory=budget)
    )
    assert result.parts_sent == plan.part_count == 6
    assert result.buffers <= 2 and peak[0] <= 2
    assert result.buffers * plan.part_size <= budget


# ------------------------------------------------------------ the real maximum


def test_a_file_above_the_largest_object_is_refused_with_the_maximum() -> None:
    assert encrypted_size(MAX_PLAIN_SIZE) <= MAX_OBJECT_SIZE < encrypted_size(MAX_PLAIN_SIZE + 1)
    assert plan_upload(MAX_PLAIN_SIZE, MIN_PART_SIZE).part_count <= MAX_PARTS
    with pytest.raises(BadInput) as caught:
        plan_upload(MAX_PLAIN_SIZE + 1, 64 * MIB)
    message = caught.value.message
    assert "too large" in message and "5,497,558,138,880 bytes (5.000 TiB)" in message
    assert f"{MAX_PLAIN_SIZE:,} bytes (4.998 TiB)" in message


def test_too_many_parts_names_a_part_size_that_works() -> None:
    size = 100 * GIB
    problem = size_problem(size, MIN_PART_SIZE)
    assert problem is not None and "20,481 parts, more than the 10,000" in problem
    hinted = int(problem.split("at least ")[1].split(" bytes")[0].replace(",", ""))
    assert hinted % 65_564 == 0
    assert size_problem(size, hinted) is None  # the hint is enough
    assert size_problem(size, hinted - 65_564) is not None  # and not more than needed


class _CountingServer:
    """Counts every HTTP request: a refusal before anything is sent leaves it at zero."""

    def __init__(self) -> None:
        self.requests = 0
        counter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                counter.requests += 1
                self.send_error(500)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_cli_refuses_a_too_large_file_before_sending_anything(tmp_path: Path) -> None:
    big = tmp_path / "genome.bam"
    with big.open("wb") as handle:
        try:
            handle.truncate(MAX_PLAIN_SIZE + 1)  # sparse: no terabytes on disk
        except OSError as error:
            pytest.skip(f"this file system holds no sparse 5 TiB file ({error})")
    keys = make_keys(tmp_path / "keys")
    server = _CountingServer()
    env = {
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "FS_CONNECTOR_WPAT": "package:token",
        "FS_CONNECTOR_WKVS_URL": server.url,
        "FS_CONNECTOR_MY_PUBLIC_KEY_PATH": str(keys.public),
        "FS_CONNECTOR_MY_PRIVATE_KEY_PATH": str(keys.private),
    }
    try:
        result = CliRunner().invoke(app, ["upload", str(big)], env=env)
    finally:
        server.close()
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert "Nothing was uploaded" in result.stderr and "too large" in result.stderr
    assert "the largest file that can be uploaded has 5,495,210,331,588 bytes" in result.stderr
    assert "Traceback" not in result.output
    assert server.requests == 0


# ------------------------------------------------------------ resume from a boundary


def _parts(path: Path, plan: UploadPlan, key: bytes, **start) -> tuple[dict[int, bytes], dict]:
    """Every part of a (re)started encryption, and the boundary after each."""
    parts, ends = {}, {}
    with path.open("rb") as handle:
        encryptor = PartEncryptor(handle, plan, key, HEADER, **start)
        buffer = bytearray(plan.buffer_size)
        while (part := encryptor.next_part(buffer)) is not None:
            parts[part[0]] = bytes(part[1])
            ends[part[0]] = encryptor.boundary()
        ends["sha256"] = encryptor.decrypted_sha256
    return parts, ends


@pytest.mark.parametrize("size", [3 * MIN_PART_SIZE, 3 * MIN_PART_SIZE - 200, 2 * 65_536 * 80])
def test_encryption_goes_on_from_any_part_boundary_with_the_same_bytes(
    tmp_path: Path, size: int
) -> None:
    path = tmp_path / "file"
    path.write_bytes(os.urandom(size))
    plan = UploadPlan(size, MIN_PART_SIZE)
    key = new_session_key()
    whole, ends = _parts(path, plan, key)
    assert ends["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    for after in range(1, plan.part_count + 1):
        boundary = ends[after]
        assert len(boundary.carry) <= 124  # the header's shift, at most
        rest, rest_ends = _parts(path, plan, key, start=boundary, first_part=after + 1)
        assert rest == {n: whole[n] for n in range(after + 1, plan.part_count + 1)}
        assert rest_ends["sha256"] == ends["sha256"]


def test_without_a_savable_hash_state_no_boundary_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "file"
    path.write_bytes(os.urandom(2 * MIN_PART_SIZE))
    plan = UploadPlan(path.stat().st_size, MIN_PART_SIZE)
    key = new_session_key()
    resumable, _ = _parts(path, plan, key)

    class Unavailable:
        def __init__(self) -> None:
            raise ResumableHashUnavailable("no libcrypto here")

    monkeypatch.setattr(encrypt_module, "ResumableSha256", Unavailable)
    plain, ends = _parts(path, plan, key)
    assert plain == resumable  # the same bytes, only no boundary to resume from
    assert ends[1] is None and ends["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_resumed_upload_does_not_read_the_parts_before_its_start(tmp_path: Path) -> None:
    """The first parts are overwritten after the first run: had the resume read them, the
    checksums would differ (and the changed parts would be sent again)."""
    path = tmp_path / "file"
    path.write_bytes(os.urandom(4 * MIN_PART_SIZE))
    plan = UploadPlan(path.stat().st_size, MIN_PART_SIZE)
    key = new_session_key()
    sent: dict[int, bytes] = {}
    logged: list[PartDone] = []

    async def put(number: int, data: memoryview, sha256: str | None = None) -> None:
        sent[number] = bytes(data)

    first = asyncio.run(upload_parts(path, plan, key, HEADER, put, on_part=logged.append))
    done = sorted(logged, key=lambda p: p.number)
    assert [p.md5 for p in done] == first.checksums.encrypted_parts_md5
    with path.open("r+b") as handle:  # what lies before part 3 is now other bytes
        handle.write(bytes(2 * MIN_PART_SIZE - 200_000))
    sent.clear()
    second = asyncio.run(
        upload_parts(path, plan, key, HEADER, put, start=ResumePoint(done[:2]), concurrency=2)
    )
    assert sorted(sent) == [3, 4, 5]
    assert (second.parts_not_read, second.parts_skipped, second.parts_sent) == (2, 2, 3)
    assert second.checksums == first.checksums


def _record(path: Path, part_size: int) -> tuple[ResumeRecord, FileToUpload]:
    stat = path.stat()
    record = ResumeRecord(
        file_id="6f1c3a58-8a8e-4a3f-9a0e-2a6f5f0c1d2e",
        box_id="box",
        alias="a",
        storage_alias="s",
        path=str(path),
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        part_size=part_size,
        session_key=new_session_key(),
        header=HEADER,
        ctime_ns=stat.st_ctime_ns,
        inode=stat.st_ino,
        device=stat.st_dev,
    )
    item = FileToUpload(
        path, "a", stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev
    )
    return record, item


def test_the_resume_point_is_where_the_log_and_the_store_stop_agreeing(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(os.urandom(4 * MIN_PART_SIZE))
    plan = UploadPlan(path.stat().st_size, MIN_PART_SIZE)
    record, item = _record(path, plan.part_size)
    logged: list[PartDone] = []

    async def put(number: int, data: memoryview, sha256: str | None = None) -> None:
        pass

    asyncio.run(upload_parts(path, plan, record.session_key, HEADER, put, on_part=logged.append))
    log = {p.number: p for p in logged}
    stored = {n: StoredPart(n, plan.part_length(n), log[n].md5) for n in log}

    def first_part(logged_parts, stored_parts, file=item) -> int | None:
        point = resume_point(record, file, logged_parts, stored_parts)
        return None if point is None else point.first_part

    assert first_part(log, stored) == plan.part_count + 1  # all there: nothing to read
    assert first_part(log, {n: p for n, p in stored.items() if n != 3}) == 3  # S3 lacks 3
    assert first_part({n: p for n, p in log.items() if n != 2}, stored) == 2  # log lacks 2
    other = {**stored, 2: StoredPart(2, plan.part_length(2), "0" * 32)}  # another part 2
    assert first_part(log, other) == 2
    assert first_part(log, {}) is None  # nothing agrees: from the start
    touched = dataclasses.replace(item, mtime_ns=item.mtime_ns + 1)  # the file was touched
    assert first_part(log, stored, touched) is None  # read (and compare) everything
    # rewritten in place with its mtime put back (touch -r, rsync -t --inplace): the inode
    # change time moved, which no program can set back
    rewritten = dataclasses.replace(item, ctime_ns=item.ctime_ns + 1)
    assert first_part(log, stored, rewritten) is None
    replaced = dataclasses.replace(item, inode=item.inode + 1)  # another file, same name
    assert first_part(log, stored, replaced) is None
    older = dataclasses.replace(record, ctime_ns=None, inode=None, device=None)
    assert resume_point(older, item, log, stored) is None  # a record without them: read


def test_the_parts_log_survives_a_torn_line_and_stays_small(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(os.urandom(2 * MIN_PART_SIZE))
    plan = UploadPlan(path.stat().st_size, MIN_PART_SIZE)
    _, ends = _parts(path, plan, new_session_key())
    store = ResumeStore(tmp_path / "state")
    file_id = "6f1c3a58-8a8e-4a3f-9a0e-2a6f5f0c1d2e"
    parts = [PartDone(n, "a" * 32, "b" * 64, ends[n]) for n in (1, 2, 3)]
    with store.start_log(file_id, parts[:1]) as log:
        log.append(parts[1])
        log.append(parts[2])
    log_path = tmp_path / "state" / f"{file_id}.parts"
    assert oct(log_path.stat().st_mode & 0o777) == "0o600"
    text = log_path.read_text()
    log_path.write_text(text[: -len(parts[2].to_line()) // 2])  # a crash cut the last line
    assert store.parts(file_id) == {1: parts[0], 2: parts[1]}
    line = len(parts[1].to_line().encode())
    assert line <= LOG_LINE_BYTES  # at most about 500 bytes a part
    assert MAX_PARTS * line <= 5_000_000  # 10,000 parts: under 5 MB on local disk
    with store.start_log(file_id, parts[:1]):  # a resume keeps only the agreed prefix
        pass
    assert store.parts(file_id) == {1: parts[0]}
    store.delete(file_id)
    assert not log_path.exists()


def test_the_memory_budget_is_a_setting_and_the_help_says_how_it_works(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert load_settings({}, env).max_memory == 2 * GIB
    assert load_settings({}, {**env, "FS_CONNECTOR_MAX_MEMORY": "512MiB"}).max_memory == 512 * MIB
    assert load_settings({"max_memory": "1GiB"}, env).max_memory == GIB
    assert load_settings({}, env).max_wait is None  # scaled with each file's size
    with pytest.raises(BadInput, match="Invalid max_memory"):
        load_settings({}, {**env, "FS_CONNECTOR_MAX_MEMORY": "1KiB"})
    for command in ("upload", "download"):
        result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        text = " ".join(result.output.replace("│", " ").split())
        assert "--max-memory" in text
        assert "min(--concurrency, max(1, this / part size))" in text, text
