"""In memory: DCS's DrsRepository (functions.dcs.model), and its policy with the defaults.

Faked at the level of the port's methods with the conditions of the store's updates: a
write whose condition does not hold changes nothing and answers False, as a lost
conditional update does on DynamoDB. ``before_keep`` lets a test run something (a
deletion) just before an envelope is stored, as a request racing it would meet it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from functions.dcs.config import POLICY_SETTINGS, DcsConfig
from functions.dcs.core import DownloadPolicy
from functions.dcs.model import DELETED, REGISTERED, STAGED, STAGING, DrsObject


def policy(
    outbox_bucket: str = "outbox", drs_host: str = "test", **overrides: Any
) -> DownloadPolicy:
    """DCS's policy with the configured defaults (DcsConfig's), changed by ``overrides``."""
    defaults = {name: DcsConfig.model_fields[name].default for name in POLICY_SETTINGS}
    return DownloadPolicy(outbox_bucket, drs_host, **{**defaults, **overrides})


class InMemoryDrsRepository:
    """DRS objects by file id and envelopes by (file, secret, reader key)."""

    def __init__(self) -> None:
        self.items: dict[str, DrsObject] = {}
        self.envelopes: dict[tuple[str, str, bytes], bytes] = {}
        self.before_keep: Callable[[], None] | None = None
        # audit claims by (file, read id): (until, published)
        self.audit_claims: dict[tuple[str, str], tuple[datetime, bool]] = {}
        # partial reads counted per (file, reader id): (window end, count)
        self.range_counts: dict[tuple[str, str], tuple[datetime, int]] = {}

    def get(self, file_id: str) -> DrsObject | None:
        return self.items.get(file_id)

    def add_if_absent(self, item: DrsObject) -> bool:
        if item.file_id in self.items:
            return False
        self.items[item.file_id] = item
        return True

    def _change(self, file_id: str, holds: bool, **changes: Any) -> bool:
        if not holds:
            return False
        self.items[file_id] = dataclasses.replace(self.items[file_id], **changes)
        return True

    def request_staging(self, item: DrsObject, now: datetime) -> bool:
        stored = self.items.get(item.file_id)
        holds = (
            stored is not None
            and stored.state == item.state
            and stored.staging_requested_at == item.staging_requested_at
        )
        return self._change(item.file_id, holds, state=STAGING, staging_requested_at=now)

    def undo_staging_request(self, item: DrsObject, requested_at: datetime) -> bool:
        stored = self.items.get(item.file_id)
        holds = (
            stored is not None
            and stored.state == STAGING
            and stored.staging_requested_at == requested_at
        )
        return self._change(
            item.file_id,
            holds,
            state=item.state,
            staging_requested_at=item.staging_requested_at,
        )

    def mark_staged(self, file_id: str, now: datetime) -> bool:
        stored = self.items.get(file_id)
        holds = stored is not None and stored.state in (REGISTERED, STAGING)
        return self._change(file_id, holds, state=STAGED, last_accessed=now)

    def touch(self, file_id: str, now: datetime) -> bool:
        stored = self.items.get(file_id)
        return self._change(
            file_id, stored is not None and stored.state == STAGED, last_accessed=now
        )

    def unstage(self, item: DrsObject) -> bool:
        stored = self.items.get(item.file_id)
        holds = (
            stored is not None
            and stored.state == STAGED
            and stored.last_accessed == item.last_accessed
        )
        return self._change(item.file_id, holds, state=REGISTERED)

    def staged_unused_since(self, cutoff: datetime) -> Iterator[DrsObject]:
        for item in list(self.items.values()):
            if (
                item.state == STAGED
                and item.last_accessed is not None
                and item.last_accessed < cutoff
            ):
                yield item

    def get_envelope(self, file_id: str, secret_id: str, reader: bytes) -> bytes | None:
        return self.envelopes.get((file_id, secret_id, reader))

    def keep_envelope(
        self, file_id: str, secret_id: str, reader: bytes, envelope: bytes
    ) -> bytes | None:
        if self.before_keep is not None:
            self.before_keep()
        stored = self.items.get(file_id)
        if stored is None or stored.deleted:  # the transaction's condition on the object
            return None
        return self.envelopes.setdefault((file_id, secret_id, reader), envelope)

    def tombstone(self, file_id: str, requested_by: str, at: datetime) -> DrsObject | None:
        before = self.items.get(file_id)
        if before is None:
            self.items[file_id] = DrsObject(
                file_id, state=DELETED, deleted_by=requested_by, deleted_at=at
            )
            return None
        self.items[file_id] = dataclasses.replace(
            before,
            state=DELETED,
            secret_id=None,
            decrypted_sha256=None,
            decrypted_size=None,
            content_size=None,
            staging_requested_at=None,
            last_accessed=None,
            deleted_by=before.deleted_by or requested_by,
            deleted_at=before.deleted_at or at,
        )
        return before

    def drop_envelopes(self, file_id: str) -> int:
        mine = [key for key in self.envelopes if key[0] == file_id]
        for key in mine:
            del self.envelopes[key]
        return len(mine)

    def claim_audit(self, read_id: str, file_id: str, now: datetime, until: datetime) -> bool:
        held = self.audit_claims.get((file_id, read_id))
        if held is not None and held[1] and held[0] > now:
            return False
        self.audit_claims[(file_id, read_id)] = (until, False)
        return True

    def confirm_audit(self, read_id: str, file_id: str) -> None:
        until, _ = self.audit_claims[(file_id, read_id)]
        self.audit_claims[(file_id, read_id)] = (until, True)

    def audited_ranges(self, reader_id: str, file_id: str, now: datetime) -> tuple[int, datetime]:
        window_end, count = self.range_counts.get((file_id, reader_id), (now, 0))
        return (count, window_end) if window_end > now else (0, now)

    def count_audited_range(
        self, reader_id: str, file_id: str, now: datetime, until: datetime
    ) -> tuple[int, datetime]:
        window_end, count = self.range_counts.get((file_id, reader_id), (now, 0))
        if window_end <= now:
            window_end, count = until, 0
        self.range_counts[(file_id, reader_id)] = (window_end, count + 1)
        return count + 1, window_end
