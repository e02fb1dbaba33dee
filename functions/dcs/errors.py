"""DCS's refusals, each a ServiceError with the exception id a client branches on.

The descriptions are written where a refusal is raised, because they name what the caller
asked for (a range, a file); the status and the id are fixed here.
"""

from __future__ import annotations

from shared.errors import Forbidden, NotFound, ServiceError, Unavailable


class NoSuchObject(NotFound):
    exception_id = "noSuchObject"


class ObjectDeleted(NoSuchObject):
    """The file was deleted from the archive: 404 as for an unknown file (GHGA's client
    knows no other), but an id of its own, since an unknown file may still be registered
    and a deleted one never will (polling is pointless)."""

    exception_id = "fileDeleted"


class NoReaderKey(Forbidden):
    """The work order token is valid but names no Crypt4GH key to build envelopes for."""

    exception_id = "wrongToken"


class KeyStoreDown(Unavailable):
    exception_id = "keyStoreUnavailable"


class EventsDown(Unavailable):
    exception_id = "eventPublishingFailed"


class ContentUnavailable(Unavailable):
    """The outbox gave fewer bytes than asked: never sent, range readers hang on those."""

    exception_id = "contentUnavailable"


class RangeTooLarge(ServiceError):
    status = 413
    exception_id = "rangeTooLarge"


class InvalidRange(ServiceError):
    status = 400
    exception_id = "invalidRange"


class RangeNotSatisfiable(ServiceError):
    status = 416
    exception_id = "rangeNotSatisfiable"


class NotAcceptable(ServiceError):
    status = 406
    exception_id = "notAcceptable"
