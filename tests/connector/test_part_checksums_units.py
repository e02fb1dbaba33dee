"""The connector's wire-extension path without a stack: what it hashes, sends and skips,
what its parts log keeps, and where a resume goes on (docs/checksums.md)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from connector.api.ucs import Checksums, StoredPart
from connector.upload.batch import resume_point
from connector.upload.inputs import FileToUpload
from connector.upload.plan import MIN_PART_SIZE, UploadPlan
from connector.upload.resume import PartDone, ResumeRecord
from connector.upload.uploader import upload_parts
from shared.crypt.c4gh import new_session_key

HEADER = b"H" * 124


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324


def _file(tmp_path: Path) -> tuple[Path, UploadPlan]:
    path = tmp_path / "file"
    path.write_bytes(os.urandom(5 * MIN_PART_SIZE // 2))  # three parts
    return path, UploadPlan(path.stat().st_size, MIN_PART_SIZE)


def test_the_extension_path_sends_each_sha256_and_declares_no_md5s(tmp_path: Path) -> None:
    path, plan = _file(tmp_path)
    key = new_session_key()
    sent: dict[int, tuple[bytes, str | None]] = {}

    async def put(number: int, data: memoryview, sha256: str | None = None) -> None:
        sent[number] = (bytes(data), sha256)

    result = asyncio.run(upload_parts(path, plan, key, HEADER, put, verified_parts=True))
    assert sorted(sent) == [1, 2, 3]
    for body, sha256 in sent.values():
        assert sha256 == hashlib.sha256(body).hexdigest()  # what the URL signs
    assert result.checksums.encrypted_md5 is None
    assert result.checksums.encrypted_parts_md5 is None
    assert result.checksums.encrypted_parts_sha256 == [sent[n][1] for n in (1, 2, 3)]
    assert set(result.checksums.body()) == {"decrypted_sha256", "encrypted_parts_sha256"}
    # GHGA's path, same file and key: the same bytes, and md5s besides
    ghga = asyncio.run(upload_parts(path, plan, key, HEADER, put))
    assert ghga.checksums.encrypted_parts_sha256 == result.checksums.encrypted_parts_sha256
    assert ghga.checksums.encrypted_parts_md5 == [_md5(sent[n][0]) for n in (1, 2, 3)]


def test_a_stored_part_is_trusted_by_the_best_evidence_there_is(tmp_path: Path) -> None:
    """S3's reported sha256 (AWS), else the old log's sha256, else S3's ETag (md5): a
    part that does not match its evidence is sent again."""
    path, plan = _file(tmp_path)
    key = new_session_key()
    bodies: dict[int, bytes] = {}

    async def record(number: int, data: memoryview, sha256: str | None = None) -> None:
        bodies[number] = bytes(data)

    asyncio.run(upload_parts(path, plan, key, HEADER, record, verified_parts=True))
    sha = {n: hashlib.sha256(b).hexdigest() for n, b in bodies.items()}

    def run(stored: dict[int, StoredPart], logged: dict[int, PartDone]) -> list[int]:
        sent: list[int] = []

        async def put(number: int, data: memoryview, sha256: str | None = None) -> None:
            sent.append(number)

        asyncio.run(
            upload_parts(
                path, plan, key, HEADER, put, stored=stored, logged=logged, verified_parts=True
            )
        )
        return sorted(sent)

    size = {n: len(b) for n, b in bodies.items()}
    reported = {n: StoredPart(n, size[n], "0" * 32, sha[n]) for n in (1, 2, 3)}
    assert run(reported, {}) == []  # the ETag is not looked at when S3 reports the sha256
    reported[2] = StoredPart(2, size[2], _md5(bodies[2]), "1" * 64)
    assert run(reported, {}) == [2]
    unreported = {n: StoredPart(n, size[n], "0" * 32) for n in (1, 2, 3)}
    logged = {n: PartDone(n, None, sha[n], None) for n in (1, 2)}
    logged[2] = PartDone(2, None, "2" * 64, None)  # the log saw other bytes: the file changed
    assert run(unreported, logged) == [2, 3]  # 3: neither log nor matching md5
    unreported[3] = StoredPart(3, size[3], _md5(bodies[3]))  # stored just before a kill
    assert run(unreported, logged) == [2]
    unreported[1] = StoredPart(1, size[1] - 1, "0" * 32)  # the wrong size: always again
    assert run(unreported, logged) == [1, 2]


def test_parts_log_lines_without_md5_round_trip_and_old_lines_still_parse() -> None:
    part = PartDone(3, None, "a" * 64, None)
    line = part.to_line()
    assert "md5" not in line and PartDone.from_line(line) == part
    ghga = PartDone(3, "b" * 32, "a" * 64, None)
    assert PartDone.from_line(ghga.to_line()) == ghga
    with pytest.raises(ValueError):
        PartDone.from_line('{"v":1,"n":3,"md5":"short","sha256":"' + "a" * 64 + '"}')


def _record(part_checksum: str | None, size: int) -> ResumeRecord:
    return ResumeRecord(
        "00000000-0000-4000-8000-000000000000",
        "box",
        "alias",
        "storage",
        "/p",
        size,
        1,
        MIN_PART_SIZE,
        b"k" * 32,
        b"h",
        ctime_ns=0,
        inode=0,
        device=0,
        part_checksum=part_checksum,
    )


def test_the_resume_record_keeps_the_path() -> None:
    record = _record("sha256", 1)
    assert ResumeRecord.from_json(record.to_json()).part_checksum == "sha256"
    older = record.to_json().replace(', "part_checksum": "sha256"', "")
    assert "part_checksum" not in older
    assert ResumeRecord.from_json(older).part_checksum is None  # an older record: MD5s


def test_resume_point_on_the_extension_path() -> None:
    """Log and S3 agree on a part by its length and, where S3 reports one, its sha256;
    the md5 (which such a log has not) is never asked for."""
    size = 5 * MIN_PART_SIZE // 2
    plan = UploadPlan(size, MIN_PART_SIZE)
    item = FileToUpload(Path("/p"), "alias", size, 1)
    end = object()  # any boundary: only its presence matters here
    logged = {n: PartDone(n, None, f"{n}" * 64, end) for n in (1, 2, 3)}  # type: ignore[arg-type]
    length = plan.part_length
    stored = {n: StoredPart(n, length(n), "0" * 32) for n in (1, 2, 3)}
    point = resume_point(_record("sha256", size), item, logged, stored)
    assert point is not None and point.first_part == 4 and len(point.done) == 3
    stored[2] = StoredPart(2, length(2), "0" * 32, "9" * 64)  # S3 verified other bytes
    point = resume_point(_record("sha256", size), item, logged, stored)
    assert point is not None and len(point.done) == 1
    stored[1] = StoredPart(1, length(1) - 1, "0" * 32)
    assert resume_point(_record("sha256", size), item, logged, stored) is None
    # GHGA's path needs the md5s, which this log has not
    stored = {n: StoredPart(n, length(n), "0" * 32) for n in (1, 2, 3)}
    assert resume_point(_record(None, size), item, logged, stored) is None


def test_checksums_body_of_ghgas_path_is_unchanged() -> None:
    body = Checksums("a" * 64, "b" * 32 + "-1", ["b" * 32], ["c" * 64]).body()
    assert body == {
        "decrypted_sha256": "a" * 64,
        "encrypted_md5": "b" * 32 + "-1",
        "encrypted_parts_md5": ["b" * 32],
        "encrypted_parts_sha256": ["c" * 64],
    }
