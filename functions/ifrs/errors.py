"""IFRS's internal exceptions. IFRS answers no one directly: each of these leaves the event
for a retry and, if that keeps failing, the dead-letter queue for an operator. Lost leases
are shared.lease's LeaseLost."""

from __future__ import annotations


class RegistrationError(RuntimeError):
    """The staged or copied object is not what the event says: retried, then dead-lettered
    for an operator to look at. Never registered."""


class NotYetRegistered(RuntimeError):
    """Asked to stage a file whose registration is still under way: retried later."""


class OutboxCopyFailed(RuntimeError):
    """The outbox copy of a registered file has the wrong size: retried."""


class CopyRestarted(RuntimeError):
    """A multipart copy's recorded upload is gone (aborted by a deletion, or by the bucket's
    lifecycle rule) or its result is wrong: the checkpoint is reset and the retry starts
    the copy again."""
