"""The one wiring of IRS: config, logging, table, adapters and core, built once per process."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from functools import cache

from functions.irs.config import IrsConfig
from functions.irs.core import Interrogator
from functions.irs.deletion import Deletion
from functions.irs.store import DynamoInterrogationRepository, InterrogationRecord, PartRecord
from shared.adapters.dynamo import bind
from shared.adapters.ekss import EkssClient
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.adapters.sqs import SqsMessageSender
from shared.config import load_config
from shared.logs import configure_logging
from shared.resources import queue_for


@dataclass(frozen=True)
class Wiring:
    cfg: IrsConfig
    interrogator: Interrogator
    deletion: Deletion


@cache
def inject() -> Wiring:
    """Everything the handler uses, built at the first call."""
    cfg = load_config(IrsConfig, "IRS")
    configure_logging("irs", cfg.log_level)  # quiets httpx, httpcore and crypt4gh
    bind(InterrogationRecord, cfg.tables["interrogations"])
    bind(PartRecord, cfg.tables["interrogation_parts"])
    storage, publisher = S3Storage(), SnsPublisher(cfg.topics)
    repository, settings = DynamoInterrogationRepository(), cfg.settings()
    interrogator = Interrogator(
        storage=storage,
        keys=EkssClient(
            cfg.ekss_url,
            cfg.ekss_token.get_secret_value(),
            cfg.ekss_timeout_s,
            sign=cfg.ekss_sign,
        ),
        publisher=publisher,
        repository=repository,
        continuations=SqsMessageSender(queue_for("irs", "on_inbox_object")),
        settings=settings,
    )
    deletion = Deletion(
        storage=storage, publisher=publisher, repository=repository, settings=settings
    )
    # what was built here (botocore's service models above all) lives as long as the
    # process: out of the collector's sight, so that the full collections the per-part
    # requests trigger need not walk it again and again
    gc.freeze()
    return Wiring(cfg=cfg, interrogator=interrogator, deletion=deletion)
