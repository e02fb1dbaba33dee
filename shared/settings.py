"""Settings every service shares: the resource part of its environment, and logging."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel


class ResourceSettings(BaseModel):
    """Names derived from shared/resources.py: ``<SVC>_BUCKETS``, ``_TOPICS``, ``_TABLES``."""

    buckets: dict[str, str] = {}
    topics: dict[str, str] = {}
    tables: dict[str, str] = {}
    log_level: str = "INFO"

    def require_resources(
        self,
        service: str,
        *,
        buckets: Iterable[str] = (),
        tables: Iterable[str] = (),
        topics: Iterable[str] = (),
    ) -> None:
        """ValueError naming every resource the service needs that its environment lacks
        (for a model validator: a wrong deployment fails at start-up, not at first use)."""
        missing = [
            f"{kind}.{name}"
            for kind, names, declared in (
                ("buckets", buckets, self.buckets),
                ("tables", tables, self.tables),
                ("topics", topics, self.topics),
            )
            for name in names
            if name not in declared
        ]
        if missing:
            raise ValueError(f"resources not declared for {service}: " + ", ".join(missing))
