"""The one wiring of DCS: config, logging, table, adapters and core, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from functions.dcs.auth import DownloadAuthorizer
from functions.dcs.config import DcsConfig
from functions.dcs.core import DownloadController
from functions.dcs.deletion import DeletionHandler
from functions.dcs.store import (
    AuditRecord,
    DrsObjectRecord,
    DynamoDrsRepository,
    EnvelopeRecord,
)
from shared.adapters.dynamo import bind
from shared.adapters.ekss import EkssClient
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.config import load_config
from shared.logs import configure_logging
from shared.tokens import TokenVerifier


@dataclass(frozen=True)
class Wiring:
    cfg: DcsConfig
    auth: DownloadAuthorizer
    downloads: DownloadController
    deletion: DeletionHandler


@cache
def inject() -> Wiring:
    """Everything the routes and handlers use, built at the first call."""
    cfg = load_config(DcsConfig, "DCS")
    configure_logging("dcs", cfg.log_level)
    bind(DrsObjectRecord, cfg.tables["drs_objects"])
    bind(EnvelopeRecord, cfg.tables["drs_objects"])
    bind(AuditRecord, cfg.tables["drs_objects"])
    repository, storage, publisher = DynamoDrsRepository(), S3Storage(), SnsPublisher(cfg.topics)
    policy = cfg.policy()
    downloads = DownloadController(
        repository=repository,
        storage=storage,
        publisher=publisher,
        keys=EkssClient(
            cfg.ekss_url,
            cfg.ekss_token.get_secret_value(),
            cfg.ekss_timeout_s,
            sign=cfg.ekss_sign,
        ),
        policy=policy,
    )
    deletion = DeletionHandler(
        repository=repository,
        storage=storage,
        publisher=publisher,
        outbox_bucket=policy.outbox_bucket,
    )
    return Wiring(
        cfg=cfg,
        auth=DownloadAuthorizer(TokenVerifier(cfg.wot_public_key)),
        downloads=downloads,
        deletion=deletion,
    )
