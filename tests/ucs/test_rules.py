"""UCS's pure rules: part layout, multipart ETags, aliases, state moves and box counters."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from functions.ucs.boxes import BoxAdmin
from functions.ucs.config import UcsConfig
from functions.ucs.core import UploadController
from functions.ucs.model import (
    ACTIVE_STATES,
    CANCELLED,
    DELETED,
    INBOX,
    INIT,
    RELEASED_STATES,
    STATES,
    TRANSITIONS,
    Checksums,
    NewUpload,
    counter_deltas,
    part_count,
)
from functions.ucs.store import sort_key
from shared.crypt.c4gh import encrypted_size
from shared.crypt.checksums import multipart_etag
from shared.multipart import MAX_OBJECT_SIZE, MAX_PARTS, MIB, alias_problem
from shared.multipart import part_sizes as expected_part_sizes
from tests.fakes import InMemoryStorage, RecordingPublisher
from tests.fakes.ucs import InMemoryUcsRepository


def test_part_layout_matches_ghga_examples() -> None:
    # docs/ghga-wire-format.md §4.5: 12 MB with part size 5245120
    assert expected_part_sizes(12_005_276, 5_245_120) == [5_245_120, 5_245_120, 1_515_036]
    assert part_count(124, 5_245_120) == 1  # an empty file is one header-only part
    assert expected_part_sizes(124, 5_245_120) == [124]
    assert part_count(2 * 5_245_120, 5_245_120) == 2  # exact multiple: no empty last part


def test_multipart_etag_is_s3s() -> None:
    md5s = [hashlib.md5(b"one").hexdigest(), hashlib.md5(b"two").hexdigest()]  # noqa: S324
    joined = hashlib.md5(bytes.fromhex(md5s[0]) + bytes.fromhex(md5s[1])).hexdigest()  # noqa: S324
    assert multipart_etag(md5s) == f"{joined}-2"
    assert multipart_etag(md5s[:1]).endswith("-1")  # "-1" even for one part


@pytest.mark.parametrize(
    "alias",
    ["a", "reads/sample_1.fastq.gz", "/".join(["x" * 63] * 4), "Ünïcode name.txt", "dir/.hidden"],
)
def test_acceptable_aliases(alias: str) -> None:
    assert alias_problem(alias) is None


@pytest.mark.parametrize(
    "alias",
    [
        "",
        "x" * 256,
        "/abs",
        "\\abs",
        "a\x00b",
        "a\nb",
        "a\u200bb",
        " lead",
        "trail ",
        "..",
        "a/./b",
        "C:/x",
        "con",
        "sub/../f",
        "x" * 241,  # one segment longer than a file name may be
    ],
)
def test_unacceptable_aliases(alias: str) -> None:
    assert alias_problem(alias)


def test_states_partition_and_transitions_stay_inside() -> None:
    assert set(STATES) == ACTIVE_STATES | RELEASED_STATES
    assert not ACTIVE_STATES & RELEASED_STATES
    assert all(targets <= set(STATES) for targets in TRANSITIONS.values())
    # released states lead only to the operator's purge, and a purged upload stays so
    assert all(TRANSITIONS[state] <= {DELETED} for state in RELEASED_STATES)
    assert not TRANSITIONS[DELETED]
    assert all(DELETED in TRANSITIONS[state] for state in STATES if state != DELETED)


def test_counter_deltas_keep_used_size_for_active_uploads_only() -> None:
    assert counter_deltas([(None, INIT, 100)]) == {INIT: 1, "used_size": 100}
    assert counter_deltas([(INIT, INBOX, 100)]) == {INIT: -1, INBOX: 1, "used_size": 0}
    assert counter_deltas([(INBOX, CANCELLED, 100)]) == {INBOX: -1, CANCELLED: 1, "used_size": -100}
    # overwrite of an open upload: one create and one cancel in one transaction
    assert counter_deltas([(None, INIT, 70), (INIT, CANCELLED, 100)]) == {
        INIT: 0,
        CANCELLED: 1,
        "used_size": -30,
    }


def test_a_purge_frees_what_the_upload_held_and_counts_it_once() -> None:
    assert counter_deltas([(INIT, DELETED, 100)]) == {INIT: -1, DELETED: 1, "used_size": -100}
    # a cancelled upload purged later: it no longer held any space
    assert counter_deltas([(CANCELLED, DELETED, 100)]) == {CANCELLED: -1, DELETED: 1}


def test_sort_keys_order_by_creation_then_id() -> None:
    early = datetime(2026, 1, 1, tzinfo=UTC)
    assert sort_key(early, "b") < sort_key(early + timedelta(microseconds=1), "a")
    assert sort_key(early, "a") < sort_key(early, "b")
    assert sort_key(early, "zzz") < sort_key(early + timedelta(microseconds=1), "")


def test_a_repeated_close_is_recognised_by_its_checksums() -> None:
    one = Checksums("a" * 64, "b" * 32 + "-2", ["c" * 32, "d" * 32], ["e" * 64, "f" * 64])
    same = Checksums("a" * 64, "b" * 32 + "-2", ["c" * 32, "d" * 32], ["e" * 64, "f" * 64])
    swapped = Checksums("a" * 64, "b" * 32 + "-2", ["d" * 32, "c" * 32], ["e" * 64, "f" * 64])
    assert one.parts_digest() == same.parts_digest()
    assert one.parts_digest() != swapped.parts_digest()


def _ucs_config(**settings: object) -> UcsConfig:
    return UcsConfig.model_validate(
        {
            "wot_public_key": "pem",
            "operator_token_sha256": "0" * 64,
            "storage_alias": "test",
            "buckets": {"inbox": "inbox"},
            "tables": {"boxes": "boxes", "uploads": "uploads"},
            "topics": {
                t: t for t in ("FileUploadReceived", "FileDeletionRequested", "FileDeleted")
            },
            **settings,
        }
    )


def test_part_url_lifetime_defaults_follow_the_part_size() -> None:
    policy = _ucs_config().policy()
    # 5 minutes, plus the part at 1 MiB/s, at most an hour
    assert policy.part_url_lifetime_s(16 * MIB) == 300 + 16
    assert policy.part_url_lifetime_s(5 * 1024**3) == 3600
    faster = _ucs_config(part_url_bytes_per_s=16 * MIB, part_url_min_lifetime_s=60).policy()
    assert faster.part_url_lifetime_s(16 * MIB) == 61


def test_part_url_floor_above_the_maximum_is_refused() -> None:
    with pytest.raises(ValidationError, match="part_url_min_lifetime_s is larger"):
        _ucs_config(part_url_min_lifetime_s=900, part_url_max_lifetime_s=600)
    with pytest.raises(ValidationError):
        _ucs_config(part_url_bytes_per_s=0)


def test_announce_grace_shorter_than_a_close_is_refused() -> None:
    assert _ucs_config().announce_grace() >= timedelta(minutes=5)
    with pytest.raises(ValidationError, match="announce_grace_s is shorter"):
        _ucs_config(announce_grace_s=10)  # UCS's function may run 30 s


def _largest_plaintext() -> int:
    """The largest plaintext whose Crypt4GH file S3 can still store as one object."""
    decrypted = MAX_OBJECT_SIZE * 65536 // (65536 + 28)
    while encrypted_size(decrypted + 1) <= MAX_OBJECT_SIZE:
        decrypted += 1
    while encrypted_size(decrypted) > MAX_OBJECT_SIZE:
        decrypted -= 1
    return decrypted


def test_a_box_of_the_default_size_takes_the_largest_file() -> None:
    cfg = _ucs_config()
    assert cfg.default_box_max_size >= MAX_OBJECT_SIZE
    repository = InMemoryUcsRepository()
    controller = UploadController(repository, InMemoryStorage(), RecordingPublisher(), cfg.policy())
    box = BoxAdmin(repository, cfg.default_box_max_size).create()
    decrypted = _largest_plaintext()
    assert 4.99 * 1024**4 < decrypted < 5 * 1024**4  # about 4.998 TiB of plaintext
    part_size = 550 * MIB  # GHGA's client's choice for such a file: below 10,000 parts
    request = NewUpload("genome.bam", decrypted, encrypted_size(decrypted), part_size)
    upload = controller.create_upload(box.id, request)
    assert upload.part_count <= MAX_PARTS
    assert repository.boxes[box.id].used_size == request.encrypted_size
