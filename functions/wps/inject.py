"""The one wiring of WPS: config, logging, the table, the publisher and the core, built once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from functions.wps.config import WpsConfig
from functions.wps.core import WorkPackageService
from functions.wps.store import DynamoWorkPackageRepository, WorkPackageRecord
from shared.adapters.dynamo import bind
from shared.adapters.sns import SnsPublisher
from shared.config import load_config
from shared.logs import configure_logging
from shared.tokens import TokenSigner


@dataclass(frozen=True)
class Wiring:
    cfg: WpsConfig
    packages: WorkPackageService


@cache
def inject() -> Wiring:
    """Config and core, built at the first request."""
    cfg = load_config(WpsConfig, "WPS")
    configure_logging("wps", cfg.log_level)
    bind(WorkPackageRecord, cfg.tables["work_packages"])
    signer = TokenSigner(cfg.signing_key.get_secret_value(), cfg.wot_lifetime_s)
    packages = WorkPackageService(
        DynamoWorkPackageRepository(), signer, SnsPublisher(cfg.topics), cfg.package_lifetime()
    )
    return Wiring(cfg, packages)
