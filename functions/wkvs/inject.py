"""The one wiring of WKVS: config and logging, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from functions.wkvs.config import WkvsConfig
from shared.config import load_config
from shared.logs import configure_logging


@dataclass(frozen=True)
class Wiring:
    cfg: WkvsConfig


@cache
def inject() -> Wiring:
    """The settings the routes answer with, loaded at the first call."""
    cfg = load_config(WkvsConfig, "WKVS")
    configure_logging("wkvs", cfg.log_level)
    return Wiring(cfg=cfg)
