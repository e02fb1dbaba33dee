"""Reading upload headers with the archive key: shared.crypt.header and the refusals EKSS
makes of its problems (functions.ekss.errors), no stack needed."""

from __future__ import annotations

import os

import pytest
from crypt4gh import header as c4gh_header

from functions.ekss import errors
from functions.ekss.errors import refusing_bad_headers
from shared.crypt import c4gh, header
from shared.crypt.keys import generate_keypair
from tests.ekss.helpers import custom_header, edit_list_packet, encrypt_upload, key_packet

ARCHIVE_PRIVATE, ARCHIVE_PUBLIC = generate_keypair()
SUBMITTER_PRIVATE, SUBMITTER_PUBLIC = generate_keypair()


def _open(data: bytes, submitter_public: bytes = SUBMITTER_PUBLIC) -> header.UploadHeader:
    with refusing_bad_headers():
        return header.open_header(data, _measure(data), ARCHIVE_PRIVATE, submitter_public)


def _measure(data: bytes) -> int:
    with refusing_bad_headers():
        return header.measure(data)


def test_one_recipient_header() -> None:
    key = os.urandom(32)
    data = custom_header([key_packet(key)], SUBMITTER_PRIVATE, ARCHIVE_PUBLIC) + b"body"
    assert _open(data) == header.UploadHeader(session_key=key, length=124)


def test_packets_for_other_recipients_are_skipped() -> None:
    key = os.urandom(32)
    other = generate_keypair()[1]
    packets = [
        *c4gh_header.encrypt(key_packet(os.urandom(32)), [(0, SUBMITTER_PRIVATE, other)]),
        *c4gh_header.encrypt(key_packet(key), [(0, SUBMITTER_PRIVATE, ARCHIVE_PUBLIC)]),
    ]
    data = c4gh_header.serialize(packets)
    assert _open(data) == header.UploadHeader(session_key=key, length=len(data))


def test_unknown_packet_encryption_method_is_skipped() -> None:
    key = os.urandom(32)
    ours = next(c4gh_header.encrypt(key_packet(key), [(0, SUBMITTER_PRIVATE, ARCHIVE_PUBLIC)]))
    data = c4gh_header.serialize([(1).to_bytes(4, "little") + b"\0" * 60, ours])
    assert _open(data).session_key == key


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", errors.HeaderTruncated),
        (c4gh.MAGIC + b"\x01\0\0\0", errors.HeaderTruncated),
        (b"crypt4gX" + b"\0" * 100, errors.NotCrypt4gh),
        (c4gh.MAGIC + b"\x01\0\0\0" + b"\0\0\0\0" + b"\0" * 100, errors.NotCrypt4gh),
        (c4gh.MAGIC + b"\x01\0\0\0\x01\0\0\0" + b"\x02\0\0\0" + b"\0" * 100, errors.NotCrypt4gh),
    ],
    ids=["empty", "preamble-only", "magic", "no-packets", "packet-length"],
)
def test_measure_refuses(data: bytes, problem: type[Exception]) -> None:
    with pytest.raises(problem) as caught:
        _measure(data)
    assert caught.value.status == 400


def test_needed_bytes_grow_with_what_is_known() -> None:
    two = custom_header(
        [key_packet(os.urandom(32)), key_packet(os.urandom(32))], SUBMITTER_PRIVATE, ARCHIVE_PUBLIC
    )
    assert len(two) == 232
    needed = []
    for size in (15, 16, 20, 127, 128, 231):
        with pytest.raises(errors.HeaderTruncated) as caught:
            _measure(two[:size])
        needed.append(caught.value.data["needed_at_least"])
    assert needed == [24, 32, 132, 132, 232, 232]


def test_garbage_packet_is_not_for_the_archive() -> None:
    data = c4gh_header.serialize([b"\0\0\0\0" + os.urandom(20), b"\0\0\0\0" + os.urandom(100)])
    with pytest.raises(errors.WrongArchiveKey):
        _open(data)


def test_wrong_recipient_and_wrong_writer() -> None:
    upload = encrypt_upload(b"x", SUBMITTER_PRIVATE, generate_keypair()[1])
    with pytest.raises(errors.WrongArchiveKey):
        _open(upload)
    upload = encrypt_upload(b"x", SUBMITTER_PRIVATE, ARCHIVE_PUBLIC)
    with pytest.raises(errors.SubmitterKeyMismatch):
        _open(upload, submitter_public=generate_keypair()[1])


def test_one_packet_by_another_writer_is_enough_to_refuse() -> None:
    packets = [
        *c4gh_header.encrypt(key_packet(os.urandom(32)), [(0, SUBMITTER_PRIVATE, ARCHIVE_PUBLIC)]),
        *c4gh_header.encrypt(
            edit_list_packet([0, 5]), [(0, generate_keypair()[0], ARCHIVE_PUBLIC)]
        ),
    ]
    with pytest.raises(errors.SubmitterKeyMismatch):
        _open(c4gh_header.serialize(packets))


@pytest.mark.parametrize(
    ("packets", "problem"),
    [
        ([key_packet(os.urandom(32))] * 2, errors.MultipleSessionKeys),
        ([key_packet(os.urandom(32)), edit_list_packet([1, 2])], errors.EditListNotSupported),
        ([edit_list_packet([1, 2])], errors.EditListNotSupported),
        ([b"\x07\0\0\0" + os.urandom(36)], errors.UnsupportedHeader),
        ([b"\0\0\0\0\x01\0\0\0" + os.urandom(32)], errors.UnsupportedHeader),
        ([key_packet(os.urandom(16))], errors.UnsupportedHeader),
        ([edit_list_packet([1]), edit_list_packet([2])], errors.UnsupportedHeader),
    ],
    ids=[
        "two-keys",
        "edit-list",
        "only-edit-list",
        "packet-type",
        "bulk-method",
        "short-key",
        "two-edit-lists",
    ],
)
def test_headers_an_upload_never_has(packets: list[bytes], problem: type[Exception]) -> None:
    data = custom_header(packets, SUBMITTER_PRIVATE, ARCHIVE_PUBLIC)
    with pytest.raises(problem) as caught:
        _open(data)
    assert caught.value.status == 400
