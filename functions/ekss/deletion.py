"""EKSS's part of a file's purge (docs/deletion.md): the secret goes, a tombstone stays.

FileDeletionRequested arrives at least once and in any order with the file's interrogation:
the file's one secret (its id derived from the file id) is destroyed with all its versions,
a tombstone without key material takes its place so that no secret is created for the file
again (POST /secrets answers 410 fileDeleted), and FileDeletionConfirmed says what went.
A failed interrogation (FileInterrogationFailure) loses its secret the same way, without a
confirmation: the file never reached the archive, and only this flow deletes secrets.
"""

from __future__ import annotations

from functions.ekss.core import SecretKeeper
from shared.deletion import confirm
from shared.events import FileDeletionConfirmed, FileDeletionRequested, FileInterrogationFailure
from shared.ports import EventPublisher

SERVICE = "ekss"


class FileDeletion:
    def __init__(self, keeper: SecretKeeper, publisher: EventPublisher) -> None:
        self._keeper = keeper
        self._publisher = publisher

    def on_requested(self, request: FileDeletionRequested) -> FileDeletionConfirmed:
        """Tombstone in the secret's place, then confirm; a repeat confirms again."""
        removed = self._keeper.forget_file(request.file_id)
        return confirm(self._publisher, SERVICE, request, ["secret"] if removed else [])

    def on_failure(self, failure: FileInterrogationFailure) -> None:
        """The rejected file's secret goes, a tombstone stays; a repeat changes nothing."""
        self._keeper.forget_file(failure.file_id)
