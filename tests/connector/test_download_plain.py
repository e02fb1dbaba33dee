"""The plaintext-only download's pieces without a server: segments decrypted as ranges
arrive and written by position, the hash that follows the prefix, the resume record of the
plaintext, and final names that never replace a file that appeared meanwhile."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import threading
from pathlib import Path

import pytest
from crypt4gh import lib as c4gh_lib

from connector.download.partial import PartialFile
from connector.download.paths import DownloadPaths, place
from connector.download.plain import PlainPartialFile, aligned_range_size, hash_plaintext
from connector.download.ranges import Aborted, Written
from connector.download.verify import SessionDecryptor
from shared.crypt.c4gh import CIPHER_SEGMENT_SIZE, SegmentAuthError, parse_header
from shared.crypt.keys import generate_keypair

SEG = CIPHER_SEGMENT_SIZE


def _encrypted(plain: bytes) -> tuple[bytes, bytes, list[bytes]]:
    """(envelope, content, session keys) of ``plain`` encrypted by the standard library."""
    private, public = generate_keypair()
    writer, _ = generate_keypair()
    out = io.BytesIO()
    c4gh_lib.encrypt([(0, writer, public)], io.BytesIO(plain), out)
    data = out.getvalue()
    keys, length = parse_header(data, private)
    return data[:length], data[length:], keys


def _partial(tmp_path: Path, envelope: bytes, content: bytes, keys: list[bytes], sha: str):
    paths = DownloadPaths.of(tmp_path, "F1", ".bam")
    return PlainPartialFile(
        paths, "F1", len(content), envelope, sha, decryptor=SessionDecryptor(keys)
    )


def test_ranges_decrypt_out_of_order_into_the_plaintext_alone(tmp_path: Path) -> None:
    plain = os.urandom(5 * 65_536 + 1_000)
    envelope, content, keys = _encrypted(plain)
    sha = hashlib.sha256(plain).hexdigest()
    partial = _partial(tmp_path, envelope, content, keys, sha)
    written = Written(partial.open())
    assert stat.S_IMODE(partial.path.stat().st_mode) == 0o600
    hashed: list[str] = []
    hasher = threading.Thread(target=lambda: hashed.append(hash_plaintext(partial, written)))
    hasher.start()
    # the last (short) segment first, then two segments at once, then the rest
    for start, end in [(5 * SEG, len(content)), (1 * SEG, 3 * SEG), (0, SEG), (3 * SEG, 5 * SEG)]:
        partial.write_at(start, memoryview(content)[start:end])
        written.add(start, end)
    hasher.join(30)
    assert hashed == [sha]
    partial.finish(overwrite=False)
    assert (tmp_path / "F1.bam").read_bytes() == plain
    # no ciphertext was ever written, and nothing temporary is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["F1.bam"]


def test_a_write_must_cover_whole_segments(tmp_path: Path) -> None:
    envelope, content, keys = _encrypted(os.urandom(3 * 65_536))
    partial = _partial(tmp_path, envelope, content, keys, None)
    partial.open()
    with pytest.raises(ValueError):
        partial.write_at(10, memoryview(content)[10:SEG])
    with pytest.raises(ValueError):
        partial.write_at(0, memoryview(content)[: SEG + 5])
    partial.close()


def test_a_damaged_segment_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    envelope, content, keys = _encrypted(os.urandom(2 * 65_536))
    damaged = bytearray(content)
    damaged[SEG + 100] ^= 1
    partial = _partial(tmp_path, envelope, bytes(damaged), keys, None)
    partial.open()
    partial.write_at(0, memoryview(damaged)[:SEG])
    with pytest.raises(SegmentAuthError, match="segment 1 does not decrypt"):
        partial.write_at(SEG, memoryview(damaged)[SEG:])
    partial.discard_as_corrupt()
    assert list(tmp_path.iterdir()) == []


def test_the_plaintext_resumes_from_its_own_record(tmp_path: Path) -> None:
    plain = os.urandom(4 * 65_536)
    envelope, content, keys = _encrypted(plain)
    sha = hashlib.sha256(plain).hexdigest()
    first = _partial(tmp_path, envelope, content, keys, sha)
    assert first.open().items() == []
    first.write_at(2 * SEG, memoryview(content)[2 * SEG :])
    first.checkpoint(lambda: [(2 * SEG, len(content))])
    first.close()
    record = json.loads((tmp_path / "F1.bam.part.json").read_text())
    assert (record["kind"], record["done"]) == ("plaintext", [[2 * SEG, len(content)]])

    # the encrypted download of the same file does not take the plaintext's record
    encrypted = PartialFile(first.paths, "F1", len(content), envelope, sha)
    assert encrypted.open().items() == []
    encrypted.close()

    again = _partial(tmp_path, envelope, content, keys, sha)
    done = again.open()
    assert done.items() == [(2 * SEG, len(content))] and again.restart_reason is None
    written = Written(done)
    again.write_at(0, memoryview(content)[: 2 * SEG])
    written.add(0, 2 * SEG)
    # the kept plaintext is hashed again from the disk, with what came now
    assert hash_plaintext(again, written) == sha
    again.finish(overwrite=False)
    assert (tmp_path / "F1.bam").read_bytes() == plain


def test_a_record_of_another_kind_starts_over(tmp_path: Path) -> None:
    envelope, content, keys = _encrypted(os.urandom(65_536))
    first = _partial(tmp_path, envelope, content, keys, None)
    first.open()
    first.write_at(0, memoryview(content))
    first.checkpoint(lambda: [(0, len(content))])
    first.close()
    path = tmp_path / "F1.bam.part.json"
    path.write_text(path.read_text().replace('"plaintext"', '"encrypted"'))
    again = _partial(tmp_path, envelope, content, keys, None)
    assert again.open().items() == []
    assert again.restart_reason == "the partial download is of another version of the file"
    again.close()


def test_the_hasher_stops_when_the_download_does(tmp_path: Path) -> None:
    envelope, content, keys = _encrypted(os.urandom(65_536))
    partial = _partial(tmp_path, envelope, content, keys, None)
    written = Written(partial.open())
    written.abort()
    with pytest.raises(Aborted):
        hash_plaintext(partial, written)
    partial.close()


def test_a_final_name_is_taken_only_if_free_or_overwrite(tmp_path: Path) -> None:
    source, target = tmp_path / "a.part", tmp_path / "a"
    source.write_bytes(b"new")
    target.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        place(source, target, overwrite=False)
    assert (source.read_bytes(), target.read_bytes()) == (b"new", b"old")
    place(source, target, overwrite=True)
    assert target.read_bytes() == b"new" and not source.exists()
    target.unlink()
    source.write_bytes(b"newer")
    place(source, target, overwrite=False)
    assert target.read_bytes() == b"newer" and not source.exists()


def test_ranges_of_the_plaintext_are_whole_segments() -> None:
    assert aligned_range_size(8 * 1024 * 1024) == 127 * SEG
    assert aligned_range_size(SEG) == SEG
    assert aligned_range_size(1000) == SEG  # at least one segment


def test_a_record_that_splits_a_segment_starts_over(tmp_path: Path) -> None:
    envelope, content, keys = _encrypted(os.urandom(2 * 65_536))
    first = _partial(tmp_path, envelope, content, keys, None)
    first.open()
    first.checkpoint(lambda: [(0, 1000)])  # no write of the plaintext ends there
    first.close()
    again = _partial(tmp_path, envelope, content, keys, None)
    assert again.open().items() == []
    assert again.restart_reason == "the resume record of the partial download is damaged"
    again.close()
