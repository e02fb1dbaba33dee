"""The download audit on DCS's core with fakes: one FileDownloadServed per read and window.

The same counts are proven over the real stack in test_audit.py (our connector, GHGA's
client, and /assembled reads, whole and partial).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from functions.dcs.core import Assembled, Served, Wait
from functions.dcs.errors import EventsDown
from functions.dcs.model import Reader
from shared.crypt.keys import generate_keypair
from shared.events import FileDownloadServed
from tests.dcs.test_core_fakes import SIZE, Dcs, build_dcs

ENVELOPE = 124


@pytest.fixture
def dcs() -> Dcs:
    d = build_dcs()
    d.register()
    assert isinstance(d.downloads.drs_object("file-1", d.reader), Wait)
    assert d.stage()
    return d


def audits(dcs: Dcs) -> list[dict]:
    return dcs.publisher.of("FileDownloadServed")


def test_each_access_is_audited_once_with_who_which_key_and_what(dcs: Dcs) -> None:
    for _ in range(3):  # polls after the URL expired, retries, GHGA's fresh token per call
        assert isinstance(dcs.downloads.drs_object("file-1", dcs.reader), Served)
        dcs.downloads.envelope("file-1", dcs.reader)
        dcs.downloads.assembled("file-1", dcs.reader, None)
    by_access = {a["access"]: a for a in audits(dcs)}
    assert len(audits(dcs)) == 3 and set(by_access) == {"drs_object", "envelope", "assembled"}
    fingerprint = hashlib.sha256(dcs.reader.public_key).hexdigest()
    for audit in by_access.values():
        FileDownloadServed.model_validate(audit)
        assert audit["file_id"] == "file-1"
        assert audit["target_object_id"] == "object-file-1"
        assert audit["user_id"] == "user-1" and audit["work_package_id"] == "package-1"
        assert audit["context"] == "user_id=user-1;work_package_id=package-1"
        assert audit["reader_key_fingerprint"] == fingerprint
        assert audit["range_start"] is None and audit["range_end"] is None
        assert len(audit["read_id"]) == 32
        flat = repr(audit)
        assert dcs.reader.public_key.hex() not in flat  # the key itself is never there
        assert "the-reader-s-wot" not in flat
    assert by_access["drs_object"]["size"] == SIZE
    assert by_access["envelope"]["size"] == ENVELOPE
    assert by_access["assembled"]["size"] == ENVELOPE + SIZE


def test_each_distinct_range_is_one_read_and_repeats_publish_nothing(dcs: Dcs) -> None:
    ranges = ["bytes=0-99", "bytes=100-4999", "bytes=0-99", "bytes=-50", "bytes=100-4999"]
    for header in ranges:
        answer = dcs.downloads.assembled("file-1", dcs.reader, header)
        assert isinstance(answer, Assembled) and answer.served is not None
    total = ENVELOPE + SIZE
    got = sorted((a["range_start"], a["range_end"]) for a in audits(dcs))
    assert got == [(0, 99), (100, 4999), (total - 50, total - 1)]
    assert {a["size"] for a in audits(dcs)} == {total}


def test_a_range_over_the_whole_file_is_the_whole_read(dcs: Dcs) -> None:
    dcs.downloads.assembled("file-1", dcs.reader, None)
    dcs.downloads.assembled("file-1", dcs.reader, "bytes=0-")
    dcs.downloads.assembled("file-1", dcs.reader, f"bytes=0-{ENVELOPE + SIZE + 1000}")
    [audit] = audits(dcs)
    assert audit["access"] == "assembled" and audit["range_start"] is None


def test_head_and_waits_are_not_reads(dcs: Dcs) -> None:
    dcs.downloads.assembled("file-1", dcs.reader, None, head=True)
    other = build_dcs()
    other.register()  # not staged: every answer is a wait
    assert isinstance(other.downloads.drs_object("file-1", other.reader), Wait)
    assert isinstance(other.downloads.assembled("file-1", other.reader, None), Wait)
    assert audits(dcs) == [] and audits(other) == []


def test_another_reader_or_package_is_another_read(dcs: Dcs) -> None:
    _, other_key = generate_keypair()
    readers = [
        dcs.reader,
        Reader(other_key, "user-1", "package-1", "wot"),  # the same user with another key
        Reader(dcs.reader.public_key, "user-1", "package-2", "wot"),  # another package
        Reader(other_key, "user-2", "package-3", "wot"),
    ]
    for reader in readers * 2:
        dcs.downloads.drs_object("file-1", reader)
    assert len(audits(dcs)) == 4
    assert len({a["read_id"] for a in audits(dcs)}) == 4


def test_the_read_is_audited_again_after_the_window(dcs: Dcs) -> None:
    dcs.downloads.drs_object("file-1", dcs.reader)
    dcs.downloads.clock.now += timedelta(seconds=dcs.downloads.policy.audit_window_s - 10)
    dcs.downloads.drs_object("file-1", dcs.reader)
    assert len(audits(dcs)) == 1
    dcs.downloads.clock.now += timedelta(seconds=20)
    dcs.downloads.drs_object("file-1", dcs.reader)
    first, second = audits(dcs)
    assert first["read_id"] == second["read_id"]  # the same read, in a new window


def test_a_failed_publish_serves_nothing_and_the_retry_publishes(dcs: Dcs) -> None:
    dcs.publisher.fail = RuntimeError("SNS is down")
    for call in (
        lambda: dcs.downloads.drs_object("file-1", dcs.reader),
        lambda: dcs.downloads.envelope("file-1", dcs.reader),
        lambda: dcs.downloads.assembled("file-1", dcs.reader, "bytes=10-20"),
    ):
        with pytest.raises(EventsDown):
            call()
    dcs.publisher.fail = None
    assert isinstance(dcs.downloads.drs_object("file-1", dcs.reader), Served)
    dcs.downloads.envelope("file-1", dcs.reader)
    dcs.downloads.assembled("file-1", dcs.reader, "bytes=10-20")
    dcs.downloads.assembled("file-1", dcs.reader, "bytes=10-20")
    assert sorted(a["access"] for a in audits(dcs)) == ["assembled", "drs_object", "envelope"]


def test_a_lost_confirmation_publishes_once_more_not_never(dcs: Dcs) -> None:
    def broken(read_id: str, file_id: str) -> None:
        raise RuntimeError("DynamoDB is down")

    confirm = dcs.repository.confirm_audit
    dcs.repository.confirm_audit = broken  # type: ignore[method-assign]
    assert isinstance(dcs.downloads.drs_object("file-1", dcs.reader), Served)  # still served
    dcs.repository.confirm_audit = confirm  # type: ignore[method-assign]
    dcs.downloads.drs_object("file-1", dcs.reader)
    dcs.downloads.drs_object("file-1", dcs.reader)
    assert len(audits(dcs)) == 2  # at least once: a duplicate with the same read_id
    assert len({a["read_id"] for a in audits(dcs)}) == 1


def capped(max_ranges: int) -> Dcs:
    d = build_dcs(audit_max_ranges=max_ranges)
    d.register()
    d.downloads.drs_object("file-1", d.reader)
    assert d.stage()
    return d


def test_ranges_beyond_the_cap_are_one_event_for_the_rest_of_the_window() -> None:
    dcs = capped(3)
    for start in range(0, 1000, 100):  # ten distinct ranges, each asked for twice
        for _ in range(2):
            dcs.downloads.assembled("file-1", dcs.reader, f"bytes={start}-{start + 99}")
    dcs.downloads.assembled("file-1", dcs.reader, None)  # a whole read is not capped
    ranged = [a for a in audits(dcs) if a["range_start"] is not None]
    assert [(a["range_start"], a["range_end"]) for a in ranged] == [(0, 99), (100, 199), (200, 299)]
    [more] = [a for a in audits(dcs) if a["more_ranges"]]
    assert more["range_start"] is None and more["access"] == "assembled"
    [whole] = [a for a in audits(dcs) if a["range_start"] is None and not a["more_ranges"]]
    assert whole["access"] == "assembled"
    assert len(audits(dcs)) == 5

    dcs.downloads.clock.now += timedelta(seconds=3601)  # a new window: itemised again
    dcs.downloads.assembled("file-1", dcs.reader, "bytes=900-999")
    assert (audits(dcs)[-1]["range_start"], audits(dcs)[-1]["more_ranges"]) == (900, False)


def test_the_cap_is_per_reader() -> None:
    dcs = capped(1)
    _, other_key = generate_keypair()
    other = Reader(other_key, "user-2", "package-2", "wot")
    for reader in (dcs.reader, other):
        dcs.downloads.assembled("file-1", reader, "bytes=0-9")
        dcs.downloads.assembled("file-1", reader, "bytes=10-19")
        dcs.downloads.assembled("file-1", reader, "bytes=20-29")
    for reader in ("package-1", "package-2"):
        mine = [a for a in audits(dcs) if a["work_package_id"] == reader]
        assert [(a["range_start"], a["more_ranges"]) for a in mine] == [(0, False), (None, True)]


def test_a_failed_summary_is_published_by_the_next_range() -> None:
    dcs = capped(1)
    dcs.downloads.assembled("file-1", dcs.reader, "bytes=0-9")
    dcs.publisher.fail = RuntimeError("SNS is down")
    with pytest.raises(EventsDown):
        dcs.downloads.assembled("file-1", dcs.reader, "bytes=10-19")
    dcs.publisher.fail = None
    dcs.downloads.assembled("file-1", dcs.reader, "bytes=20-29")
    dcs.downloads.assembled("file-1", dcs.reader, "bytes=30-39")
    assert [a["more_ranges"] for a in audits(dcs)] == [False, True]


def test_ranges_past_the_cap_write_no_claim_of_their_own() -> None:
    """A reader asking for ranges without end (one byte at a time) leaves a bounded number
    of audit items: the cap's, the counter, one summary."""
    dcs = capped(3)
    repository = dcs.repository
    for start in range(200):
        dcs.downloads.assembled("file-1", dcs.reader, f"bytes={start}-{start}")
    claims = [key for key in repository.audit_claims if key[0] == "file-1"]
    assert len(claims) <= 3 + 1 + 1 + 1  # three ranges, the one at the cap, the summary, DRS
    assert [a["more_ranges"] for a in audits(dcs) if a["access"] == "assembled"] == [
        False,
        False,
        False,
        True,
    ]
