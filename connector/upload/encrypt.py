"""Encrypt a file on the fly into its upload parts, with the checksums closing needs.

The byte stream is the complete Crypt4GH file, header first, then cipher segments; it is
cut every ``part_size`` bytes, so segments straddle part boundaries (the 124-byte header
shifts them). One part at a time is built, so memory stays around one part.

Segments are encrypted by ``shared.crypt.segments.SivSegmentEncryptor``, whose nonces are
deterministic (bound to the running plaintext hash kept here), so that a resumed upload
gives the same bytes for every unchanged part; the scheme is described there.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from connector.errors import TransferFailed
from connector.upload.plan import UploadPlan
from shared.crypt.c4gh import CIPHER_DIFF, CIPHER_SEGMENT_SIZE, SEGMENT_SIZE
from shared.crypt.segments import SivSegmentEncryptor


def _read_into(fileobj: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from the file; fewer bytes only at the end of the file."""
    filled = 0
    while filled < len(view):
        count = fileobj.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled


class PartEncryptor:
    """Reads the plaintext in order and writes the upload parts one by one into buffers.

    Not thread-safe: call ``next_part`` from one thread at a time (the uploader runs it
    in a single worker thread). Hashes the plaintext on the way (``decrypted_sha256``).
    """

    def __init__(
        self, fileobj: BinaryIO, plan: UploadPlan, session_key: bytes, header: bytes
    ) -> None:
        self._file = fileobj
        self._plan = plan
        self._encryptor = SivSegmentEncryptor(session_key)
        self._carry = bytearray(header)  # bytes that belong at the start of the next part
        self._plain = bytearray(SEGMENT_SIZE)
        self._scratch = bytearray(CIPHER_SEGMENT_SIZE)
        self._segment = 0
        self._plain_left = plan.decrypted_size
        self._next = 1
        self._sha256 = hashlib.sha256()

    @property
    def decrypted_sha256(self) -> str:
        return self._sha256.hexdigest()

    def next_part(self, buffer: bytearray) -> tuple[int, memoryview] | None:
        """(part number, the part's bytes as a view of ``buffer``), or None after the last.

        ``buffer`` must hold at least one part (``plan.part_size`` bytes, or the file's
        whole encrypted size if that is smaller).
        """
        if self._next > self._plan.part_count:
            if self._file.read(1):
                raise TransferFailed("The file grew while it was being uploaded.")
            return None
        number = self._next
        length = self._plan.part_length(number)
        out = memoryview(buffer)[:length]
        position = len(self._carry)
        out[:position] = self._carry
        self._carry.clear()
        while position < length:
            want = min(SEGMENT_SIZE, self._plain_left)
            plain = memoryview(self._plain)[:want]
            if not want or _read_into(self._file, plain) < want:
                raise TransferFailed("The file shrank while it was being uploaded.")
            self._sha256.update(plain)
            binding = self._sha256.copy().digest()  # P_i: the hash of the plaintext so far
            self._plain_left -= want
            size = want + CIPHER_DIFF
            if position + size <= length:
                target = out[position : position + size]
                self._encryptor.encrypt_into(self._segment, plain, target, binding)
            else:  # the segment straddles the part boundary (the header shifts them all)
                scratch = memoryview(self._scratch)[:size]
                self._encryptor.encrypt_into(self._segment, plain, scratch, binding)
                fits = length - position
                out[position:] = scratch[:fits]
                self._carry += scratch[fits:]
            self._segment += 1
            position += size
        self._next += 1
        return number, out
