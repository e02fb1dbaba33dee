"""One lease on a keyed, versioned record: who works on it now, and until when.

A record that work runs under (an interrogation, a registration, a resumable copy) carries
``version``, ``lease_owner`` and ``lease_until``. Its repository saves it only if the stored
version is still the one read (StaleRecord otherwise), so of two invocations that read the
same free record, exactly one takes the lease. The lease expires, so a crashed invocation's
work is taken over by a later one; a live one renews it with every save, and one that finds
its save lost (LeaseLost) stops, since another invocation carries on. Checkpoints are the
work's own fields, saved under the same version check. Stdlib only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

log = logging.getLogger("fs.lease")

CLAIM_ATTEMPTS = 5  # writers that keep winning the race: the redelivery tries again


class StaleRecord(Exception):
    """The record changed since it was read (the version check of a save failed)."""


class LeaseLost(Exception):
    """Another invocation saved the record meanwhile: it owns the work now."""


class Leased(Protocol):
    version: int | None  # None: not stored yet
    lease_owner: str | None
    lease_until: datetime | None


R = TypeVar("R", bound=Leased)


@dataclass(frozen=True)
class Lease:
    """A claim to make: by ``owner``, for ``seconds`` from the ``clock``'s now."""

    owner: str
    seconds: float
    clock: Callable[[], datetime]


def held(item: Leased, now: datetime) -> bool:
    """Whether a lease on the record is still running (whoever holds it)."""
    return item.lease_until is not None and item.lease_until > now


def clear(item: Leased) -> None:
    """Give the lease up in the record (saved by the caller)."""
    item.lease_owner = item.lease_until = None


def claim(
    read: Callable[[], R | None],
    save: Callable[[R], None],
    lease: Lease,
    *,
    on_held: Callable[[R], None] | None = None,
) -> R | None:
    """Take the lease on the record ``read`` returns; the record, saved with it, or None.

    ``read`` loads the record afresh (and may prepare it, or return None: nothing to do).
    A record leased to anyone until after now is left alone (``on_held`` is told). A save
    that loses the race reads again, at most CLAIM_ATTEMPTS times.
    """
    for _ in range(CLAIM_ATTEMPTS):
        item = read()
        if item is None:
            return None
        now = lease.clock()
        if held(item, now):
            if on_held is not None:
                on_held(item)
            return None
        item.lease_owner = lease.owner
        item.lease_until = now + timedelta(seconds=lease.seconds)
        try:
            save(item)
        except StaleRecord:
            continue
        return item
    return None


def save_held(save: Callable[[R], None], item: R) -> None:
    """Save under the lease: a lost version check means the lease is gone (LeaseLost)."""
    try:
        save(item)
    except StaleRecord as error:
        raise LeaseLost(str(error)) from error


def release(
    get: Callable[[str], R | None],
    save: Callable[[R], None],
    key: str,
    owner: str,
    *,
    ids: Mapping[str, Any] | None = None,
    logger: logging.Logger = log,
) -> None:
    """Give the lease back after a failed turn, so that the retry need not wait for it to
    expire. Best effort: a record saved meanwhile by another owner is left as it is."""
    try:
        item = get(key)
        if item is not None and item.lease_owner == owner:
            clear(item)
            save(item)
    except Exception:
        logger.warning("could not release the lease", extra=dict(ids or {}))
