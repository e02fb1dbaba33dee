"""EKSS settings (``EKSS_*`` variables) and the wiring of its core to Vault."""

from __future__ import annotations

import logging
from functools import cache

from pydantic import BaseModel, Field, SecretStr

from functions.ekss.archive_keys import ArchiveKeySource, FileArchiveKey, StoredArchiveKey
from functions.ekss.core import DEFAULT_SECRETS_PATH, KeyStore
from shared.adapters.vault import VaultSecretStore
from shared.config import load_config
from shared.logs import configure_logging


class EkssConfig(BaseModel):
    vault_url: str = Field(min_length=1)
    vault_token: SecretStr
    vault_mount: str = "secret"
    vault_timeout_s: float = Field(default=5.0, gt=0, le=60)
    service_token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    storage_alias: str = Field(default="archive", pattern=r"^[A-Za-z0-9_.-]+$")
    archive_keys_path: str = "fs/ekss/archive-keys"
    # a mounted key file instead of the store (e.g. a secrets volume); the store is the default
    archive_private_key_file: str | None = None
    secrets_path: str = DEFAULT_SECRETS_PATH
    log_level: str = "INFO"


@cache
def wiring() -> tuple[EkssConfig, KeyStore]:
    """Config and core, built once per process at the first request."""
    cfg = load_config(EkssConfig, "EKSS")
    configure_logging("ekss", cfg.log_level)
    # crypt4gh logs key material at DEBUG; nothing of it may reach our logs
    logging.getLogger("crypt4gh").setLevel(logging.WARNING)
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
    return cfg, KeyStore(store, archive_key, secrets_path=cfg.secrets_path)
