"""The declared SHA-256 of every upload part, checked while the inbox object streams past.

At close the submitter declared one SHA-256 per upload part (``part_size`` bytes of the
inbox object, header included; shared/manifest.py, in the inbox beside the object, named by
FileUploadReceived). IRS reads the object once, in order, in staged parts whose boundaries
are not the upload's (the header shifts them, and the part sizes differ): so a running
SHA-256 of the bytes read is finalised at each upload part boundary and compared there. Only
the SHA-256s are used, never the declared MD5s (an upload may declare none).

The running hash is part of the checkpoint (``state``), so that a resumed interrogation
checks the bytes it staged, not a second reading of them; a checkpoint without it (or one
that does not fit) is caught up by reading the inbox from the start of the upload part in
which the checkpoint lies, in bounded reads (``catch_up``). The first turn catches up over
the header, which interrogation itself does not read.
"""

from __future__ import annotations

from collections.abc import Callable

from functions.irs.errors import DECLARATION_UNREADABLE, Rejected, part_mismatch, size_mismatch
from shared.crypt.resumable_sha256 import InvalidHashState, ResumableSha256
from shared.events import ManifestRef
from shared.manifest import ManifestDamaged, read_manifest
from shared.ports import ObjectStorage

Reader = Callable[[int, int], bytes]  # inbox bytes [start, end)


class DeclaredParts:
    """The check of the declared part SHA-256s at one position of the inbox object."""

    def __init__(
        self, part_size: int, sha256: list[str], size: int, position: int, state: bytes | None
    ) -> None:
        self._part_size, self._declared, self._size = part_size, sha256, size
        # where the running hash began: the start of the part the position lies in; at the
        # end, the position itself (the last part was checked, a new hash begun)
        start = position - position % part_size if position < size else position
        hasher = None
        if state is not None:
            try:
                hasher = ResumableSha256.from_state(state)
            except InvalidHashState:
                hasher = None
            if hasher is not None and hasher.length != position - start:
                hasher = None  # not this position's state: caught up instead
        if hasher is None:  # from the start of the part of the last byte read, if running
            hasher = ResumableSha256()
            if position == size or position % part_size:
                position = (position - 1) // part_size * part_size if position else 0
        self._hasher, self.position = hasher, position

    @classmethod
    def of_upload(
        cls,
        storage: ObjectStorage,
        ref: ManifestRef,
        object_size: int,
        position: int,
        state: bytes | None,
    ) -> DeclaredParts:
        """From the upload's manifest (Rejected if it cannot be read, or describes an
        object of another size)."""
        try:
            manifest = read_manifest(storage, ref)
        except ManifestDamaged as error:
            raise Rejected(DECLARATION_UNREADABLE) from error
        if manifest.size != object_size:
            raise Rejected(size_mismatch(manifest.size, object_size))
        return cls(manifest.part_size, manifest.sha256, manifest.size, position, state)

    @property
    def complete(self) -> bool:
        """Whether every part was read and checked."""
        return self.position == self._size

    def state(self) -> bytes:
        return self._hasher.state()

    def update(self, data: bytes | bytearray | memoryview, start: int) -> None:
        """Hash inbox bytes [start, start + len(data)), which follow the bytes hashed so far;
        Rejected as soon as a part ends whose SHA-256 is not the declared one."""
        if isinstance(data, memoryview):  # S3 gives bytes; only a fake might not
            data = data.tobytes()
        if start != self.position:
            raise ValueError(f"inbox bytes at {start}, but the hash is at {self.position}")
        done = 0
        while done < len(data):
            boundary = min(self._size, (self.position // self._part_size + 1) * self._part_size)
            take = min(len(data) - done, boundary - self.position)
            if take <= 0:
                raise ValueError("inbox bytes past the declared size")
            self._hasher.update_range(data, done, done + take)
            done += take
            self.position += take
            if self.position == boundary:
                self._check((self.position - 1) // self._part_size)

    def _check(self, index: int) -> None:
        if self._hasher.hexdigest() != self._declared[index].lower():
            raise Rejected(part_mismatch(index + 1))
        self._hasher = ResumableSha256()

    def catch_up(self, read: Reader, target: int, chunk: int) -> None:
        """Hash the inbox up to ``target`` (reads of at most ``chunk`` bytes)."""
        while self.position < target:
            end = min(target, self.position + chunk)
            self.update(read(self.position, end), self.position)
