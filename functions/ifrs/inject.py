"""The one wiring of IFRS: config, logging, table, adapters and cores, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from functions.ifrs.config import IfrsConfig
from functions.ifrs.core import Registry
from functions.ifrs.deletion import FileDeletion
from functions.ifrs.staging import Stager
from functions.ifrs.store import DynamoFileRepository, FileRecord
from shared.adapters.dynamo import bind
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.config import load_config
from shared.logs import configure_logging


@dataclass(frozen=True)
class Wiring:
    cfg: IfrsConfig
    registry: Registry
    stager: Stager
    deletion: FileDeletion


@cache
def inject() -> Wiring:
    """Everything the handler uses, built at the first call."""
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
    deletion = FileDeletion(
        storage=storage,
        publisher=publisher,
        repository=repository,
        staging_bucket=cfg.buckets["staging"],
        permanent_bucket=cfg.buckets["permanent"],
        outbox_bucket=cfg.buckets["outbox"],
    )
    return Wiring(cfg=cfg, registry=registry, stager=stager, deletion=deletion)
