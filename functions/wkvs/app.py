"""WKVS: where the other APIs live and the archive's public keys per storage alias."""

from __future__ import annotations

from functions.wkvs import wire
from functions.wkvs.inject import inject
from shared.errors import NotFound
from shared.http import ServiceApp

service = ServiceApp("wkvs")
app = service.chalice


@service.route("/values", methods=["GET"])
def values() -> dict:
    """All well-known values at once, as GHGA's connector reads them."""
    return wire.values(inject().cfg)


@service.route("/values/{name}", methods=["GET"])
def value(name: str) -> dict:
    """One well-known value, under its own name."""
    all_values = wire.values(inject().cfg)
    if name not in all_values:
        raise NotFound(f"There is no well-known value {name!r}.", exception_id="valueNotFound")
    return {name: all_values[name]}
