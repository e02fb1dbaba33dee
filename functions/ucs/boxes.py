"""Upload boxes: what the operator creates, locks, unlocks and deletes.

A box bounds what one submission may hold (``max_size``, summed over its active uploads).
Deleting only marks it deleted, so that the counters of its remaining (registered)
uploads stay consistent and a repeated delete is harmless.

A box is private unless the operator makes it ``shared``: in a private box each submitter
(the ``user_id`` of their work order tokens) sees, closes and deletes only the uploads they
created; another's upload is "not found" to them, as if it were not there. In a shared box
every submitter of the box may act on every upload (a team that submits together).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from functions.ucs import errors
from functions.ucs.errors import StaleState
from functions.ucs.model import (
    BOX_DELETED,
    BOX_LOCKED,
    BOX_OPEN,
    INBOX,
    INIT,
    Box,
    UcsRepository,
    Upload,
)
from shared.clock import utcnow


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def find_box(repository: UcsRepository, box_id: str) -> Box:
    """The box, unless it does not exist or was deleted (404 boxNotFound)."""
    box = repository.get_box(box_id) if is_uuid(box_id) else None
    if box is None or box.status == BOX_DELETED:
        raise errors.box_not_found()
    return box


def may_act_on(box: Box, upload: Upload, user_id: str) -> bool:
    """Whether the submitter ``user_id`` may see and change ``upload``: their own, or any
    in a shared box. A token that names no user owns nothing."""
    return box.shared or (bool(user_id) and upload.created_by == user_id)


class BoxAdmin:
    def __init__(
        self,
        repository: UcsRepository,
        default_max_size: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._repository = repository
        self._default_max_size = default_max_size
        self._clock = clock

    def create(
        self, max_size: int | None = None, description: str | None = None, shared: bool = False
    ) -> Box:
        now = self._clock()
        box = Box(
            id=str(uuid.uuid4()),
            max_size=max_size if max_size is not None else self._default_max_size,
            status=BOX_OPEN,
            created=now,
            updated=now,
            description=description,
            shared=shared,
        )
        self._repository.add_box(box)
        return box

    def get(self, box_id: str) -> Box:
        return find_box(self._repository, box_id)

    def update(self, box_id: str, locked: bool | None = None, shared: bool | None = None) -> Box:
        """Lock or unlock the box, make it shared or private (what is None stays)."""
        if shared is not None:
            find_box(self._repository, box_id)
            try:
                self._repository.set_box_shared(box_id, shared, self._clock())
            except StaleState as error:  # deleted meanwhile
                raise errors.box_not_found() from error
        if locked is not None:
            return self.set_locked(box_id, locked)
        return find_box(self._repository, box_id)

    def set_locked(self, box_id: str, locked: bool) -> Box:
        find_box(self._repository, box_id)
        try:
            self._repository.set_box_status(
                box_id, BOX_LOCKED if locked else BOX_OPEN, self._clock()
            )
        except StaleState as error:  # deleted meanwhile
            raise errors.box_not_found() from error
        return find_box(self._repository, box_id)

    def delete(self, box_id: str) -> None:
        """Delete an empty box; deleting a deleted box again is fine."""
        box = self._repository.get_box(box_id) if is_uuid(box_id) else None
        if box is None:
            raise errors.box_not_found()
        if box.status == BOX_DELETED:
            return
        try:
            self._repository.set_box_status(box_id, BOX_DELETED, self._clock())
        except StaleState as error:
            current = self._repository.get_box(box_id)
            if current is not None and current.status == BOX_DELETED:
                return
            counts = current.counts if current is not None else box.counts
            raise errors.box_not_empty(counts.get(INIT, 0), counts.get(INBOX, 0)) from error
