"""Settings every service shares: the resource part of its environment, and logging."""

from __future__ import annotations

from pydantic import BaseModel


class ResourceSettings(BaseModel):
    """Names derived from infra/resources.py: ``<SVC>_BUCKETS``, ``_TOPICS``, ``_TABLES``."""

    buckets: dict[str, str] = {}
    topics: dict[str, str] = {}
    tables: dict[str, str] = {}
    log_level: str = "INFO"
