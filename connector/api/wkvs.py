"""Well-known values: where WPS, UCS and DCS live, and the archive's public keys."""

from __future__ import annotations

from dataclasses import dataclass

from connector.api.common import check_status, json_body, unexpected
from connector.http import Http, require_secure
from shared.crypt.keys import KeyFormatError, decode_public_key

SERVICE = "The well-known values service (WKVS)"


@dataclass(frozen=True)
class WellKnownValues:
    crypt4gh_public_keys: dict[str, bytes]  # storage alias -> raw archive public key
    wps_api_url: str
    ucs_api_url: str
    dcs_api_url: str | None

    def archive_key(self, storage_alias: str) -> bytes:
        try:
            return self.crypt4gh_public_keys[storage_alias]
        except KeyError:
            raise unexpected(
                SERVICE, f"no public key is published for storage alias {storage_alias!r}"
            ) from None


async def fetch_values(http: Http, wkvs_url: str) -> WellKnownValues:
    """GET {wkvs}/values once per command (no token is sent); BadInput if a service it
    names is at a plain http:// address (other than this machine), before any token goes
    there."""
    response = await http.request("GET", f"{wkvs_url.rstrip('/')}/values", service=SERVICE)
    check_status(response, SERVICE, 200)
    body = json_body(response, SERVICE)
    if not isinstance(body, dict):
        raise unexpected(SERVICE, "not a JSON object")
    keys = body.get("crypt4gh_public_keys")
    if not isinstance(keys, dict) or not keys:
        raise unexpected(SERVICE, "no crypt4gh_public_keys")
    try:
        # a small-order key would let anyone open what the connector encrypts to it
        decoded = {str(alias): decode_public_key(str(key)) for alias, key in keys.items()}
    except KeyFormatError as error:
        raise unexpected(SERVICE, f"a published public key is not usable ({error})") from None
    urls = {}
    for name in ("wps_api_url", "ucs_api_url"):
        value = body.get(name)
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise unexpected(SERVICE, f"no valid {name}")
        require_secure(value, f"the {name} the well-known values service gives")
        urls[name] = value.rstrip("/")
    dcs = body.get("dcs_api_url")
    if isinstance(dcs, str):
        require_secure(dcs, "the dcs_api_url the well-known values service gives")
    return WellKnownValues(
        crypt4gh_public_keys=decoded,
        dcs_api_url=dcs.rstrip("/") if isinstance(dcs, str) else None,
        **urls,
    )
