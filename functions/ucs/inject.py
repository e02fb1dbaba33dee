"""The one wiring of UCS: config, logging, tables, adapters and cores, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from functions.ucs.auth import Authorizer
from functions.ucs.boxes import BoxAdmin
from functions.ucs.cleanup import AbandonedUploadCleaner
from functions.ucs.config import UcsConfig
from functions.ucs.core import UploadController
from functions.ucs.deletion import DeletionCoordinator
from functions.ucs.outcomes import OutcomeRecorder
from functions.ucs.store import BoxRecord, DynamoUcsRepository, UploadAliasRecord, UploadRecord
from shared.adapters.dynamo import bind
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.clock import utcnow
from shared.config import load_config
from shared.logs import configure_logging
from shared.tokens import TokenVerifier


@dataclass(frozen=True)
class Wiring:
    cfg: UcsConfig
    auth: Authorizer
    uploads: UploadController
    boxes: BoxAdmin
    cleaner: AbandonedUploadCleaner
    outcomes: OutcomeRecorder
    deletions: DeletionCoordinator


@cache
def inject() -> Wiring:
    """Everything the routes and handlers use, built at the first call."""
    cfg = load_config(UcsConfig, "UCS")
    configure_logging("ucs", cfg.log_level)
    bind(BoxRecord, cfg.tables["boxes"])
    bind(UploadRecord, cfg.tables["uploads"])
    bind(UploadAliasRecord, cfg.tables["uploads"])
    repository = DynamoUcsRepository(serialize_writes=cfg.serialize_writes)
    policy = cfg.policy()
    storage = S3Storage()
    publisher = SnsPublisher(cfg.topics)
    uploads = UploadController(repository, storage, publisher, policy)
    return Wiring(
        cfg=cfg,
        auth=Authorizer(TokenVerifier(cfg.wot_public_key), cfg.operator_token_sha256),
        uploads=uploads,
        boxes=BoxAdmin(repository, cfg.default_box_max_size),
        cleaner=AbandonedUploadCleaner(
            uploads,
            repository,
            storage,
            policy.inbox_bucket,
            announce_grace=cfg.announce_grace(),
        ),
        outcomes=OutcomeRecorder(repository, storage, policy.inbox_bucket, utcnow),
        deletions=DeletionCoordinator(repository, uploads, publisher, utcnow),
    )
