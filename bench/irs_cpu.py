"""Where an IRS invocation's CPU goes: each thread's CPU time, charged to the step it ran.

Why: the ceiling (bench/cpu.py) is the cryptographic work alone; the invocation's CPU
above it is HTTP, checkpoints and Python, and the report should say how much of each. The
worker (bench/irs_worker.py) wraps the steps of functions/irs/stream.py and its adapters
with ``Ledger.charge``: a step's own CPU (time.thread_time, so threads that wait are not
charged) goes to its category, minus that of the steps it calls, which go to theirs. What
no step claims is "other" (start of the turn, EKSS, manifests, completing, the thread
pool's hand-offs, garbage collection). Only steps taken once per part are wrapped (some
a thousand calls per GiB, a few milliseconds in all): a wrapper around each segment's hash
and nonce cost 0.3-0.5 CPU-s per GiB under load (two clock reads a call), so the plaintext
hash and the nonces are inside "decrypt + re-encrypt".
"""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

# what the invocation's CPU is split into, in the report's order
READ = "read (inbox GETs)"
INBOX_SHA256 = "inbox part sha256 (declared)"
CRYPT = "decrypt + plaintext sha256 + re-encrypt"  # with the nonces (an HMAC a segment)
PART_SUMS = "staged part md5 + sha256"
UPLOAD = "upload (staging PUTs)"
CHECKPOINTS = "checkpoints (DynamoDB)"
OTHER = "other"
CATEGORIES = (
    READ,
    INBOX_SHA256,
    CRYPT,
    PART_SUMS,
    UPLOAD,
    CHECKPOINTS,
    OTHER,
)


class Ledger:
    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()
        self._local = threading.local()

    def charge(self, owner: Any, name: str, category: str) -> None:
        """Replace ``owner.name`` by a wrapper that charges its own CPU to ``category``."""
        original: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(original)
        def charged(*args: Any, **kwargs: Any) -> Any:
            stack: list[list[Any]] = self._local.__dict__.setdefault("stack", [])
            stack.append([category, 0.0])
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                _, nested = stack.pop()
                with self._lock:
                    self.cpu[category] += spent - nested
                if stack:
                    stack[-1][1] += spent

        setattr(owner, name, charged)

    def breakdown(self, total_cpu_s: float) -> dict[str, float]:
        """CPU seconds per category, "other" being what no wrapped step claimed."""
        found = {category: round(self.cpu.get(category, 0.0), 3) for category in CATEGORIES}
        found[OTHER] = round(max(0.0, total_cpu_s - sum(self.cpu.values())), 3)
        return found


def instrument(ledger: Ledger) -> None:
    """Wrap IRS's steps (call before the first invocation)."""
    from functions.irs import declared, store, stream
    from shared.adapters.s3 import S3Storage
    from shared.crypt import reencrypt

    ledger.charge(S3Storage, "get_range", READ)
    ledger.charge(S3Storage, "upload_part", UPLOAD)
    ledger.charge(reencrypt.Reencryptor, "part", CRYPT)
    ledger.charge(stream, "part_digests", PART_SUMS)
    ledger.charge(store.DynamoInterrogationRepository, "checkpoint", CHECKPOINTS)
    ledger.charge(store.DynamoInterrogationRepository, "save", CHECKPOINTS)
    ledger.charge(declared.DeclaredParts, "update", INBOX_SHA256)
