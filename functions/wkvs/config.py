"""WKVS settings (``WKVS_*`` variables): the well-known values themselves."""

from __future__ import annotations

from pydantic import BaseModel, field_validator

from shared.crypt.keys import decode_public_key


class WkvsConfig(BaseModel):
    crypt4gh_public_keys: dict[str, str]
    wps_api_url: str
    ucs_api_url: str
    dcs_api_url: str
    log_level: str = "INFO"

    @field_validator("crypt4gh_public_keys")
    @classmethod
    def _keys_are_keys(cls, keys: dict[str, str]) -> dict[str, str]:
        if not keys:
            raise ValueError("at least one storage alias with its public key is needed")
        for key in keys.values():
            decode_public_key(key)
        return keys
