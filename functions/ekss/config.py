"""EKSS settings (``EKSS_*`` variables)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from functions.ekss.model import DEFAULT_SECRETS_PATH
from shared.settings import ResourceSettings


class EkssConfig(ResourceSettings):
    vault_url: str = Field(min_length=1)
    vault_token: SecretStr
    vault_mount: str = "secret"
    vault_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # each caller its own credential (sha256 hex of its bearer token) and its own routes
    irs_token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    dcs_token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    wot_public_key: str = Field(min_length=1)  # PEM of WPS's ES256 key: checks download WOTs
    storage_alias: str = Field(default="archive", pattern=r"^[A-Za-z0-9_.-]+$")
    archive_keys_path: str = "fs/ekss/archive-keys"
    # a mounted key file instead of the store (e.g. a secrets volume); the store is the default
    archive_private_key_file: str | None = None
    secrets_path: str = DEFAULT_SECRETS_PATH

    @model_validator(mode="after")
    def _resources(self) -> EkssConfig:
        # a file's deletion is confirmed on this topic (shared/resources.py: publishers);
        # the header of a file under interrogation is read from the inbox
        if self.irs_token_sha256 == self.dcs_token_sha256:
            raise ValueError("irs_token_sha256 and dcs_token_sha256 must differ")
        self.require_resources("EKSS", buckets=["inbox"], topics=["FileDeletionConfirmed"])
        return self
