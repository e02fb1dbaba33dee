"""The one wiring of DCS: config, logging, table, adapters and core, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from functions.dcs.auth import DownloadAuthorizer
from functions.dcs.config import DcsConfig
from functions.dcs.core import DownloadController
from functions.dcs.store import DrsObjectRecord, DynamoDrsRepository, EnvelopeRecord
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


@cache
def inject() -> Wiring:
    """Everything the routes and handlers use, built at the first call."""
    cfg = load_config(DcsConfig, "DCS")
    configure_logging("dcs", cfg.log_level)
    bind(DrsObjectRecord, cfg.tables["drs_objects"])
    bind(EnvelopeRecord, cfg.tables["drs_objects"])
    downloads = DownloadController(
        repository=DynamoDrsRepository(),
        storage=S3Storage(),
        publisher=SnsPublisher(cfg.topics),
        keys=EkssClient(cfg.ekss_url, cfg.ekss_token.get_secret_value(), cfg.ekss_timeout_s),
        policy=cfg.policy(),
    )
    return Wiring(
        cfg=cfg, auth=DownloadAuthorizer(TokenVerifier(cfg.wot_public_key)), downloads=downloads
    )
