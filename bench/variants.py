"""The settings each transfer section is measured under, interleaved run by run.

- ``same``: both clients at the same part size and concurrency, anywhere on the machine
  (the figures under ``upload`` and ``download``; the comparison of the clients);
- ``pinned`` (``--pin``): the same settings, the stack and harness on one core, the
  measured client on another (bench/pinning.py), so the client's cost is its own;
- ``defaults``: fs-connector and GHGA's client each at its own default part size and
  concurrency, what a user gets without configuring anything.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any

from bench.pinning import Placement
from bench.report import CLIENTS
from bench.tools import Transfer, ghga_bin

SAME, PINNED, DEFAULTS = "same", "pinned", "defaults"


@dataclass(frozen=True)
class Variant:
    key: str
    transfer: Transfer
    clients: tuple[str, ...]
    pinned: bool = False


def variants(
    part_size: int, concurrency: int, placement: Placement | None, defaults: bool
) -> list[Variant]:
    """``same`` first: its fs-connector uploads are the ones IRS and the download use."""
    same = Transfer(part_size, concurrency)
    chosen = [Variant(SAME, same, CLIENTS)]
    if placement is not None:
        pinned = Transfer(part_size, concurrency, placement.client_cores)
        chosen.append(Variant(PINNED, pinned, CLIENTS[:3], pinned=True))
    if defaults:
        chosen.append(Variant(DEFAULTS, Transfer(None, None), CLIENTS[:2]))
    return chosen


def fs_defaults() -> dict[str, int]:
    from connector.config import Settings

    s = Settings()
    return {"part_size": s.part_size, "concurrency": s.concurrency, "range_size": s.range_size}


def ghga_defaults() -> dict[str, Any]:
    """Read from GHGA's client itself (its own venv), with no GHGA_CONNECTOR_* set."""
    code = (
        "import json; from ghga_connector.config import Config; c = Config(); "
        "print(json.dumps({'part_size': c.part_size, "
        "'max_concurrent_uploads': c.max_concurrent_uploads, "
        "'max_concurrent_downloads': c.max_concurrent_downloads}))"
    )
    python = ghga_bin("python")
    done = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env={}, timeout=60, check=False
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def client_defaults() -> dict[str, Any]:
    return {"fs-connector": fs_defaults(), "ghga-connector": ghga_defaults()}
