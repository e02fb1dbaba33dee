"""The body of ``/values``: the well-known values under the names GHGA's connector reads."""

from __future__ import annotations

from typing import Any

from functions.wkvs.config import WkvsConfig


def values(cfg: WkvsConfig) -> dict[str, Any]:
    """Every well-known value; the log level is a setting, not a value."""
    return {
        "crypt4gh_public_keys": cfg.crypt4gh_public_keys,
        "wps_api_url": cfg.wps_api_url,
        "ucs_api_url": cfg.ucs_api_url,
        "dcs_api_url": cfg.dcs_api_url,
    }
