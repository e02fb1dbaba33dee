"""A download that writes the plaintext alone (``--decrypt`` without ``--keep-encrypted``).

Ranges cover whole cipher segments, so each one is decrypted (AEAD) as its bytes arrive, in
the writer threads, and its plaintext is written by position into ``<name>.part`` (mode
0600, created exclusively); the ciphertext is never written. A hasher thread follows the
contiguous prefix and hashes the plaintext on disk, in order. The resume record
(``<name>.part.json``) is the encrypted download's, in the same content offsets, and claims
only whole segments whose plaintext was synced: a rerun keeps them and hashes them again
from the disk. The archive's sha-256 still decides, over the whole plaintext, before the
file gets its final name; a damaged download leaves nothing.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from connector.download.partial import PartialFile
from connector.download.ranges import Intervals, Written
from connector.download.verify import SEGMENTS_PER_READ, SessionDecryptor
from connector.files import PRIVATE, discard_own, new_file, open_own
from shared.crypt.c4gh import (
    CIPHER_SEGMENT_SIZE,
    SEGMENT_SIZE,
    SegmentAuthError,
    plain_size_of_body,
)


def aligned_range_size(range_size: int) -> int:
    """``range_size`` rounded down to whole cipher segments (at least one)."""
    return max(1, range_size // CIPHER_SEGMENT_SIZE) * CIPHER_SEGMENT_SIZE


def plain_offset(content_offset: int) -> int:
    """Where the plaintext of the segment starting at ``content_offset`` begins."""
    return content_offset // CIPHER_SEGMENT_SIZE * SEGMENT_SIZE


class PlainPartialFile(PartialFile):
    """The partial plaintext: content offsets in, decrypted segments written by position."""

    KIND = "plaintext"
    MODE = PRIVATE

    def __init__(self, *args, decryptor: SessionDecryptor, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        try:
            self.plain_size = plain_size_of_body(self.size)
        except ValueError:
            raise SegmentAuthError(f"no Crypt4GH body has {self.size} bytes (truncated)") from None
        self._decryptor = decryptor
        self._local = threading.local()  # one plaintext buffer per writer thread

    @property
    def path(self) -> Path:
        return self.paths.plain_partial

    @property
    def record_path(self) -> Path:
        return self.paths.plain_record

    @property
    def final_path(self) -> Path:
        return self.paths.plain

    @property
    def disk_size(self) -> int:
        return self.plain_size

    def _create(self) -> int:
        self._fd = new_file(self.path, self.MODE, read=True)  # replaces our own stale one
        return self._fd

    def _starts_right(self) -> bool:
        return True  # no envelope on disk: the record's envelope digest was compared

    def _resumable(self) -> Intervals | None:
        done = super()._resumable()
        ends = [edge for interval in (done.items() if done else []) for edge in interval]
        if any(edge % CIPHER_SEGMENT_SIZE and edge != self.size for edge in ends):
            self.restart_reason = "the resume record of the partial download is damaged"
            return None
        return done

    def write_at(self, offset: int, data: memoryview) -> None:
        """Decrypt the whole segments ``data`` starting at content ``offset``; write their
        plaintext (thread-safe). SegmentAuthError if one does not authenticate."""
        if offset % CIPHER_SEGMENT_SIZE or offset < 0 or offset + len(data) > self.size:
            raise ValueError("a write of the plaintext must start at a segment")
        if len(data) % CIPHER_SEGMENT_SIZE and offset + len(data) != self.size:
            raise ValueError("a write of the plaintext must end at a segment")
        out = getattr(self._local, "buffer", None)
        needed = plain_size_of_body(len(data)) if len(data) else 0
        if out is None or len(out) < needed:
            out = self._local.buffer = memoryview(bytearray(needed))
        produced = 0
        for start in range(0, len(data), CIPHER_SEGMENT_SIZE):
            produced += self._decryptor.decrypt_into(
                data[start : start + CIPHER_SEGMENT_SIZE],
                out[produced:],
                (offset + start) // CIPHER_SEGMENT_SIZE,
            )
        view, position = out[:produced], plain_offset(offset)
        while len(view):
            count = self._pwrite(view, position)
            view, position = view[count:], position + count

    def discard_as_corrupt(self) -> None:
        """Nothing of a damaged download is kept: it is plaintext that cannot be trusted."""
        self.close()
        for path in (self.path, self.record_path):
            discard_own(path)


def hash_plaintext(partial: PlainPartialFile, written: Written) -> str:
    """The sha256 (hex) of the plaintext, read back in order as the prefix grows."""
    chunk = SEGMENTS_PER_READ * CIPHER_SEGMENT_SIZE
    buffer = memoryview(bytearray(min(SEGMENTS_PER_READ * SEGMENT_SIZE, partial.plain_size)))
    digest = hashlib.sha256()
    with os.fdopen(open_own(partial.path), "rb", buffering=0) as source:
        for offset in range(0, partial.size, chunk):
            end = min(offset + chunk, partial.size)
            written.wait_for_prefix(end)
            view = buffer[: plain_size_of_body(end - offset)]
            source.seek(plain_offset(offset))
            filled = 0
            while filled < len(view):
                count = source.readinto(view[filled:])
                if not count:
                    raise SegmentAuthError("the plaintext on disk ends early (truncated)")
                filled += count
            digest.update(view)
    return digest.hexdigest()
