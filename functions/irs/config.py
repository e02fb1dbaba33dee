"""IRS settings (``IRS_*`` variables) and the wiring of its core to AWS and EKSS."""

from __future__ import annotations

import logging
from functools import cache

from pydantic import Field, SecretStr

from functions.irs.core import Interrogator, Settings
from functions.irs.records import InterrogationRecord
from functions.irs.reencrypt import DEFAULT_MAX_PART_SIZE, MIN_PART_SIZE
from functions.irs.repository import DynamoInterrogationRepository
from shared.adapters.dynamo import bind
from shared.adapters.ekss import EkssClient
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.adapters.sqs import SqsMessageSender
from shared.config import load_config
from shared.logs import configure_logging
from shared.resources import queue_for
from shared.settings import ResourceSettings


class IrsConfig(ResourceSettings):
    ekss_url: str = Field(min_length=1)
    ekss_token: SecretStr
    ekss_timeout_s: float = Field(default=30.0, gt=0, le=300)
    # when to hand the rest of a file to a next invocation: after this much work, after
    # this many parts (0: no limit; tests force continuations with it), or when fewer than
    # safety_margin_s seconds of the Lambda's own time are left
    invocation_budget_s: float = Field(default=780.0, ge=0)
    max_parts_per_invocation: int = Field(default=0, ge=0)
    safety_margin_s: float = Field(default=120.0, ge=0)
    max_staging_part_size: int = Field(default=DEFAULT_MAX_PART_SIZE, ge=MIN_PART_SIZE)


@cache
def wiring() -> tuple[IrsConfig, Interrogator]:
    cfg = load_config(IrsConfig, "IRS")
    configure_logging("irs", cfg.log_level)
    for noisy in ("httpx", "httpcore", "crypt4gh"):  # request lines and key material
        logging.getLogger(noisy).setLevel(logging.WARNING)
    bind(InterrogationRecord, cfg.tables["interrogations"])
    settings = Settings(
        inbox_bucket=cfg.buckets["inbox"],
        staging_bucket=cfg.buckets["staging"],
        max_staging_part_size=cfg.max_staging_part_size,
        invocation_budget_s=cfg.invocation_budget_s,
        max_parts_per_invocation=cfg.max_parts_per_invocation,
        safety_margin_s=cfg.safety_margin_s,
    )
    interrogator = Interrogator(
        storage=S3Storage(),
        keys=EkssClient(cfg.ekss_url, cfg.ekss_token.get_secret_value(), cfg.ekss_timeout_s),
        publisher=SnsPublisher(cfg.topics),
        repository=DynamoInterrogationRepository(),
        continuations=SqsMessageSender(queue_for("irs", "on_inbox_object")),
        settings=settings,
    )
    return cfg, interrogator
