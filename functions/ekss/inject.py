"""The one wiring of EKSS: config, logging, Vault, the publisher and the core, built once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from functions.ekss.archive_keys import FileArchiveKey, StoredArchiveKey
from functions.ekss.config import EkssConfig
from functions.ekss.core import SecretKeeper
from functions.ekss.deletion import FileDeletion
from functions.ekss.model import ArchiveKeySource
from functions.ekss.orders import EnvelopeOrders
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.adapters.vault import VaultSecretStore
from shared.config import load_config
from shared.logs import configure_logging
from shared.tokens import TokenVerifier


@dataclass(frozen=True)
class Wiring:
    cfg: EkssConfig
    keeper: SecretKeeper
    orders: EnvelopeOrders
    deletion: FileDeletion


@cache
def inject() -> Wiring:
    """Config and core, built at the first request or event."""
    cfg = load_config(EkssConfig, "EKSS")
    configure_logging("ekss", cfg.log_level)
    store = VaultSecretStore(
        cfg.vault_url,
        cfg.vault_token.get_secret_value(),
        mount=cfg.vault_mount,
        timeout_s=cfg.vault_timeout_s,
    )
    archive_key: ArchiveKeySource
    if cfg.archive_private_key_file:
        archive_key = FileArchiveKey(cfg.archive_private_key_file)
    else:
        archive_key = StoredArchiveKey(store, cfg.archive_keys_path, cfg.storage_alias)
    keeper = SecretKeeper(
        store, archive_key, S3Storage(), cfg.buckets["inbox"], secrets_path=cfg.secrets_path
    )
    orders = EnvelopeOrders(TokenVerifier(cfg.wot_public_key))
    return Wiring(cfg, keeper, orders, FileDeletion(keeper, SnsPublisher(cfg.topics)))
