"""IFRS settings (``IFRS_*`` variables) and the wiring of its core to AWS."""

from __future__ import annotations

from functools import cache

from functions.ifrs.core import Registry
from functions.ifrs.records import FileRecord
from functions.ifrs.repository import DynamoFileRepository
from functions.ifrs.staging import Stager
from shared.adapters.dynamo import bind
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.config import load_config
from shared.logs import configure_logging
from shared.settings import ResourceSettings


class IfrsConfig(ResourceSettings):
    pass


@cache
def wiring() -> tuple[IfrsConfig, Registry, Stager]:
    cfg = load_config(IfrsConfig, "IFRS")
    configure_logging("ifrs", cfg.log_level)
    bind(FileRecord, cfg.tables["files"])
    storage, publisher, repository = S3Storage(), SnsPublisher(cfg.topics), DynamoFileRepository()
    registry = Registry(
        storage=storage,
        publisher=publisher,
        repository=repository,
        staging_bucket=cfg.buckets["staging"],
        permanent_bucket=cfg.buckets["permanent"],
    )
    stager = Stager(
        storage=storage,
        publisher=publisher,
        repository=repository,
        outbox_bucket=cfg.buckets["outbox"],
    )
    return cfg, registry, stager
