"""IFRS settings (``IFRS_*`` variables) and the wiring of its core to AWS."""

from __future__ import annotations

from functools import cache

from functions.ifrs.core import Registry
from functions.ifrs.records import FileRecord
from functions.ifrs.repository import DynamoFileRepository
from shared.adapters.dynamo import bind
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.config import load_config
from shared.logs import configure_logging
from shared.settings import ResourceSettings


class IfrsConfig(ResourceSettings):
    pass


@cache
def wiring() -> tuple[IfrsConfig, Registry]:
    cfg = load_config(IfrsConfig, "IFRS")
    configure_logging("ifrs", cfg.log_level)
    bind(FileRecord, cfg.tables["files"])
    registry = Registry(
        storage=S3Storage(),
        publisher=SnsPublisher(cfg.topics),
        repository=DynamoFileRepository(),
        staging_bucket=cfg.buckets["staging"],
        permanent_bucket=cfg.buckets["permanent"],
    )
    return cfg, registry
