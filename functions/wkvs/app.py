"""WKVS: where the other APIs live and the archive's public keys per storage alias."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, field_validator

from shared.config import load_config
from shared.crypt.keys import decode_key
from shared.errors import NotFound
from shared.http import ServiceApp
from shared.logs import configure_logging


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
            decode_key(key)
        return keys


@cache
def config() -> WkvsConfig:
    loaded = load_config(WkvsConfig, "WKVS")
    configure_logging("wkvs", loaded.log_level)
    return loaded


service = ServiceApp("wkvs")
app = service.chalice


@service.route("/values", methods=["GET"])
def values() -> dict:
    """All well-known values at once, as GHGA's connector reads them."""
    cfg = config()
    return {
        "crypt4gh_public_keys": cfg.crypt4gh_public_keys,
        "wps_api_url": cfg.wps_api_url,
        "ucs_api_url": cfg.ucs_api_url,
        "dcs_api_url": cfg.dcs_api_url,
    }


@service.route("/values/{name}", methods=["GET"])
def value(name: str) -> dict:
    """One well-known value, under its own name."""
    all_values = values()
    if name not in all_values:
        raise NotFound(f"There is no well-known value {name!r}.", exception_id="valueNotFound")
    return {name: all_values[name]}
