"""EKSS settings (``EKSS_*`` variables)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from functions.ekss.model import DEFAULT_SECRETS_PATH


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
