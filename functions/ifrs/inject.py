"""The one wiring of IFRS: config, logging, tables, adapters and cores, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from functions.ifrs.config import IfrsConfig
from functions.ifrs.copier import Copier
from functions.ifrs.core import Registry
from functions.ifrs.deletion import FileDeletion
from functions.ifrs.staging import Stager
from functions.ifrs.store import (
    DynamoCopyRepository,
    DynamoFileRepository,
    FileRecord,
    OutboxCopyRecord,
)
from shared.adapters.dynamo import bind
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.adapters.sqs import SqsMessageSender
from shared.config import load_config
from shared.logs import configure_logging
from shared.resources import queue_for


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
    bind(OutboxCopyRecord, cfg.tables["copies"])
    storage, publisher = S3Storage(), SnsPublisher(cfg.topics)
    repository, copies = DynamoFileRepository(), DynamoCopyRepository()
    copier = Copier(storage=storage, settings=cfg.copy_settings())
    # the rest of a long copy goes back to IFRS's own queue, as the same event
    continuations = SqsMessageSender(queue_for("ifrs", "on_event"))
    registry = Registry(
        storage=storage,
        publisher=publisher,
        repository=repository,
        staging_bucket=cfg.buckets["staging"],
        permanent_bucket=cfg.buckets["permanent"],
        copier=copier,
        continuations=continuations,
    )
    stager = Stager(
        storage=storage,
        publisher=publisher,
        repository=repository,
        copies=copies,
        outbox_bucket=cfg.buckets["outbox"],
        copier=copier,
        continuations=continuations,
    )
    deletion = FileDeletion(
        storage=storage,
        publisher=publisher,
        repository=repository,
        copies=copies,
        staging_bucket=cfg.buckets["staging"],
        permanent_bucket=cfg.buckets["permanent"],
        outbox_bucket=cfg.buckets["outbox"],
    )
    return Wiring(cfg=cfg, registry=registry, stager=stager, deletion=deletion)
