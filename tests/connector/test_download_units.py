"""The pieces of the download that need no server: intervals, range plans, names, the
resume record, and streaming decryption of a standard Crypt4GH file."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest
from crypt4gh import lib as c4gh_lib

from connector.download.partial import PartialFile, ResumeRecord
from connector.download.paths import DownloadPaths, file_id_problem, safe_extension
from connector.download.ranges import Aborted, ByteRange, Intervals, Written, plan_ranges
from connector.download.verify import SessionDecryptor, decrypt_stream, file_reader
from shared.crypt.c4gh import parse_header
from shared.crypt.keys import generate_keypair


def test_intervals_merge_and_report_gaps() -> None:
    done = Intervals([(10, 20), (30, 40)])
    done.add(20, 25)  # touches: merged
    done.add(35, 50)  # overlaps: merged
    done.add(5, 5)  # empty: ignored
    assert done.items() == [(10, 25), (30, 50)]
    assert done.prefix() == 0 and done.covered() == 35
    assert done.gaps(60) == [(0, 10), (25, 30), (50, 60)]
    done.add(0, 31)
    assert done.items() == [(0, 50)] and done.prefix() == 50
    assert Intervals([(0, 10), (20, 90)]).clipped(50).items() == [(0, 10), (20, 50)]


def test_plan_covers_exactly_the_missing_bytes() -> None:
    ranges = plan_ranges(Intervals([(100, 250)]), 400, 100)
    assert ranges == [
        ByteRange(0, 100),
        ByteRange(250, 350),
        ByteRange(350, 400),
    ]
    assert ranges[1].header() == "bytes=250-349"
    assert plan_ranges(Intervals(), 0, 100) == []
    assert plan_ranges(Intervals([(0, 400)]), 400, 7) == []


def test_written_lets_a_reader_wait_for_the_prefix() -> None:
    written = Written()
    reached: list[int] = []

    def reader() -> None:
        written.wait_for_prefix(100)
        reached.append(100)
        try:
            written.wait_for_prefix(200)
        except Aborted:
            reached.append(-1)

    thread = threading.Thread(target=reader)
    thread.start()
    written.add(50, 100)
    written.add(0, 50)
    written.abort()
    thread.join(10)
    assert reached == [100, -1]


@pytest.mark.parametrize(
    ("file_id", "ok"),
    [
        ("GHGAF12345", True),
        ("a b", True),
        ("../x", False),
        ("a/b", False),
        (".hidden", False),
        ("x\ty", False),
        ("", False),
        ("c:evil", False),
        ("CON", False),  # Windows devices, with or without an extension
        ("nul", False),
        ("Com1", False),
        ("trailing.", False),  # Windows drops trailing dots and spaces
        ("trailing ", False),
        ("a?b", False),
        ("x" * 200, True),
        ("é" * 120, False),  # 240 bytes in UTF-8, no room for ".c4gh.part.json"
    ],
)
def test_file_ids_cannot_name_paths_elsewhere(file_id: str, ok: bool) -> None:
    assert (file_id_problem(file_id) is None) == ok


def test_names_of_a_download(tmp_path: Path) -> None:
    assert safe_extension(".vcf.gz") == ".vcf.gz"
    assert safe_extension("/../x") == safe_extension(".a b") == safe_extension(None) == ""
    paths = DownloadPaths.of(tmp_path, "F1", ".bam")
    assert [p.name for p in (paths.encrypted, paths.plain, paths.partial, paths.record)] == [
        "F1.bam.c4gh",
        "F1.bam",
        "F1.bam.c4gh.part",
        "F1.bam.c4gh.part.json",
    ]
    assert paths.corrupt.name == "F1.bam.c4gh.corrupt"


def test_resume_record_round_trip_and_damage() -> None:
    record = ResumeRecord("F1", 1000, "ab" * 32, 124, None, [(0, 100), (200, 300)])
    assert ResumeRecord.from_json(record.to_json()) == record
    for damaged in ('{"version": 1}', "[]", '{"version": 2}'):
        with pytest.raises(ValueError):
            ResumeRecord.from_json(damaged)


def test_a_partial_file_resumes_only_with_the_same_envelope(tmp_path: Path) -> None:
    paths = DownloadPaths.of(tmp_path, "F1", "")
    envelope = b"E" * 124
    first = PartialFile(paths, "F1", 1000, envelope, "00" * 32)
    assert first.open().items() == []
    first.write_at(0, memoryview(b"x" * 300))
    first.checkpoint(lambda: [(0, 300)])
    first.close()

    again = PartialFile(paths, "F1", 1000, envelope, "00" * 32)
    assert again.open().items() == [(0, 300)] and again.restart_reason is None
    again.close()
    other = PartialFile(paths, "F1", 1000, b"F" * 124, "00" * 32)
    assert other.open().items() == []
    assert other.restart_reason == "the archive now sends another envelope for this file"
    other.close()
    assert paths.partial.read_bytes()[:124] == b"F" * 124
    assert paths.partial.stat().st_size == 1124


def test_streaming_decryption_reads_a_standard_file() -> None:
    private, public = generate_keypair()
    writer, _ = generate_keypair()
    plain = os.urandom(3 * 65_536 + 17)
    encrypted = io.BytesIO()
    c4gh_lib.encrypt([(0, writer, public)], io.BytesIO(plain), encrypted)
    data = encrypted.getvalue()
    keys, header = parse_header(data, private)
    out = io.BytesIO()
    digest = decrypt_stream(
        file_reader(io.BytesIO(data), header), len(data) - header, SessionDecryptor(keys), out.write
    )
    assert out.getvalue() == plain and digest == hashlib.sha256(plain).hexdigest()
