"""Encrypt a file on the fly into its upload parts, with the checksums closing needs.

The byte stream is the complete Crypt4GH file, header first, then cipher segments; it is
cut every ``part_size`` bytes, so segments straddle part boundaries (the 124-byte header
shifts them). One part at a time is built, so memory stays around one part.

Segments are encrypted by ``shared.crypt.segments.SivSegmentEncryptor``, whose nonces are
deterministic (bound to the running plaintext hash kept here), so that a resumed upload
gives the same bytes for every unchanged part; the scheme is described there.

After each part the encryptor tells where it stands (``Boundary``): the next segment, the
running plaintext SHA-256 as a saved state (``shared.crypt.resumable_sha256``) and the
cipher bytes that spill into the next part (at most 124: the header's shift). Kept in the
resume record, a boundary lets a resumed upload start at the first missing part without
reading, let alone encrypting, the parts before it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

from connector.errors import TransferFailed
from connector.upload.plan import UploadPlan
from shared.crypt.c4gh import CIPHER_DIFF, CIPHER_SEGMENT_SIZE, SEGMENT_SIZE
from shared.crypt.resumable_sha256 import ResumableHashUnavailable, ResumableSha256
from shared.crypt.segments import SivSegmentEncryptor


@dataclass(frozen=True)
class Boundary:
    """Where the encryption stands at the end of a part: enough to go on from there."""

    segment: int  # index of the next segment to encrypt
    sha256_state: bytes  # ResumableSha256.state() of the plaintext before that segment
    carry: bytes  # cipher bytes of the segment before, which begin the next part

    def plain_offset(self, decrypted_size: int) -> int:
        """Where in the plaintext the next segment starts."""
        return min(self.segment * SEGMENT_SIZE, decrypted_size)


class _RunningHash:
    """The running plaintext SHA-256: resumable where OpenSSL's context can be saved,
    else hashlib's (then no boundary can be kept, and a resume re-reads the file)."""

    def __init__(self, state: bytes | None = None) -> None:
        self._resumable: ResumableSha256 | None = None
        self._plain = None
        if state is not None:
            self._resumable = ResumableSha256.from_state(state)
            return
        try:
            self._resumable = ResumableSha256()
        except ResumableHashUnavailable:
            self._plain = hashlib.sha256()

    def update(self, data: memoryview) -> None:
        (self._resumable or self._plain).update(data)

    def digest(self) -> bytes:
        """The hash so far; the hash goes on."""
        if self._resumable is not None:
            return self._resumable.digest()
        return self._plain.copy().digest()

    def hexdigest(self) -> str:
        return self.digest().hex()

    def state(self) -> bytes | None:
        return self._resumable.state() if self._resumable is not None else None


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
    With ``start`` (the boundary at the end of part ``first_part - 1``) it seeks there and
    begins with part ``first_part``; the bytes before are never read.
    """

    def __init__(
        self,
        fileobj: BinaryIO,
        plan: UploadPlan,
        session_key: bytes,
        header: bytes,
        start: Boundary | None = None,
        first_part: int = 1,
    ) -> None:
        self._file = fileobj
        self._plan = plan
        self._encryptor = SivSegmentEncryptor(session_key)
        self._plain = bytearray(SEGMENT_SIZE)
        self._scratch = bytearray(CIPHER_SEGMENT_SIZE)
        if start is None:
            self._carry = bytearray(header)  # bytes that belong at the start of the next part
            self._segment, self._next, offset = 0, 1, 0
            self._sha256 = _RunningHash()
        else:
            self._carry = bytearray(start.carry)
            self._segment, self._next = start.segment, first_part
            offset = start.plain_offset(plan.decrypted_size)
            self._sha256 = _RunningHash(start.sha256_state)
            fileobj.seek(offset)
        self._plain_left = plan.decrypted_size - offset

    @property
    def decrypted_sha256(self) -> str:
        return self._sha256.hexdigest()

    def boundary(self) -> Boundary | None:
        """Where the part produced last ends (None if the hash state cannot be saved)."""
        state = self._sha256.state()
        if state is None:
            return None
        return Boundary(self._segment, state, bytes(self._carry))

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
            binding = self._sha256.digest()  # P_i: the hash of the plaintext so far
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
